#!/usr/bin/env bash
# Create the admin account, and the account matrixctl acts as, through Synapse's shared-secret
# registration, once. Existing accounts are left as they are, and are not registered again:
# registration is rate limited per address, and every config change runs this.
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
      "http://127.0.0.1:$SYNAPSE_PORT/_matrix/client/v3/logout"
}

wait_for 600 "Synapse to answer on 127.0.0.1:$SYNAPSE_PORT" curl -fsS "http://127.0.0.1:$SYNAPSE_PORT/health"
for account in "$ADMIN_USER:$ADMIN_PASSWORD_FILE" "$OPS_USER:$OPS_PASSWORD_FILE"; do
  user=${account%%:*}
  exists=$(account_exists "$user")
  [ "$exists" = 1 ] && continue
  "$(dirname "$0")/register-account.py" "$SYNAPSE_CONF_D/10-secrets.yaml" "http://127.0.0.1:$SYNAPSE_PORT" "$user" "${account#*:}"
done
for user in "$ADMIN_USER" "$OPS_USER"; do
  tokens=$(unused_nameless_sessions "$user")
  for token in $tokens; do
    log_out "$token"
    log "@$user:$SERVER_NAME: logged out a session registration left unused"
  done
done
log "admin accounts @$ADMIN_USER:$SERVER_NAME and @$OPS_USER:$SERVER_NAME present"
