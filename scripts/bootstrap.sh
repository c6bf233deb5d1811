#!/usr/bin/env bash
# First step of `npm start` and `npm test`: check Node, install dependencies when missing or stale, build.
set -euo pipefail
cd "$(dirname "$0")/.."

node -e '
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 20 || (major === 20 && minor < 11)) {
  console.error(`Holdfast needs Node.js >= 20.11 (found ${process.versions.node}).`);
  process.exit(1);
}'

if [ -L node_modules ]; then
  # A checkout sharing another's dependencies (a git worktree): npm ci would empty the other's node_modules.
  echo "[holdfast] node_modules is a link: using the dependencies it points to as they are" >&2
elif [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[holdfast] installing dependencies (npm ci)…" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

echo "[holdfast] building (tsc)…" >&2
node_modules/.bin/tsc -p tsconfig.json
echo "[holdfast] building the console (esbuild)…" >&2
node dist/scripts/build-console.js
