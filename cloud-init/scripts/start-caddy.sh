#!/usr/bin/env bash
# Check the rendered Caddyfile and (re)start Caddy with it. Caddy obtains and renews the
# certificates itself, keeping them on the volume so a new droplet reuses them.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# validate FILE: stop here, saying how to see why, if Caddy would refuse the rendered FILE.
validate() {
  caddy validate --adapter caddyfile --config "$1" >/dev/null 2>&1 \
    || die "the rendered $1 does not validate: caddy validate --adapter caddyfile --config $1"
}

validate "$CADDYFILE"
systemctl daemon-reload
systemctl enable "$CADDY_SERVICE.service" >/dev/null 2>&1
first_run=true
[ ! -f "$MATRIX_STATE_DIR/caddy.sum" ] || first_run=false

# An account at this ACME CA in Caddy's storage (the registration names the CA's account URL).
acme_account_stored() {
  grep -rqsF --include='*.json' "\"location\": \"$ACME_ORIGIN/" "$CADDY_ACME_ACCOUNTS"
}

# Without an account at the CA, Caddy starts on the matrix host alone, so it registers exactly
# one (caddy.ts says why), then takes the whole Caddyfile below by a reload.
if [ -n "$ACME_ORIGIN" ] && ! acme_account_stored; then
  validate "$CADDYFILE_FIRST_START"
  install -D -m 0644 "$CADDY_FIRST_START_DROP_IN" "$CADDY_FIRST_START_RUNTIME_DROP_IN"
  systemctl daemon-reload
  systemctl restart "$CADDY_SERVICE.service"
  deadline=$((SECONDS + 60))
  until acme_account_stored; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "Caddy registered no ACME account at $ACME_ORIGIN within 60 s; it goes on with every site"
      break
    fi
    sleep 1
  done
  rm -f "$CADDY_FIRST_START_RUNTIME_DROP_IN"
  systemctl daemon-reload
  if acme_account_stored; then log "Caddy's ACME account at $ACME_ORIGIN registered"; fi
  first_run=false # Caddy runs with our drop-in now: a reload brings the whole Caddyfile
  rm -f "$MATRIX_STATE_DIR/caddy.sum"
fi
if changed caddy "$CADDYFILE"; then
  # A reload swaps the config without dropping a connection; the first run starts Caddy
  # (installing the package did not: its storage was not on the volume yet).
  if ! $first_run && systemctl is-active --quiet "$CADDY_SERVICE.service"; then
    systemctl reload "$CADDY_SERVICE.service"
  else
    systemctl restart "$CADDY_SERVICE.service"
  fi
else
  systemctl start "$CADDY_SERVICE.service"
fi
log "Caddy serving $MATRIX_HOST, $ELEMENT_HOST and $SERVER_NAME"
