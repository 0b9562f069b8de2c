#!/usr/bin/env python3
"""Peer comparison for investigation queries: Glasshouse against DuckDB and chdb (ClickHouse
in-process) over the same Parquet segments, and PostgreSQL + PostGIS over the same rows loaded with
GiST (on geography, or planar points in the city's UTM zone) and B-tree indexes. Run by hand, not in CI:

    bench/peers.py --sizes 1000000,10000000,100000000 --work /var/tmp/gh-bench

For each size it generates the data set once (`glasshouse-bench generate`; build it with `cargo build --release -p glasshouse-bench`), times every engine in
the same run, and prints one JSON line per (size, engine, query) plus a Markdown table of medians and
ratios (peer time / Glasshouse time) for BENCHMARKS.md. Needs: the duckdb, chdb and psycopg Python
packages, and the postgresql-15-postgis-3 Debian package on the local PostgreSQL.

Queries (parameters come from the generator's queries.json, so every engine answers the same thing):
  exact_plate     every read of one plate over the whole period (20 plates)
  wildcard_plate  a pattern like AB?12* over the whole period (5 patterns)
  wildcard_count  how many reads match such a pattern (DESIGN §9's wildcard row)
  infix_count     the same for patterns that fix no prefix: ABC1234 gives *BC?23* (5 patterns)
  area_300m_1h    reads within 300 m of a point in one hour (20 circles)
  hourly_cells    reads per hour and per ~500 m cell for one day (Glasshouse: its SQL engine, in process)
Every engine materialises its full result, as Glasshouse does (a count is one row).
"""

import argparse
import json
import math
import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def like(pattern):
    return pattern.replace("?", "_").replace("*", "%")


def infix(plates):
    # As glasshouse-bench's infix_patterns.
    return [f"*{p[1:3]}?{p[4:6]}*" for p in plates[:5]]


def box(area):
    dlat = area["radius_m"] / 111_195.0
    dlon = dlat / math.cos(math.radians(area["lat"]))
    return area["lat"] - dlat, area["lat"] + dlat, area["lon"] - dlon, area["lon"] + dlon


def iso(ts):
    return ts.replace("T", " ").replace("Z", "")


def timed(run, repeat):
    run()  # warm-up, as Glasshouse's runner does
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        run()
        samples.append((time.perf_counter() - t) * 1e3)
    return statistics.median(samples)


def distance_sql(area):
    # Equirectangular distance in metres: exact enough at 300 m, and the same formula in every SQL engine.
    return (f"sqrt(pow((lat - {area['lat']}) * 111195.0, 2) + "
            f"pow((lon - {area['lon']}) * 111195.0 * {math.cos(math.radians(area['lat']))}, 2)) <= {area['radius_m']}")


class DuckDb:
    name = "duckdb"

    def __init__(self, glob):
        import duckdb
        self.db = duckdb.connect()
        self.db.execute(f"CREATE VIEW reads AS SELECT * FROM read_parquet('{glob}')")

    def load_seconds(self):
        return 0.0

    def run(self, sql):
        return self.db.execute(sql).fetchall()

    def ts(self, t):
        return f"TIMESTAMPTZ '{iso(t)}+00'"

    def hourly(self, q):
        return (f"SELECT date_trunc('hour', observed_at) AS h, floor(lat / 0.0045) AS cy, floor(lon / 0.009) AS cx, count(*) "
                f"FROM reads WHERE observed_at >= {self.ts(q['day'][0])} AND observed_at < {self.ts(q['day'][1])} GROUP BY ALL")


class Chdb:
    name = "chdb"

    def __init__(self, glob):
        import chdb
        self.chdb = chdb
        self.source = f"file('{glob}', Parquet)"

    def load_seconds(self):
        return 0.0

    def run(self, sql):
        return self.chdb.query(sql.replace("FROM reads", f"FROM {self.source}"), "CSV").bytes()

    def ts(self, t):
        return f"toDateTime64('{iso(t)}', 6, 'UTC')"

    def hourly(self, q):
        return (f"SELECT toStartOfHour(observed_at) AS h, floor(lat / 0.0045) AS cy, floor(lon / 0.009) AS cx, count() "
                f"FROM reads WHERE observed_at >= {self.ts(q['day'][0])} AND observed_at < {self.ts(q['day'][1])} GROUP BY h, cy, cx")


class PostGis:
    name = "postgis"

    def __init__(self, glob, limit_seconds, work, lon, points):
        import duckdb
        import psycopg
        self.conn = psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True)
        started = time.perf_counter()
        # Positions as geography (as DESIGN §9 describes the peer), or with `--postgis-points planar`
        # as points in the city's UTM zone (metres), whose GiST index PostGIS builds by sorting.
        self.planar = points == "planar"
        self.srid = 32600 + int((lon + 180) // 6) + 1
        geom = (f"geometry(Point, {self.srid}) GENERATED ALWAYS AS (ST_Transform(ST_SetSRID(ST_MakePoint(lon, lat), 4326), {self.srid}))"
                if self.planar else "geography(Point, 4326) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography)")
        c = self.conn.cursor()

        def step(sql):
            left = limit_seconds - (time.perf_counter() - started)
            if left <= 0:
                raise TimeoutError("PostGIS load exceeded its time limit")
            c.execute(f"SET statement_timeout = {int(left * 1000)}")
            try:
                c.execute(sql)
            except psycopg.errors.QueryCanceled as e:
                raise TimeoutError("PostGIS load exceeded its time limit") from e

        step("CREATE EXTENSION IF NOT EXISTS postgis")
        step("SET maintenance_work_mem = '2GB'")
        step("DROP TABLE IF EXISTS gh_reads")
        step("CREATE UNLOGGED TABLE gh_reads (id text, device_id text, observed_at timestamptz, lat float8, lon float8, "
             f"plate text, geom {geom} STORED)")
        # The same rows, written by DuckDB from the Parquet files as CSV and read by the server's COPY.
        csv = pathlib.Path(work) / "postgis-load.csv"
        try:
            duckdb.connect().execute(f"COPY (SELECT id, device_id, observed_at, lat, lon, plate FROM read_parquet('{glob}')) "
                                     f"TO '{csv}' (FORMAT csv, HEADER false)")
            os.chmod(csv, 0o644)
            step(f"COPY gh_reads (id, device_id, observed_at, lat, lon, plate) FROM '{csv}' WITH (FORMAT csv)")
        finally:
            csv.unlink(missing_ok=True)
        step("CREATE INDEX ON gh_reads USING gist (geom)")
        step("CREATE INDEX ON gh_reads (plate text_pattern_ops, observed_at)")
        step("CREATE INDEX ON gh_reads (observed_at)")
        step("VACUUM ANALYZE gh_reads")
        c.execute("SET statement_timeout = 0")
        self.loaded = time.perf_counter() - started

    def load_seconds(self):
        return self.loaded

    def run(self, sql):
        with self.conn.cursor() as c:
            c.execute(sql.replace("FROM reads", "FROM gh_reads"))
            return c.fetchall()

    def ts(self, t):
        return f"TIMESTAMPTZ '{iso(t)}+00'"

    def area_sql(self, area):
        point = f"ST_SetSRID(ST_MakePoint({area['lon']}, {area['lat']}), 4326)"
        point = f"ST_Transform({point}, {self.srid})" if self.planar else f"{point}::geography"
        return (f"SELECT * FROM reads WHERE observed_at >= {self.ts(area['from'])} AND observed_at < {self.ts(area['to'])} "
                f"AND ST_DWithin(geom, {point}, {area['radius_m']})")

    def hourly(self, q):
        return (f"SELECT date_trunc('hour', observed_at) AS h, floor(lat / 0.0045) AS cy, floor(lon / 0.009) AS cx, count(*) "
                f"FROM reads WHERE observed_at >= {self.ts(q['day'][0])} AND observed_at < {self.ts(q['day'][1])} GROUP BY 1, 2, 3")


def sql_queries(engine, q):
    period = f"observed_at >= {engine.ts(q['period'][0])} AND observed_at < {engine.ts(q['period'][1])}"
    out = {
        "exact_plate": [f"SELECT * FROM reads WHERE plate = '{p}' AND {period}" for p in q["exact"]],
        "wildcard_plate": [f"SELECT * FROM reads WHERE plate LIKE '{like(p)}' AND {period}" for p in q["wildcard"]],
        "wildcard_count": [f"SELECT count(*) FROM reads WHERE plate LIKE '{like(p)}' AND {period}" for p in q["wildcard"]],
        "infix_count": [f"SELECT count(*) FROM reads WHERE plate LIKE '{like(p)}' AND {period}" for p in infix(q["exact"])],
        "hourly_cells": [engine.hourly(q)],
    }
    areas = []
    for a in q["areas"]:
        if hasattr(engine, "area_sql"):
            areas.append(engine.area_sql(a))
        else:
            lat0, lat1, lon0, lon1 = box(a)
            areas.append(f"SELECT * FROM reads WHERE observed_at >= {engine.ts(a['from'])} AND observed_at < {engine.ts(a['to'])} "
                         f"AND lat BETWEEN {lat0} AND {lat1} AND lon BETWEEN {lon0} AND {lon1} AND {distance_sql(a)}")
    out["area_300m_1h"] = areas
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--work", default="/var/tmp/glasshouse-bench")
    parser.add_argument("--bin", default=str(ROOT / "target/release/glasshouse-bench"))
    parser.add_argument("--engines", default="duckdb,chdb,postgis")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgis-load-limit-s", type=float, default=3600)
    parser.add_argument("--postgis-points", choices=["geography", "planar"], default="geography")
    parser.add_argument("--data-dir", help="time this data directory (with its queries.json, e.g. the node that "
                        "`glasshouse bench city` loaded) instead of generating one per size")
    args = parser.parse_args()
    results = []
    if args.data_dir:
        data = pathlib.Path(args.data_dir)
        targets = [(json.loads((data / "queries.json").read_text())["reads"], data)]
    else:
        targets = [(int(s), pathlib.Path(args.work) / f"reads-{s}") for s in args.sizes.split(",")]
    for size, data in targets:
        if not (data / "queries.json").exists():
            t = time.perf_counter()
            out = subprocess.run([args.bin, "generate", "--data-dir", str(data), "--reads", str(size)],
                                 check=True, capture_output=True, text=True).stdout
            gen = json.loads(out.strip().splitlines()[-1])
            print(json.dumps({"size": size, "generate": gen, "seconds": time.perf_counter() - t}), flush=True)
        q = json.loads((data / "queries.json").read_text())
        glob = str(data / "segments" / "kind=plate_read" / "*" / "*.parquet")
        ours = json.loads(subprocess.run([args.bin, "search", "--data-dir", str(data), "--repeat", str(args.repeat)],
                                         check=True, capture_output=True, text=True).stdout)
        for query, figures in ours.items():
            results.append({"size": size, "engine": "glasshouse", "query": query, "median_ms": figures["median_ms"], "rows": figures["rows"]})
            print(json.dumps(results[-1]), flush=True)
        for name in [e for e in args.engines.split(",") if e]:
            try:
                engine = {"duckdb": lambda: DuckDb(glob), "chdb": lambda: Chdb(glob),
                          "postgis": lambda: PostGis(glob, args.postgis_load_limit_s, args.work, q["areas"][0]["lon"], args.postgis_points)}[name]()
            except TimeoutError as e:
                results.append({"size": size, "engine": name, "error": str(e)})
                print(json.dumps(results[-1]), flush=True)
                continue
            for query, sqls in sql_queries(engine, q).items():
                medians = [timed(lambda s=s: engine.run(s), args.repeat) for s in sqls]
                results.append({"size": size, "engine": name, "query": query, "median_ms": statistics.median(medians),
                                "load_s": engine.load_seconds()})
                print(json.dumps(results[-1]), flush=True)
    print_table(results)


def print_table(results):
    by = {(r["size"], r["engine"], r.get("query")): r for r in results if "median_ms" in r}
    sizes = sorted({r["size"] for r in results})
    engines = ["glasshouse", "duckdb", "chdb", "postgis"]
    print("\n| reads | query | " + " | ".join(engines) + " | ratios (peer / glasshouse) |")
    print("|---|---|" + "---|" * (len(engines) + 1))
    for size in sizes:
        for query in ["exact_plate", "wildcard_plate", "wildcard_count", "infix_count", "area_300m_1h", "hourly_cells", "tolerant_plate"]:
            cells, ratios = [], []
            ours = by.get((size, "glasshouse", query))
            for e in engines:
                r = by.get((size, e, query))
                cells.append(f"{r['median_ms']:.2f} ms" if r else "–")
                if r and ours and e != "glasshouse":
                    ratios.append(f"{e} {r['median_ms'] / ours['median_ms']:.1f}×")
            print(f"| {size:,} | {query} | " + " | ".join(cells) + " | " + ", ".join(ratios) + " |")


if __name__ == "__main__":
    sys.exit(main())
