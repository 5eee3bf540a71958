#!/usr/bin/env bash
# Create the admin account, and the account matrixctl acts as, through Synapse's shared-secret
# registration, once. Existing accounts are left as they are.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

wait_for 600 "Synapse to answer on 127.0.0.1:$SYNAPSE_PORT" curl -fsS "http://127.0.0.1:$SYNAPSE_PORT/health"
for account in "$ADMIN_USER:$ADMIN_PASSWORD_FILE" "$OPS_USER:$OPS_PASSWORD_FILE"; do
  "$SYNAPSE_VENV_ROOT/current/bin/register_new_matrix_user" \
    --config "$SYNAPSE_CONF_D/10-secrets.yaml" \
    --user "${account%%:*}" \
    --password-file "${account#*:}" \
    --admin --exists-ok \
    "http://127.0.0.1:$SYNAPSE_PORT"
done
log "admin accounts @$ADMIN_USER:$SERVER_NAME and @$OPS_USER:$SERVER_NAME present"
