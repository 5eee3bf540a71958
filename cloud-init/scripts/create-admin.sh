#!/usr/bin/env bash
# Create the admin account, once, through matrixctl; Synapse makes matrixctl's own account (a
# server admin with no password) the first time matrixctl asks its admin socket for a token. An
# existing admin account is left as it is: its password may have changed since.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# 1 when the account exists. The name is passed as a psql variable, quoted by psql.
account_exists() {
  runuser -u postgres -- psql --no-psqlrc -d "$SYNAPSE_DATABASE" -tA -v ON_ERROR_STOP=1 -v name="@$1:$SERVER_NAME" \
    <<<"SELECT count(*) FROM users WHERE name = :'name';"
}

# The tokens of sessions that were never used and have no device name: what registration left
# on servers bootstrapped before it logged its session out (register_new_matrix_user did not).
unused_nameless_sessions() {
  runuser -u postgres -- psql --no-psqlrc -d "$SYNAPSE_DATABASE" -tA -v ON_ERROR_STOP=1 -v name="@$1:$SERVER_NAME" <<'SQL'
SELECT t.token FROM access_tokens t
  JOIN devices d ON d.user_id = t.user_id AND d.device_id = t.device_id
WHERE t.user_id = :'name' AND d.display_name IS NULL AND d.last_seen IS NULL
  AND NOT EXISTS (SELECT 1 FROM user_ips u WHERE u.user_id = t.user_id AND u.device_id = t.device_id);
SQL
}

# Log a session out with its own token, as its client would: Synapse removes its device. The
# token goes to curl on stdin, not on its command line.
log_out() {
  printf 'Authorization: Bearer %s\n' "$1" |
    curl -fsS -o /dev/null -X POST -H @- -H 'Content-Type: application/json' -d '{}' \
      --unix-socket "$SYNAPSE_ADMIN_SOCKET" http://localhost/_matrix/client/v3/logout
}

wait_for 600 "Synapse to answer on $SYNAPSE_ADMIN_SOCKET" synapse_answers
if [ "$(account_exists "$ADMIN_USER")" != 1 ]; then
  "$MATRIXCTL" user add "$ADMIN_USER" --admin --password-file "$ADMIN_PASSWORD_FILE" >/dev/null
  log "created @$ADMIN_USER:$SERVER_NAME (server admin)"
fi
# matrixctl's account: made by Synapse, if missing, when matrixctl takes a token.
"$MATRIXCTL" user list >/dev/null
for token in $(unused_nameless_sessions "$ADMIN_USER"); do
  log_out "$token"
  log "@$ADMIN_USER:$SERVER_NAME: logged out a session registration left unused"
done
log "admin accounts @$ADMIN_USER:$SERVER_NAME and @$OPS_USER:$SERVER_NAME present"
