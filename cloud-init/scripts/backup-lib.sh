# shellcheck shell=bash
# Shared by backup.sh and restore.sh; sourced after lib.sh. The repositories are restic's,
# encrypted with the stack's backup password; the off-site one is an S3 bucket.

# The secrets: restic's password file and the off-site keys (root only).
# shellcheck source=/dev/null
. "$BACKUP_ENV_FILE"
export RESTIC_PASSWORD_FILE RESTIC_CACHE_DIR="$MATRIX_STATE_DIR/restic-cache"

# One backup or restore at a time.
take_backup_lock() {
  exec 9>"$MATRIX_STATE_DIR/backup.lock"
  flock -n 9 || die "another backup or restore is running"
}

# The repositories to write to: the volume's, and the off-site one when configured.
backup_repositories() {
  printf '%s\n' "$BACKUP_REPOSITORY"
  if [ -n "${OFFSITE_REPOSITORY:-}" ]; then printf '%s\n' "$OFFSITE_REPOSITORY"; fi
}

# repository_for local|offsite: where that repository is.
repository_for() {
  case "$1" in
    local) printf '%s\n' "$BACKUP_REPOSITORY" ;;
    offsite)
      [ -n "${OFFSITE_REPOSITORY:-}" ] || die "no off-site backups are configured (spacesBucket)"
      printf '%s\n' "$OFFSITE_REPOSITORY"
      ;;
    *) die "expected local or offsite, got '$1'" ;;
  esac
}

repository_label() {
  if [ "$1" = "$BACKUP_REPOSITORY" ]; then echo "the volume ($1)"; else echo "off-site ($1)"; fi
}

# with_repository REPO COMMAND...: run COMMAND with restic pointed at REPO (and its keys).
with_repository() {
  local repo=$1
  shift
  if [ "$repo" = "$BACKUP_REPOSITORY" ]; then
    RESTIC_REPOSITORY=$repo "$@"
  else
    RESTIC_REPOSITORY=$repo AWS_ACCESS_KEY_ID=$OFFSITE_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$OFFSITE_SECRET_KEY "$@"
  fi
}

# ensure_repository REPO: create the repository unless it exists. (Asking restic whether it
# exists is no good: it retries a missing bucket for 15 minutes.) Known repositories are noted
# in the state directory; an init of one made by an earlier droplet fails harmlessly.
ensure_repository() {
  local marker output
  marker="$MATRIX_STATE_DIR/repository-$(printf '%s' "$1" | sha256sum | cut -c1-16)"
  [ ! -f "$marker" ] || return 0
  if output=$(with_repository "$1" restic init 2>&1); then
    log "created restic repository in $(repository_label "$1")"
  elif ! grep -q "already exists\|already initialized" <<<"$output"; then
    die "cannot create the repository in $(repository_label "$1"): $output"
  fi
  touch "$marker"
}
