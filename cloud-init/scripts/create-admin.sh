#!/usr/bin/env bash
# Create the admin account, and the account matrixctl acts as, through Synapse's shared-secret
# registration, once. Existing accounts are left as they are, and are not registered again:
# registration is rate limited per address, and every config change runs this.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# 1 when the account exists. The name is passed as a psql variable, quoted by psql.
account_exists() {
  runuser -u postgres -- psql --no-psqlrc -d synapse -tA -v ON_ERROR_STOP=1 -v name="@$1:$SERVER_NAME" \
    <<<"SELECT count(*) FROM users WHERE name = :'name';"
}

wait_for 600 "Synapse to answer on 127.0.0.1:$SYNAPSE_PORT" curl -fsS "http://127.0.0.1:$SYNAPSE_PORT/health"
for account in "$ADMIN_USER:$ADMIN_PASSWORD_FILE" "$OPS_USER:$OPS_PASSWORD_FILE"; do
  user=${account%%:*}
  [ "$(account_exists "$user")" = 1 ] && continue
  "$(dirname "$0")/register-account.py" "$SYNAPSE_CONF_D/10-secrets.yaml" "http://127.0.0.1:$SYNAPSE_PORT" "$user" "${account#*:}"
done
log "admin accounts @$ADMIN_USER:$SERVER_NAME and @$OPS_USER:$SERVER_NAME present"
