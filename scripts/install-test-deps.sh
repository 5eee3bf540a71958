#!/usr/bin/env bash
# Installs what the test suite runs for real: Caddy, shellcheck, nftables,
# PostgreSQL, coturn (for its TURN test client) and Redis (Valkey's protocol, for Synapse's workers) from Debian, and the pinned Synapse (from
# its hash-pinned lock) in a cached virtualenv. Idempotent; fails loudly when it cannot install
# something. Not cloud-init: the tests run the droplet's own, in the local droplet's Debian root
# (installed on this machine, it could act at its next boot).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly TEST_DEBIAN_PACKAGES="caddy shellcheck postgresql nftables openssl curl gnupg systemd-container debootstrap dnsmasq-base iproute2 coturn redis-server"

# shellcheck disable=SC2086 # a list of package names
bash "$root/scripts/apt-ensure.sh" $TEST_DEBIAN_PACKAGES

# The Synapse release the payload installs by default, from the same lock file.
version=$(sed -n 's/^export const SYNAPSE_VERSIONS = \["\([^"]*\)".*/\1/p' "$root/cloud-init/versions.ts")
[ -n "$version" ] || { echo "install-test-deps: cannot read the Synapse version from cloud-init/versions.ts" >&2; exit 1; }
venv="$root/.cache/synapse-$version"
lock="$root/cloud-init/synapse/requirements-$version.txt"
# Reinstalled whenever the lock changes (the marker holds the lock's checksum).
lock_sum=$(sha256sum "$lock" | cut -d' ' -f1)
if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$lock_sum" ]; then
  echo "install-test-deps: installing Synapse $version into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    --require-hashes --no-deps --only-binary=:all: -r "$lock"
  echo "$lock_sum" > "$venv/.installed"
fi

# An S3 service (moto) standing in for DigitalOcean Spaces in the off-site backup tests.
readonly MOTO_VERSION=5.2.5
moto="$root/.cache/moto"
if [ ! -f "$moto/.installed-$MOTO_VERSION" ]; then
  echo "install-test-deps: installing moto $MOTO_VERSION into $moto" >&2
  rm -rf "$moto"
  python3 -m venv "$moto"
  "$moto/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  touch "$moto/.installed-$MOTO_VERSION"
fi
