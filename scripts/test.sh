#!/usr/bin/env bash
# The whole test suite: type check, then every test file under node's test runner
# (unit tests under Pulumi mocks, and the rendered artifacts checked by the real tools).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

[ -d node_modules ] || { echo "test: run 'npm ci' first" >&2; exit 1; }
bash scripts/install-test-deps.sh
node_bin="$(bash scripts/ensure-node.sh)"
PATH="$(dirname "$node_bin"):$PATH"
export PATH

echo "== type check (node $(node --version))"
node node_modules/typescript/bin/tsc --noEmit -p .

echo "== tests"
# Files are listed by the shell: node's runner does not expand quoted globs on every version.
node --import tsx --test --test-reporter=spec test/*.test.ts
