#!/usr/bin/env bash
# The whole-system benchmark of a big city's month (DESIGN §9): `glasshouse bench city` writes the
# month and loads it through the real path with the rules live, then measures start-up against an
# empty node and alert latency under a steady HTTP load; `glasshouse-bench search` and DuckDB then
# time the investigation queries over the loaded node's segments, in the same run. Run by hand
# (not in CI); BENCHMARKS.md keeps the figures. The NYC month needs about 20 GB of free disk for
# its NDJSON and 3 GB for the node. Needs the duckdb Python package.
#
#   bench/city.sh WORK_DIR [glasshouse bench city options, e.g. --days 1]
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:?usage: bench/city.sh WORK_DIR [options]}
shift
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release -p glasshouse -p glasshouse-bench
bin="$target_dir/release"
mkdir -p "$work"
free -g | sed -n 2p | awk '{print "# memory: " $2 " GiB"}'
lscpu | sed -n 's/^Model name: *//p; s/^L3 cache: *//p' | sed 's/^/# cpu: /'
"$bin/glasshouse" bench city --work "$work" "$@" > "$work/city.json"
python3 -c 'import duckdb' 2>/dev/null || python3 -m pip install --quiet 'duckdb==2.0.1'
python3 bench/peers.py --data-dir "$work/node" --bin "$bin/glasshouse-bench" --engines duckdb --repeat 5 | tee "$work/queries.out"
python3 - "$work/city.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
load, disk, start, lat = r["load"], r["disk"], r["start_up"], r["latency"]
print("\n| measure | value |\n|---|---|")
print(f"| records loaded | {load['accepted']:,} ({r['city']['plate_reads']:,} plate reads) in {load['seconds']:.0f} s |")
print(f"| ingest rate | {load['records_per_s']:,.0f} records/s ({load['plate_reads_per_s']:,.0f} plate reads/s) |")
print(f"| alerts raised | {load['alerts']:,} ({', '.join(f'{k} {v:,}' for k, v in load['alerts_by_family'].items())}), {load['repeats']:,} repeats folded |")
print(f"| peak RSS during the load | {load['peak_rss_bytes'] / 2**30:.2f} GiB |")
print(f"| disk per plate read (segments and indexes) | {disk['bytes_per_plate_read']:.1f} bytes |")
nodes = ["loaded", "rules_only", "empty"]
print("| start-up, loaded / same rules, no history / empty (median) | " + " / ".join(f"{start[n]['median_ms']:.0f} ms" for n in nodes) + " |")
print("| idle RSS, loaded / same rules, no history / empty | " + " / ".join(f"{start[n]['idle_rss_bytes'] / 2**20:.0f} MiB" for n in nodes) + " |")
s, a = lat["sent_to_stream_ms"], lat["acknowledged_to_stream_ms"]
print(f"| latency run | {lat['rate_achieved']:,.0f} of {lat['rate_target']:,} records/s, {lat['probes_alerted']} of {lat['probes_sent']} probe alerts |")
print(f"| sent → on the stream (p50 / p99 / max) | {s['p50']:.1f} / {s['p99']:.1f} / {s['max']:.1f} ms |")
print(f"| acknowledged → on the stream (p50 / p99 / max) | {a['p50']:.1f} / {a['p99']:.1f} / {a['max']:.1f} ms |")
PY
