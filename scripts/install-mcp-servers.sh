#!/usr/bin/env bash
# Install the third-party MCP servers the MCP bridge tests run against, into a project-local
# cache (default .cache/mcp-servers/, gitignored). Idempotent: a second run with everything in
# place does nothing and takes well under a second.
#
#   scripts/install-mcp-servers.sh [CACHE_DIR]
#
# npm servers go into CACHE_DIR/npm (npm install --prefix); each PyPI server gets its own venv
# under CACHE_DIR/venvs/NAME, because some pin an older `mcp` than Podium's: stdio servers run
# from their own environment and are never imported into the bridge's process.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${1:-${PODIUM_MCP_SERVERS:-$here/.cache/mcp-servers}}"
python="${PYTHON:-python3}"

# Pinned so a test run sees the same servers as the one that wrote the tests.
npm_packages=(
  "@modelcontextprotocol/server-everything@2026.8.31"
  "@modelcontextprotocol/server-filesystem@2026.8.31"
)
pypi_servers=(
  "mcp-server-time"
)

mkdir -p "$cache/npm" "$cache/venvs"

stamp="$cache/npm/.installed"
want="${npm_packages[*]}"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "installing npm MCP servers into $cache/npm" >&2
  npm install --prefix "$cache/npm" --no-audit --no-fund --loglevel=error "${npm_packages[@]}" >&2
  printf '%s' "$want" >"$stamp"
fi

for name in "${pypi_servers[@]}"; do
  venv="$cache/venvs/$name"
  if [[ ! -x "$venv/bin/$name" ]]; then
    echo "installing $name into its own venv $venv" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install -qq "$name" >&2
  fi
done
echo "$cache"
