#!/usr/bin/env bash
# List the snapshots in a backup repository.
#   list-backups.sh local|offsite
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=backup-lib.sh
. "$(dirname "$0")/backup-lib.sh"

repo=$(repository_for "${1:-local}")
if [ "$repo" = "$BACKUP_REPOSITORY" ] && [ ! -f "$repo/config" ]; then
  log "no backups yet in $(repository_label "$repo")"
  exit 0
fi
with_repository "$repo" restic snapshots --host "$SERVER_NAME" --tag matrix-do
