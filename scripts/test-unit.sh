#!/usr/bin/env bash
# The unit tier: import directions, settings, the component and the stack (against Pulumi's mocks), the schema and
# the renderers, in seconds. No root, no apt, no network and no type check (`npm test` does that):
# it needs `npm ci` and Node >= 22, which ensure-node.sh fetches once if this machine's is older.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

readonly UNIT_TESTS=(test/layout.test.ts test/settings.test.ts test/settingsTable.test.ts test/deployEnv.test.ts test/stackConfig.test.ts test/component.test.ts test/stack.test.ts test/schema.test.ts test/renderers.test.ts test/topology.test.ts)

[ -d node_modules ] || { echo "test:unit: run 'npm ci' first" >&2; exit 1; }
node_bin="$(bash scripts/ensure-node.sh)"
# Files run side by side, one per core: they share no ports or files.
exec "$node_bin" --import tsx --test --test-concurrency="$(nproc)" --test-reporter=spec "${UNIT_TESTS[@]}"
