#!/usr/bin/env bash
# MatrixRTC (calls): download LiveKit and the authorization service, each checked against its
# pinned SHA-256, and start both; stop and remove them when a config change turned calls off. Each
# download is kept under its checksum, so an unchanged pin downloads nothing again.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

units=("$LIVEKIT_SERVICE.service" "$RTC_AUTH_SERVICE.service")
if [ "${RTC_ENABLED:-0}" != 1 ]; then
  if [ -n "$(systemctl list-unit-files --no-legend "${units[@]}" 2>/dev/null)" ]; then
    systemctl disable --now "${units[@]}" >/dev/null 2>&1 || true
    # Nothing of it stays: units, config, secrets, downloads (their directory stays, empty: the
    # retries' sandbox names it).
    rm -rf "${LIVEKIT_UNIT:?}" "${RTC_AUTH_UNIT:?}" "${LIVEKIT_CONFIG:?}" "$(dirname "${LIVEKIT_SECRET_FILE:?}")" \
      "${RTC_ADDRESS_ENV:?}" "$MATRIX_STATE_DIR/rtc.sum"
    find "${RTC_BIN_DIR:?}" -mindepth 1 -delete
    systemctl daemon-reload
    log "MatrixRTC is off: LiveKit and the authorization service stopped and removed"
  fi
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# verified URL SHA256 FILE: download URL to FILE and check its checksum.
verified() {
  download "$3" "$1"
  printf '%s  %s\n' "$2" "$3" | sha256sum --check --quiet --strict >/dev/null 2>&1 \
    || die "$1 does not have the pinned SHA-256 $2 (got $(sha256sum "$3" | cut -d' ' -f1))"
}

livekit="$RTC_BIN_DIR/livekit-server.$LIVEKIT_SHA256"
if [ ! -x "$livekit" ]; then
  log "downloading LiveKit from $LIVEKIT_DOWNLOAD_URL"
  verified "$LIVEKIT_DOWNLOAD_URL" "$LIVEKIT_SHA256" "$work/livekit.tar.gz"
  tar -xzf "$work/livekit.tar.gz" -C "$work" --no-same-owner livekit-server \
    || die "LiveKit's tarball has no livekit-server"
  install -m 0755 "$work/livekit-server" "$livekit.partial"
  mv "$livekit.partial" "$livekit"
fi
auth="$RTC_BIN_DIR/lk-jwt-service.$RTC_AUTH_SHA256"
if [ ! -x "$auth" ]; then
  log "downloading the MatrixRTC authorization service from $RTC_AUTH_DOWNLOAD_URL"
  verified "$RTC_AUTH_DOWNLOAD_URL" "$RTC_AUTH_SHA256" "$work/lk-jwt-service"
  install -m 0755 "$work/lk-jwt-service" "$auth.partial"
  mv "$auth.partial" "$auth"
fi
ln -sfn "$livekit" "$RTC_BIN_DIR/livekit-server"
ln -sfn "$auth" "$RTC_BIN_DIR/lk-jwt-service"
# Older downloads go.
find "$RTC_BIN_DIR" -maxdepth 1 -type f ! -path "$livekit" ! -path "$auth" -delete

printf 'NODE_IP=%s\n' "$(droplet_ipv4)" >"$RTC_ADDRESS_ENV"
systemctl daemon-reload
systemctl enable "${units[@]}" >/dev/null 2>&1
action=start
if changed rtc "$RTC_ADDRESS_ENV" "$livekit" "$auth" "$LIVEKIT_CONFIG" "$LIVEKIT_KEYS" "$LIVEKIT_SECRET_FILE" "$LIVEKIT_UNIT" "$RTC_AUTH_UNIT"; then
  action=restart
fi
if ! systemctl "$action" "${units[@]}"; then
  rm -f "$MATRIX_STATE_DIR/rtc.sum" # so the next run restarts them again
  journalctl --unit "${units[0]}" --unit "${units[1]}" --lines 30 --no-pager >&2 || true
  die "LiveKit or the authorization service did not start (their log is above)"
fi
log "MatrixRTC on $RTC_HOST: LiveKit (media on $(cut -d= -f2 "$RTC_ADDRESS_ENV")) and the authorization service"
