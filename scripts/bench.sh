#!/usr/bin/env bash
# `npm run bench`: the benchmark (bench/run.ts) on local droplets; as root. Installs what it
# needs as the test suite does (containers, Pebble, the Element mirror's tools), then runs it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

[ -d node_modules ] || { echo "bench: run 'npm ci' first" >&2; exit 1; }
bash scripts/install-test-deps.sh
node_bin="$(bash scripts/ensure-node.sh)"
exec "$node_bin" --import tsx bench/run.ts "$@"
