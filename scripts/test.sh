#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what is missing (Chromium, xmllint,
# the console's npm packages, the duckdb Python package, cargo-audit, cargo-fuzz), builds the
# console, runs the Rust tests (unit, property, HTTP integration, kill -9 durability, backup and
# restore, a full disk on a small tmpfs of its own, which needs root), the DuckDB interoperability
# tests and the browser tests in headless Chromium, runs every fuzz target briefly, and checks the
# dependencies against the RustSec advisories.
#
#   scripts/test.sh
#
# Screenshots from the browser tests land in test-artifacts/ (or $GLASSHOUSE_ARTIFACTS).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export CARGO_TERM_COLOR=never
export GLASSHOUSE_ARTIFACTS=${GLASSHOUSE_ARTIFACTS:-$root/test-artifacts}
target_dir=${CARGO_TARGET_DIR:-$root/target}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

step() { printf '\n==> %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

step "system packages"
# Chromium for the browser tests; xmllint to validate CAP messages against the OASIS schema.
# psql to test the Postgres wire protocol with the real client.
if [ ! -x /usr/bin/chromium ] || ! command -v xmllint >/dev/null || ! command -v psql >/dev/null; then
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium libxml2-utils postgresql-client >/dev/null
fi
/usr/bin/chromium --version
xmllint --version 2>&1 | sed -n 1p  # sed reads to the end: head could SIGPIPE xmllint under pipefail
psql --version
# DuckDB (Python package) reads our Parquet segments in the interoperability tests.
python3 -c 'import duckdb' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check 'duckdb==2.0.1'
# The alert-sink tests deliver to the real NATS (JetStream) and Mosquitto brokers: start them if down.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if ! port_open 4222; then
  as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
fi
if ! port_open 1883; then
  as_root mosquitto -d -c /etc/mosquitto/mosquitto.conf
fi
for _ in $(seq 1 50); do port_open 4222 && port_open 1883 && break; sleep 0.2; done
port_open 4222 || { echo "NATS did not start on 127.0.0.1:4222" >&2; exit 1; }
port_open 1883 || { echo "Mosquitto did not start on 127.0.0.1:1883" >&2; exit 1; }

step "console: npm ci and build"
(cd console && npm ci --no-audit --no-fund --loglevel=error && npm run build)

step "rust: build"
cargo build --workspace --all-targets

step "rust: tests"
cargo test --workspace 2>&1 | tee -a "$log"

step "interop: DuckDB reads the segments"
GLASSHOUSE_BIN="$target_dir/debug/glasshouse" python3 tests/interop/run.py 2>&1 | tee -a "$log"

step "browser: console in headless Chromium"
mkdir -p "$GLASSHOUSE_ARTIFACTS"
(cd console && GLASSHOUSE_BIN="$target_dir/debug/glasshouse" node --test tests/) 2>&1 | tee -a "$log"

step "fuzz: every decoder of outside bytes, briefly (scripts/fuzz.sh; longer runs: fuzz/README.md)"
FUZZ_SEED=1 bash scripts/fuzz.sh 10

step "dependencies: RustSec advisories (offline copy)"
bash scripts/check-deps.sh

# One closing line over every runner: cargo's "test result" lines and node's "# pass/# fail".
awk '
  /^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
  /^# pass / { p += $3 } /^# fail / { f += $3 }
  END { printf "all tests: %d passed, %d failed\n", p, f; exit (f > 0) }
' "$log"
echo "screenshots: $GLASSHOUSE_ARTIFACTS"
