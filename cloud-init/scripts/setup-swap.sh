#!/usr/bin/env bash
# Turn on a swap file of SWAP_MB MiB (none when 0), making or resizing it first. Runs from the
# bootstrap and at every boot (SWAP_SERVICE); does nothing when all is as it should be.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# By name, as /proc/swaps lists them. Several local droplets share one kernel, so this may be
# another's SWAP_FILE: turning a file off is never fatal here, and whether ours is on is the
# kernel's answer to swapon (busy), not this list.
active() { awk -v f="$SWAP_FILE" 'NR > 1 && $1 == f {found=1} END {exit !found}' /proc/swaps; }

if [ "${SWAP_MB:-0}" -eq 0 ]; then
  if active; then swapoff "$SWAP_FILE" || true; fi
  if [ -e "$SWAP_FILE" ]; then
    rm -f "$SWAP_FILE"
    log "swap file removed"
  fi
  exit 0
fi

bytes=$((SWAP_MB * 1024 * 1024))
if [ ! -f "$SWAP_FILE" ] || [ "$(stat -c %s "$SWAP_FILE")" -ne "$bytes" ]; then
  if active; then swapoff "$SWAP_FILE" || true; fi
  rm -f "$SWAP_FILE"
  # Made under another name and moved into place: never a half-made file at SWAP_FILE, and
  # mkswap refuses a name /proc/swaps lists. Root only from the first byte: swap holds
  # whatever memory held.
  (umask 077 && fallocate -l "$bytes" "$SWAP_FILE.new")
  mkswap "$SWAP_FILE.new" >/dev/null
  mv "$SWAP_FILE.new" "$SWAP_FILE"
  log "swap file $SWAP_FILE: $SWAP_MB MiB"
fi
# Swap is a safety net: a droplet that cannot have it (a container that may not call swapon,
# as `npm run local` runs) still serves, with a warning.
if ! out=$(swapon "$SWAP_FILE" 2>&1); then
  case "$out" in
    *"Device or resource busy"*) ;; # on already
    *) log "WARNING: could not turn on $SWAP_FILE ($out); running without swap" ;;
  esac
fi
