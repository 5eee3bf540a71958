#!/usr/bin/env bash
# Give coturn (user turnserver, who cannot read Caddy's storage) a copy of the certificate
# Caddy obtained for the TURN name, and restart coturn when it changed. start-turn.sh runs it
# at boot; a timer runs it after that, so coturn follows Caddy's renewals.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

[ "${TURN_ENABLED:-0}" = 1 ] || exit 0
# The newest of Caddy's certificates for the name (there is one directory per ACME issuer).
crt=$(find "$CADDY_CERTIFICATES" -path "*/$TURN_HOST/$TURN_HOST.crt" -printf '%T@ %p\n' 2>/dev/null \
  | sort -nr | head -n 1 | cut -d' ' -f2- || true)
if [ -z "$crt" ]; then
  log "Caddy has no certificate for $TURN_HOST yet; TURN over TLS waits for it"
  exit 0
fi
key="${crt%.crt}.key"
if cmp -s "$crt" "$TURN_CERTIFICATE" && cmp -s "$key" "$TURN_KEY"; then
  exit 0
fi
install -d -m 0750 -o root -g turnserver "$(dirname "$TURN_CERTIFICATE")"
install -m 0640 -o root -g turnserver "$key" "$TURN_KEY"
install -m 0644 -o root -g root "$crt" "$TURN_CERTIFICATE"
log "coturn's certificate for $TURN_HOST updated from Caddy's"
# coturn reads its certificate at start (its reload has been unreliable): restart it.
if systemctl is-active --quiet "$TURN_SERVICE.service"; then
  systemctl restart "$TURN_SERVICE.service"
fi
