#!/usr/bin/env bash
# Check the rendered Caddyfile and (re)start Caddy with it. Caddy obtains and renews the
# certificates itself, keeping them on the volume so a new droplet reuses them.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

caddy validate --adapter caddyfile --config "$CADDYFILE" >/dev/null 2>&1 \
  || die "the rendered Caddyfile does not validate: caddy validate --adapter caddyfile --config $CADDYFILE"
systemctl daemon-reload
systemctl enable caddy.service >/dev/null 2>&1
if changed caddy "$CADDYFILE"; then
  systemctl restart caddy.service
else
  systemctl start caddy.service
fi
log "Caddy serving $MATRIX_HOST, $ELEMENT_HOST and $SERVER_NAME"
