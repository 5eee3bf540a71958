#!/usr/bin/env bash
# Run on the droplet over SSH by `pulumi up`: wait until cloud-init has finished, and if the
# first boot failed, show why. Exit 0 and 2 from `cloud-init status` both mean "finished"
# (2: with recoverable errors); our own bootstrap leaves a marker when it succeeded.
set -uo pipefail

wait_seconds="${WAIT_SECONDS:-1200}"
# The marker bootstrap.sh leaves when it succeeded (PATHS.bootstrapDone), set before this script.
: "${BOOTSTRAP_DONE:?}"
status=0
timeout "$wait_seconds" cloud-init status --wait --long || status=$?

if { [ "$status" -eq 0 ] || [ "$status" -eq 2 ]; } && [ -f "$BOOTSTRAP_DONE" ]; then
  echo "cloud-init finished; bootstrap done at $(cat "$BOOTSTRAP_DONE")"
  exit 0
fi

if [ "$status" -eq 124 ]; then
  echo "cloud-init still running after ${wait_seconds}s" >&2
else
  echo "cloud-init failed (cloud-init status exit $status)" >&2
fi
echo "--- last 80 lines of /var/log/cloud-init-output.log ---" >&2
tail -n 80 /var/log/cloud-init-output.log >&2 || true
exit 1
