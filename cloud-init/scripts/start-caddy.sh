#!/usr/bin/env bash
# Check the rendered Caddyfile and (re)start Caddy with it. Caddy obtains and renews the
# certificates itself, keeping them on the volume so a new droplet reuses them.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

caddy validate --adapter caddyfile --config "$CADDYFILE" >/dev/null 2>&1 \
  || die "the rendered Caddyfile does not validate: caddy validate --adapter caddyfile --config $CADDYFILE"
systemctl daemon-reload
systemctl enable "$CADDY_SERVICE.service" >/dev/null 2>&1
first_run=true
[ ! -f "$MATRIX_STATE_DIR/caddy.sum" ] || first_run=false
if changed caddy "$CADDYFILE"; then
  # A reload swaps the config without dropping a connection; the first run needs a restart
  # (the package started Caddy with its own config, before our drop-in).
  if ! $first_run && systemctl is-active --quiet "$CADDY_SERVICE.service"; then
    systemctl reload "$CADDY_SERVICE.service"
  else
    systemctl restart "$CADDY_SERVICE.service"
  fi
else
  systemctl start "$CADDY_SERVICE.service"
fi
log "Caddy serving $MATRIX_HOST, $ELEMENT_HOST and $SERVER_NAME"
