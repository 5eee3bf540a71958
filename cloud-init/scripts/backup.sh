#!/usr/bin/env bash
# Back up the homeserver: a pg_dump of Synapse's database (without the one-time keys, as
# Synapse's backup guide says), the media store and the signing key, into an encrypted restic
# repository on the volume, then prune to the retention; and, when configured, the same into
# the off-site bucket. Run nightly by BACKUP_SERVICE's timer, or by `matrixctl backup`.
#   backup.sh [KIND]   backup (default) or pre-restore; `restore latest` picks kind backup
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=backup-lib.sh
. "$(dirname "$0")/backup-lib.sh"

take_backup_lock
started=$SECONDS
stage="$BACKUP_STAGING"
rm -rf "$stage"
install -d -m 0700 "$stage"
trap 'rm -rf "$stage"' EXIT

log "dumping database $SYNAPSE_DATABASE"
runuser -u postgres -- pg_dump --format=custom --exclude-table-data=e2e_one_time_keys_json "$SYNAPSE_DATABASE" >"$stage/synapse.pgdump" \
  || die "pg_dump of database $SYNAPSE_DATABASE failed"
install -m 0600 "$SYNAPSE_SIGNING_KEY" "$stage/signing.key"
printf '%s\n' "$SYNAPSE_VERSION" >"$stage/synapse-version"

kind=${1:-backup}
[[ $kind =~ ^(backup|pre-restore)$ ]] || die "KIND must be backup or pre-restore, got '$kind'"
tags=(--tag matrix-do --tag "$kind" --tag "synapse-$SYNAPSE_VERSION")

for repo in $(backup_repositories); do
  ensure_repository "$repo"
  log "backing up to $(repository_label "$repo")"
  with_repository "$repo" restic backup --quiet --host "$SERVER_NAME" "${tags[@]}" "$stage" "$SYNAPSE_MEDIA" \
    || die "backup to $(repository_label "$repo") failed"
  # Regular backups by the retention; the safety copies restores take, the last three. Kept
  # apart, so a safety copy never counts as the day's backup.
  if ! with_repository "$repo" restic forget --quiet --host "$SERVER_NAME" --tag backup --group-by host \
      --keep-daily "$BACKUP_KEEP_DAILY" --keep-weekly "$BACKUP_KEEP_WEEKLY" >/dev/null \
    || ! with_repository "$repo" restic forget --quiet --host "$SERVER_NAME" --tag pre-restore --group-by host \
      --keep-last 3 --prune >/dev/null; then
    die "pruning $(repository_label "$repo") failed"
  fi
done
dump_bytes=$(stat -c %s "$stage/synapse.pgdump")
date -u +%FT%TZ >"$LAST_BACKUP_FILE"
log "backup finished in $((SECONDS - started))s (database dump ${dump_bytes} bytes)"
