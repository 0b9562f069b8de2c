#!/usr/bin/env bash
# Throughput of each source against one release server, in one run: our NDJSON over HTTP, OpenALPR
# webhooks over HTTP (with and without crops), MQTT at QoS 1 and a JetStream consumer, each
# acknowledged only once durable (fsync per group). Needs Mosquitto on 127.0.0.1:1883 and NATS with
# JetStream on 127.0.0.1:4222. Run by hand (not in CI); BENCHMARKS.md keeps the figures.
#
#   bench/feeds.sh [--records 50000] [--batch 500]
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release -p glasshouse -p glasshouse-bench
bin="$target_dir/release"
dir=$(mktemp -d)
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$dir"' EXIT
token() { "$bin/glasshouse" token create --data-dir "$dir/data" --name "bench-$1" --role "$1" | tail -1; }
admin=$(token administrator); ingest=$(token ingest); analyst=$(token analyst)
run=$$
"$bin/glasshouse" serve --data-dir "$dir/data" --listen 127.0.0.1:0 \
  --mqtt 127.0.0.1:1883 --mqtt-topic "glasshouse/bench/$run" --mqtt-client-id "gh-bench-$run" \
  --nats nats://127.0.0.1:4222 --nats-stream "GH_BENCH_$run" --nats-subject "glasshouse.bench.$run" \
  --nats-consumer "gh-bench-$run" > "$dir/serve.out" 2> "$dir/serve.err" &
server=$!
for _ in $(seq 1 100); do grep -q "listening on" "$dir/serve.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^glasshouse listening on //p' "$dir/serve.out")
"$bin/glasshouse-bench" feeds --url "$url" --admin-token "$admin" --ingest-token "$ingest" --status-token "$analyst" \
  --mqtt 127.0.0.1:1883 --mqtt-topic "glasshouse/bench/$run" \
  --nats nats://127.0.0.1:4222 --nats-subject "glasshouse.bench.$run" --nats-stream "GH_BENCH_$run" "$@"
