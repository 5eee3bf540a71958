#!/usr/bin/env bash
# Run on the droplet over SSH by `pulumi up` with acmeServer internal, after the payload has been
# applied: print the root of Caddy's own CA, which the readiness check then trusts. Caddy makes it
# when it first serves with its local CA, so wait for it a little.
set -euo pipefail

# Where Caddy keeps it (PATHS.caddyLocalCaRoot), set before this script.
: "${LOCAL_CA_ROOT:?}"
for _ in $(seq 120); do
  [ -s "$LOCAL_CA_ROOT" ] && break
  sleep 1
done
cat "$LOCAL_CA_ROOT" 2>/dev/null || { echo "Caddy has made no local CA root ($LOCAL_CA_ROOT) within 120 s" >&2; exit 1; }
