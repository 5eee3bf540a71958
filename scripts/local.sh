#!/usr/bin/env bash
# `npm run local -- [--stack NAME]`: boot your stack's payload on a local droplet (see local/run.ts).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/apt-ensure.sh" systemd-container debootstrap dnsmasq-base nftables iproute2
node_bin="$(bash "$root/scripts/ensure-node.sh")"
exec "$node_bin" --import "file://$root/node_modules/tsx/dist/loader.mjs" "$root/local/run.ts" "$@"
