#!/usr/bin/env bash
# Load metadata-guard.nft: root may reach the droplet metadata service, and so may each account
# of METADATA_READERS that exists on this droplet (userData.ts says why each is there).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

uids=0
for account in $METADATA_READERS; do
  uid=$(id -u "$account" 2>/dev/null) || continue
  uids="$uids, $uid"
done
nft -D readers="{ $uids }" -f "$(dirname "$0")/metadata-guard.nft"
log "metadata service: only uids $uids may reach it"
