#!/usr/bin/env bash
# Run a command with Node.js >= 22 first on PATH (fetched by ensure-node.sh if needed).
set -euo pipefail
node_bin="$(bash "$(dirname "${BASH_SOURCE[0]}")/ensure-node.sh")"
PATH="$(dirname "$node_bin"):$PATH"
export PATH
exec node "$@"
