#!/usr/bin/env bash
# Restore the homeserver from a backup: the database (dropped and re-created, then
# pg_restore) and the media store. The signing key comes from Pulumi and is only compared. The current state is backed up first (tag pre-restore) when
# the database can still be dumped.
#   restore.sh local|offsite [SNAPSHOT]     SNAPSHOT defaults to latest
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=backup-lib.sh
. "$(dirname "$0")/backup-lib.sh"
here=$(dirname "$0")

repo=$(repository_for "${1:-}")
snapshot=${2:-latest}
[[ $snapshot =~ ^(latest|[0-9a-f]{8,64})$ ]] || die "SNAPSHOT must be 'latest' or a snapshot ID (hex), got '$snapshot'"
# "latest" means the latest regular backup, never the safety copy a restore takes first.
filter=(--host "$SERVER_NAME")
if [ "$snapshot" = latest ]; then filter+=(--tag backup); fi
started=$SECONDS

if runuser -u postgres -- psql -d "$SYNAPSE_DATABASE" -Atqc 'SELECT 1 FROM users LIMIT 1' >/dev/null 2>&1; then
  log "backing up the current state first (tag pre-restore)"
  "$here/backup.sh" pre-restore || die "could not back up the current state; nothing was changed"
else
  log "the current database is missing or damaged; nothing to back up before restoring"
fi

take_backup_lock
work="$BACKUP_STAGING.restore"
rm -rf "$work"
install -d -m 0700 "$work"
trap 'rm -rf "$work"' EXIT
log "fetching snapshot $snapshot from $(repository_label "$repo")"
with_repository "$repo" restic restore --quiet "${filter[@]}" "$snapshot" --target "$work" \
  || die "restic could not restore snapshot $snapshot from $(repository_label "$repo")"
dump="$work$BACKUP_STAGING/synapse.pgdump"
[ -s "$dump" ] || die "snapshot $snapshot holds no database dump"
# Check the dump is readable before anything is dropped.
pg_restore --list "$dump" >/dev/null || die "the database dump in snapshot $snapshot is unreadable"
if ! cmp -s "$work$BACKUP_STAGING/signing.key" "$SYNAPSE_SIGNING_KEY"; then
  log "WARNING: the snapshot's signing key differs from this server's (which comes from Pulumi); keeping this server's"
fi

systemctl stop "$SYNAPSE_SERVICE.service"
log "re-creating database $SYNAPSE_DATABASE"
# The name is passed as a psql variable, quoted by psql.
runuser -u postgres -- psql --no-psqlrc -q -v ON_ERROR_STOP=1 -v db="$SYNAPSE_DATABASE" <<<'DROP DATABASE IF EXISTS :"db" WITH (FORCE);'
runuser -u postgres -- psql --no-psqlrc -q -v ON_ERROR_STOP=1 -f - <"$PG_SETUP_SQL"
runuser -u postgres -- pg_restore --exit-on-error --single-transaction --dbname="$SYNAPSE_DATABASE" <"$dump" \
  || die "pg_restore failed; the database is empty: run the restore again or restore another snapshot"

log "restoring the media store"
media_backup="$work$SYNAPSE_MEDIA"
install -d -o synapse -g synapse -m 0750 "$SYNAPSE_MEDIA"
if [ -d "$media_backup" ]; then
  # Files uploaded after the backup are not referenced by the restored database; drop them.
  find "$SYNAPSE_MEDIA" -mindepth 1 -delete
  cp -a "$media_backup/." "$SYNAPSE_MEDIA/"
fi
own_tree "$SYNAPSE_MEDIA" synapse

systemctl start "$SYNAPSE_SERVICE.service"
wait_for 600 "Synapse to answer on $SYNAPSE_ADMIN_SOCKET" synapse_answers
log "restored snapshot $snapshot from $(repository_label "$repo") in $((SECONDS - started))s"
