#!/usr/bin/env bash
# Install the pinned Element Web release: download it, check that its signature is good and
# made by the pinned release key, unpack it beside older releases, then switch the symlink.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

dest="$ELEMENT_RELEASES/element-v$ELEMENT_VERSION"
if [ ! -f "$dest/index.html" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  log "downloading Element Web $ELEMENT_VERSION"
  download "$work/element.tar.gz" "$ELEMENT_TARBALL_URL"
  download "$work/element.tar.gz.asc" "$ELEMENT_SIGNATURE_URL"
  download "$work/release-key.asc" "$ELEMENT_KEY_URL"

  export GNUPGHOME="$work/gnupg"
  mkdir -m 0700 "$GNUPGHOME"
  gpg --batch --quiet --import "$work/release-key.asc" 2>/dev/null || die "could not read Element's release key from $ELEMENT_KEY_URL"
  status=$(gpg --batch --status-fd 1 --verify "$work/element.tar.gz.asc" "$work/element.tar.gz" 2>/dev/null) \
    || die "Element $ELEMENT_VERSION: bad or missing signature"
  # VALIDSIG's last field is the fingerprint of the primary key behind the signing subkey.
  signer=$(awk '$2 == "VALIDSIG" {print $NF}' <<<"$status")
  [ "$signer" = "$ELEMENT_KEY_FINGERPRINT" ] \
    || die "Element $ELEMENT_VERSION is signed by '${signer:-nobody}', expected $ELEMENT_KEY_FINGERPRINT"

  rm -rf "$dest.partial"
  mkdir -p "$dest.partial"
  tar -xzf "$work/element.tar.gz" -C "$dest.partial" --strip-components=1 --no-same-owner
  [ -f "$dest.partial/index.html" ] || die "Element tarball has no index.html"
  mv "$dest.partial" "$dest"
fi
install -m 0644 "$ELEMENT_CONFIG" "$dest/config.json"
ln -sfn "$dest" "$ELEMENT_ROOT"
log "Element Web $ELEMENT_VERSION installed at $ELEMENT_ROOT"
