#!/usr/bin/env bash
# Install the npm packages of the Node skills in this tree (examples/typescript-skill) from their
# committed package-lock.json, for the tests and benchmarks that run them. Idempotent: nothing
# happens while node_modules matches the lock file (well under a second).
#
#   scripts/install-node-deps.sh
set -euo pipefail
cd "$(dirname "$0")/.."

command -v npm >/dev/null || { echo "npm not found: the TypeScript skill's tests will skip" >&2; exit 0; }
for dir in examples/typescript-skill; do
  stamp="$dir/node_modules/.podium-lock.sha256"
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [[ -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
    continue
  fi
  echo "npm ci in $dir" >&2
  npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >&2
  printf '%s' "$want" >"$stamp"
done
