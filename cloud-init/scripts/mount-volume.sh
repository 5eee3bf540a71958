#!/usr/bin/env bash
# Mount the DigitalOcean volume that holds all state, then bind-mount its directories where
# Debian's packages keep their data. A new droplet attached to an existing volume finds its
# database, media, certificates and backups again; nothing is ever formatted here.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

if mountpoint -q "$VOLUME_MOUNT"; then
  log "volume already mounted at $VOLUME_MOUNT"
else
  log "waiting for volume $VOLUME_DEVICE"
  wait_for "$VOLUME_WAIT_SECONDS" "volume $VOLUME_DEVICE to be attached" test -b "$VOLUME_DEVICE"
  fstype=$(blkid -o value -s TYPE "$VOLUME_DEVICE" || true)
  [ "$fstype" = ext4 ] || die "volume $VOLUME_DEVICE has filesystem '${fstype:-none}', expected ext4 (refusing to format a volume that may hold data)"
  mkdir -p "$VOLUME_MOUNT"
  ensure_fstab "$VOLUME_DEVICE $VOLUME_MOUNT ext4 defaults,nofail,discard,noatime 0 2"
  mount "$VOLUME_MOUNT"
fi

# STATE_BINDS: "name:target name:target …" (directory on the volume : where it is mounted).
for bind in $STATE_BINDS; do
  name=${bind%%:*}
  target=${bind#*:}
  source="$VOLUME_MOUNT/$name"
  mkdir -p "$source" "$target"
  if ! mountpoint -q "$target"; then
    # Nothing may write to the root disk's copy while the directories are swapped (only the
    # first run on a droplet gets here; a re-run leaves the services alone).
    systemctl stop "$CADDY_SERVICE.service" "$POSTGRES_SERVICE.service" 2>/dev/null || true
    # First use of this volume: keep what the package put there (e.g. caddy's home).
    if [ -z "$(ls -A "$source")" ] && [ -n "$(ls -A "$target")" ]; then
      cp -a "$target/." "$source/"
    fi
    ensure_fstab "$source $target none bind,nofail,x-systemd.requires-mounts-for=$VOLUME_MOUNT 0 0"
    mount "$target"
  fi
done

own_tree "$PG_DATA_ROOT" postgres
own_tree "$PG_CONFIG_ROOT" postgres
own_tree "$CADDY_DATA" caddy
own_tree "$SYNAPSE_DATA" synapse
# The backups' directory on the volume (through its bind mount): root only.
chmod 0700 "$BACKUP_ROOT"
log "state directories on $VOLUME_MOUNT: $STATE_BINDS"
