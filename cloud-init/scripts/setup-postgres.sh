#!/usr/bin/env bash
# Create (once) the PostgreSQL cluster on the volume, apply the rendered settings, and make
# sure Synapse's role and database exist. Safe to run again: it changes only what differs.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

if [ ! -f "$PG_CLUSTER_CONFIG/postgresql.conf" ]; then
  [ ! -e "$PG_CLUSTER_DATA/PG_VERSION" ] \
    || die "$PG_CLUSTER_DATA holds a database but $PG_CLUSTER_CONFIG is missing; restore $PG_CONFIG_ROOT from a backup"
  log "creating PostgreSQL $PG_MAJOR cluster"
  pg_createcluster --encoding=UTF8 --locale=C.UTF-8 "$PG_MAJOR" "$PG_CLUSTER" -- --auth-local=peer --auth-host=scram-sha-256
fi

install -o postgres -g postgres -m 0644 "$PG_TUNING_FILE" "$PG_CLUSTER_CONFIG/conf.d/50-matrix-do.conf"
# Enabled explicitly: Debian's generator enables clusters from PG_CONFIG_ROOT at early boot,
# before the volume (which holds it) is mounted.
systemctl enable "$POSTGRES_SERVICE.service" "$POSTGRES_CLUSTER_SERVICE.service" >/dev/null 2>&1
if changed postgresql "$PG_TUNING_FILE"; then
  systemctl restart "$POSTGRES_CLUSTER_SERVICE.service"
else
  systemctl start "$POSTGRES_CLUSTER_SERVICE.service"
fi
wait_for 120 "PostgreSQL to accept connections" pg_isready -q -h 127.0.0.1

runuser -u postgres -- psql --no-psqlrc -q -v ON_ERROR_STOP=1 -f - <"$PG_SETUP_SQL"
log "PostgreSQL $PG_MAJOR ready; database $SYNAPSE_DATABASE present"
