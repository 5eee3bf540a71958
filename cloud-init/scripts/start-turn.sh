#!/usr/bin/env bash
# Start coturn when TURN is on (stop it when a config change turned it off). It listens and
# relays on the droplet's own IPv4, which is only known here, at boot: DigitalOcean routes the
# reserved IP through an anchor address that replies would not leave from.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
here=$(dirname "$0")

if [ "${TURN_ENABLED:-0}" != 1 ]; then
  # The package stays installed (unused) after TURN is turned off.
  if [ -n "$(systemctl list-unit-files --no-legend "$TURN_SERVICE.service" 2>/dev/null)" ]; then
    systemctl disable --now "$TURN_SERVICE.service" "$TURN_CERTIFICATE_SERVICE.timer" >/dev/null 2>&1 || true
    rm -f "$MATRIX_STATE_DIR/coturn.sum"
    log "TURN is off: coturn stopped"
  fi
  exit 0
fi

address=$(droplet_ipv4)
printf 'TURN_IP=%s\n' "$address" >"$TURN_ADDRESS_ENV"
chgrp turnserver "$TURN_CONFIG"
systemctl daemon-reload

# Caddy asks for the TURN name's certificate as it starts. TURN over UDP and TCP works without
# it, so after a while coturn starts anyway and the timer brings TLS once the certificate exists.
deadline=$((SECONDS + 180))
until "$here/turn-certificate.sh" && [ -s "$TURN_CERTIFICATE" ]; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    log "no certificate for $TURN_HOST after 180 s: coturn starts without TLS, $TURN_CERTIFICATE_SERVICE.timer adds it"
    break
  fi
  sleep 3
done

systemctl enable --now "$TURN_CERTIFICATE_SERVICE.timer" >/dev/null 2>&1
systemctl enable "$TURN_SERVICE.service" >/dev/null 2>&1
# Forget failed starts from before the address existed, so the start limit does not apply.
systemctl reset-failed "$TURN_SERVICE.service" 2>/dev/null || true
action=start
if changed coturn "$TURN_CONFIG" "$TURN_ADDRESS_ENV" "$TURN_DROP_IN"; then
  action=restart
fi
if ! systemctl "$action" "$TURN_SERVICE.service"; then
  rm -f "$MATRIX_STATE_DIR/coturn.sum" # so the next run restarts it again
  journalctl --unit "$TURN_SERVICE.service" --lines 30 --no-pager >&2 || true
  die "coturn did not start (its log is above)"
fi
log "TURN on $TURN_HOST ($address): UDP/TCP $TURN_PORT, TLS $TURN_TLS_PORT"
