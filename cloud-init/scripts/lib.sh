# shellcheck shell=bash
# Helpers shared by the matrix-do scripts; sourced, never run. Loads the deploy settings.

set -euo pipefail

readonly MATRIX_ENV_FILE="${MATRIX_ENV_FILE:-/etc/matrix/deploy.env}"
# shellcheck source=/dev/null
. "$MATRIX_ENV_FILE"

log() { printf 'matrix-do: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# wait_for SECONDS DESCRIPTION COMMAND...: run COMMAND every 2 s until it succeeds.
wait_for() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || die "gave up after ${seconds}s waiting for $what"
    sleep 2
  done
}

# synapse_answers: Synapse answers on its admin socket (it listens on no port).
synapse_answers() { curl -fsS -o /dev/null --unix-socket "$SYNAPSE_ADMIN_SOCKET" http://localhost/health; }

# ensure_fstab LINE: add LINE to /etc/fstab unless an entry for its mount point exists.
ensure_fstab() {
  local line=$1 target
  target=$(awk '{print $2}' <<<"$line")
  if ! awk -v t="$target" '$1 !~ /^#/ && $2 == t {found=1} END {exit !found}' /etc/fstab; then
    printf '%s\n' "$line" >>/etc/fstab
  fi
}

# changed NAME FILE...: true when the files differ from the last time NAME was recorded.
# Lets a re-run restart only what a change touched.
changed() {
  local name=$1 sum
  shift
  sum=$(cat -- "$@" | sha256sum | cut -d' ' -f1)
  mkdir -p "$MATRIX_STATE_DIR"
  if [ -f "$MATRIX_STATE_DIR/$name.sum" ] && [ "$(cat "$MATRIX_STATE_DIR/$name.sum")" = "$sum" ]; then
    return 1
  fi
  printf '%s\n' "$sum" >"$MATRIX_STATE_DIR/$name.sum"
}

# own_tree DIR USER: give DIR to USER where it is not already (uids differ between droplets).
# The services may be running (a change applied in place): a file they delete while find walks
# the tree (PostgreSQL's pg_internal.init) is not an error.
own_tree() {
  local dir=$1 user=$2
  find "$dir" -xdev -ignore_readdir_race \( \! -user "$user" -o \! -group "$user" \) -exec chown -h "$user:$user" {} +
}

# droplet_ipv4: the source address of the default route, the droplet's own public IPv4 (not
# the reserved IP's anchor address, which replies would not leave from).
droplet_ipv4() {
  local address
  address=$(ip -4 -o route get 1.1.1.1 | sed -n 's/.* src \([0-9.]*\).*/\1/p')
  [ -n "$address" ] || die "cannot find the droplet's IPv4 address (ip -4 route get 1.1.1.1)"
  printf '%s\n' "$address"
}

# download FILE URL: fetch URL into FILE, retrying a flaky network.
download() { curl -fsSL --retry 5 --retry-all-errors --connect-timeout 10 -o "$1" "$2"; }

# optional SCRIPT: run a part the homeserver does not need (Element, TURN) from this directory.
# If it fails, the caller goes on: the part is pending, and $OPTIONAL_SERVICE.timer (every minute
# while anything is pending) runs it again until it succeeds (retry-optional.sh).
optional() {
  local script=$1
  mkdir -p "$OPTIONAL_PENDING"
  if "$(dirname "${BASH_SOURCE[0]}")/$script"; then
    rm -f "$OPTIONAL_PENDING/$script"
    return 0
  fi
  [ -f "$OPTIONAL_PENDING/$script" ] || date -u +%FT%TZ >"$OPTIONAL_PENDING/$script"
  log "$script failed; the homeserver goes on without it, and $OPTIONAL_SERVICE.timer retries it every minute"
  systemctl start "$OPTIONAL_SERVICE.timer" || log "could not start $OPTIONAL_SERVICE.timer"
}
