#!/usr/bin/env bash
# The demo: builds the console and the binary if needed, then runs `glasshouse demo` — a live
# simulated Helsinki on a fresh ./demo-data directory, with the console at http://127.0.0.1:8080/.
# Extra arguments go to `glasshouse demo` (see `--help`), e.g. scripts/demo.sh --speed 120
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f console/dist/index.html ]; then
  (cd console && npm ci --no-audit --no-fund --loglevel=error && npm run build)
fi
exec cargo run --quiet -p glasshouse -- demo "$@"
