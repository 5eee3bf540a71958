#!/usr/bin/env bash
# Create the admin account through Synapse's shared-secret registration, once. An existing
# account is left as it is.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

wait_for 600 "Synapse to answer on 127.0.0.1:$SYNAPSE_PORT" curl -fsS "http://127.0.0.1:$SYNAPSE_PORT/health"
"$SYNAPSE_VENV_ROOT/current/bin/register_new_matrix_user" \
  --config "$SYNAPSE_CONF_D/10-secrets.yaml" \
  --user "$ADMIN_USER" \
  --password-file "$ADMIN_PASSWORD_FILE" \
  --admin --exists-ok \
  "http://127.0.0.1:$SYNAPSE_PORT"
log "admin account @$ADMIN_USER:$SERVER_NAME present"
