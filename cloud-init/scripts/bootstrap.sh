#!/usr/bin/env bash
# Turns a fresh Debian 13 droplet into the homeserver; cloud-init runs it once per droplet.
# Every step is idempotent, so running it again (by hand, or after a config change) only
# applies what differs.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
here=$(dirname "$0")

log "bootstrap started"
# Before anything else runs: only root (and DigitalOcean's monitoring agent) may reach the
# droplet metadata service, which holds the user data. Loaded again, in case its rules changed.
systemctl daemon-reload
systemctl enable "$METADATA_GUARD_SERVICE.service" >/dev/null 2>&1
systemctl restart "$METADATA_GUARD_SERVICE.service"
# shellcheck disable=SC2086 # a list of paths without spaces
rm -f -- $RETIRED_FILES
# Synapse's account first, so the volume's files can be handed to it.
id -u synapse >/dev/null 2>&1 \
  || adduser --system --group --home "$SYNAPSE_DATA" --no-create-home --quiet synapse
update-ca-certificates >/dev/null

"$here/mount-volume.sh"
# Through its unit the first time, so systemd turns the swap off at shutdown.
systemctl enable "$SWAP_SERVICE.service" >/dev/null 2>&1
if systemctl is-active --quiet "$SWAP_SERVICE.service"; then "$here/setup-swap.sh"; else systemctl start "$SWAP_SERVICE.service"; fi
"$here/setup-postgres.sh"
"$here/install-synapse.sh"
"$here/start-caddy.sh"
"$here/create-admin.sh"
# The homeserver answers first. Element's download (from another host) and TURN come after,
# and either may fail without stopping the rest: it is retried until it succeeds, by a
# sandboxed service that may write only in directories that exist.
mkdir -p "$ELEMENT_RELEASES" "$RTC_BIN_DIR"
optional install-element.sh
optional start-turn.sh
optional install-rtc.sh

systemctl daemon-reload
systemctl enable --now "$BACKUP_SERVICE.timer" >/dev/null 2>&1
date -u +%FT%TZ >"$BOOTSTRAP_DONE_FILE"
log "bootstrap finished: https://$ELEMENT_HOST (admin @$ADMIN_USER:$SERVER_NAME)"
