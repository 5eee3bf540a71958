#!/usr/bin/env bash
# Create (once) the PostgreSQL cluster on the volume, apply the rendered settings, and make
# sure Synapse's role and database exist. Safe to run again: it changes only what differs.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

conf_dir="/etc/postgresql/$PG_MAJOR/main"
if [ ! -f "$conf_dir/postgresql.conf" ]; then
  [ ! -e "/var/lib/postgresql/$PG_MAJOR/main/PG_VERSION" ] \
    || die "/var/lib/postgresql/$PG_MAJOR/main holds a database but $conf_dir is missing; restore /etc/postgresql from a backup"
  log "creating PostgreSQL $PG_MAJOR cluster"
  pg_createcluster --encoding=UTF8 --locale=C.UTF-8 "$PG_MAJOR" main -- --auth-local=peer --auth-host=scram-sha-256
fi

install -o postgres -g postgres -m 0644 "$PG_TUNING_FILE" "$conf_dir/conf.d/50-matrix-do.conf"
# Enabled explicitly: Debian's generator enables clusters from /etc/postgresql at early boot,
# before the volume (which holds /etc/postgresql) is mounted.
systemctl enable postgresql.service "postgresql@$PG_MAJOR-main.service" >/dev/null 2>&1
if changed postgresql "$PG_TUNING_FILE"; then
  systemctl restart "postgresql@$PG_MAJOR-main.service"
else
  systemctl start "postgresql@$PG_MAJOR-main.service"
fi
wait_for 120 "PostgreSQL to accept connections" pg_isready -q -h 127.0.0.1

runuser -u postgres -- psql --no-psqlrc -q -v ON_ERROR_STOP=1 -f - <"$PG_SETUP_SQL"
log "PostgreSQL $PG_MAJOR ready; database synapse present"
