#!/usr/bin/env bash
# Install the pinned Synapse release into its own virtualenv (hash-checked, wheels only),
# point the link SYNAPSE_CURRENT_VENV at it, and run it. A version change installs beside the old
# one and switches over; Synapse migrates its database on start.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

venv="$SYNAPSE_VENV_ROOT/$SYNAPSE_VERSION"
# The virtualenvs live on the volume: a new droplet finds this release installed, unless it no
# longer runs here (e.g. a different Python), and then it is installed again.
if [ -f "$venv/.installed" ] && ! "$venv/bin/python" -c 'import synapse, psycopg2' 2>/dev/null; then
  log "Synapse $SYNAPSE_VERSION in $venv does not run on this droplet; installing it again"
  rm -f "$venv/.installed"
fi
if [ ! -f "$venv/.installed" ]; then
  log "installing Synapse $SYNAPSE_VERSION into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  # The system trust store (with any extraCaCertificates), not pip's bundled one. Wheels are
  # kept on the volume, so a replacement droplet installs without downloading them again
  # (still checked against the lock's hashes).
  install -d -m 0700 "$DOWNLOAD_CACHE/pip"
  PIP_CERT=/etc/ssl/certs/ca-certificates.crt "$venv/bin/pip" install --quiet --cache-dir "$DOWNLOAD_CACHE/pip" --disable-pip-version-check \
    --require-hashes --no-deps --only-binary=:all: -r "$SYNAPSE_REQUIREMENTS"
  "$venv/bin/python" -c 'import synapse, psycopg2' || die "Synapse $SYNAPSE_VERSION did not install cleanly"
  touch "$venv/.installed"
fi
previous=$(readlink "$SYNAPSE_CURRENT_VENV" || true)
ln -sfn "$venv" "$SYNAPSE_CURRENT_VENV"
# Keep this release and the one before it (to go back to); older ones go.
for old in "$SYNAPSE_VENV_ROOT"/*/; do
  old=${old%/}
  [ -L "$old" ] || [ "$old" = "$venv" ] || [ "$old" = "$previous" ] || [ ! -f "$old/.installed" ] || rm -rf "$old"
done

# Secrets are written by cloud-init as root; Synapse reads them through its group.
chgrp synapse "$SYNAPSE_CONF_D/10-secrets.yaml" "$SYNAPSE_SIGNING_KEY"
chmod 0640 "$SYNAPSE_CONF_D/10-secrets.yaml" "$SYNAPSE_SIGNING_KEY"
install -d -o synapse -g synapse -m 0750 "$SYNAPSE_DATA" "$SYNAPSE_MEDIA"
# Its sockets' directory; at later boots systemd makes it before any service starts.
systemd-tmpfiles --create "$SYNAPSE_TMPFILES"

systemctl daemon-reload
systemctl enable "$SYNAPSE_SERVICE.service" >/dev/null 2>&1
if changed synapse "$SYNAPSE_CONF_D"/*.yaml "$SYNAPSE_SIGNING_KEY" "$SYNAPSE_LOG_CONFIG" "$SYNAPSE_MODULES"/*.py "$venv/.installed"; then
  systemctl restart "$SYNAPSE_SERVICE.service"
else
  systemctl start "$SYNAPSE_SERVICE.service"
fi
wait_for 600 "Synapse to answer on $SYNAPSE_ADMIN_SOCKET" synapse_answers
log "Synapse $SYNAPSE_VERSION running"
