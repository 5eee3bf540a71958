#!/usr/bin/env bash
# Run again the optional parts that failed (lib.sh's `optional`), and stop the timer that runs
# this once none is pending.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

shopt -s nullglob
for pending in "$OPTIONAL_PENDING"/*; do
  script=$(basename "$pending")
  log "retrying $script (pending since $(cat "$pending"))"
  optional "$script"
done
pending=("$OPTIONAL_PENDING"/*)
if [ "${#pending[@]}" -eq 0 ]; then
  systemctl stop "$OPTIONAL_SERVICE.timer"
  log "nothing pending: $OPTIONAL_SERVICE.timer stopped"
fi
