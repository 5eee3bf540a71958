#!/usr/bin/env bash
# The test suite: type check, then the test files under node's test runner: all of them, or
# those named on the command line (e.g. `npm test -- test/droplet.test.ts`).
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
if [ "$#" -gt 0 ]; then files=("$@"); else files=(test/*.test.ts); fi
# One file at a time: the service tests bind ports 80, 443 and 8448.
node --import tsx --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
