"""Glasshouse segments are plain Parquet: DuckDB reads them as they are, with the hive partitions,
and finds exactly the observations that were loaded.

Run by scripts/test.sh (which installs the duckdb package) with GLASSHOUSE_BIN set to the binary.
"""

import collections
import json
import os
import pathlib
import subprocess
import tempfile
import unittest

import duckdb

BIN = os.environ.get("GLASSHOUSE_BIN", "target/debug/glasshouse")


class DuckDbReadsSegments(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        root = pathlib.Path(cls.tmp.name)
        cls.ndjson = root / "city.ndjson"
        cls.data = root / "data"
        # Ten simulated minutes on a grid city: plate reads, sensor readings, video events.
        subprocess.run(
            [BIN, "sim", "--city", "grid:12x12", "--vehicles", "150", "--readers", "20", "--cameras", "10",
             "--out", str(cls.ndjson), "--duration-mins", "10", "--seed", "11"],
            check=True, capture_output=True)
        subprocess.run(
            [BIN, "ingest", str(cls.ndjson), "--devices", f"{cls.ndjson}.devices.json", "--data-dir", str(cls.data)],
            check=True, capture_output=True)
        cls.loaded = [json.loads(line) for line in cls.ndjson.read_text().splitlines() if line.strip()]
        cls.segments = cls.data / "segments"
        cls.db = duckdb.connect()

    @classmethod
    def tearDownClass(cls):
        cls.db.close()
        cls.tmp.cleanup()

    def glob(self, kind):
        return str(self.segments / f"kind={kind}" / "*" / "*.parquet")

    def test_every_kind_counts_what_was_loaded(self):
        expected = collections.Counter(o["kind"] for o in self.loaded)
        self.assertGreater(expected["plate_read"], 100)
        for kind, count in expected.items():
            (rows,) = self.db.execute(f"SELECT count(*) FROM read_parquet('{self.glob(kind)}')").fetchone()
            self.assertEqual(rows, count, kind)

    def test_hive_partitions_and_typed_columns_come_through(self):
        kinds = {k for (k,) in self.db.execute(
            f"SELECT DISTINCT kind FROM read_parquet('{self.segments}/*/*/*.parquet', hive_partitioning = true, union_by_name = true)"
        ).fetchall()}
        self.assertEqual(kinds, {o["kind"] for o in self.loaded})
        (type_name,) = self.db.execute(
            f"SELECT typeof(observed_at) FROM read_parquet('{self.glob('plate_read')}') LIMIT 1").fetchone()
        self.assertEqual(type_name, "TIMESTAMP WITH TIME ZONE")

    def test_plates_and_times_match_the_input_row_for_row(self):
        want = sorted((o["id"], o["plate"]) for o in self.loaded if o["kind"] == "plate_read")
        got = sorted(self.db.execute(f"SELECT id, plate FROM read_parquet('{self.glob('plate_read')}')").fetchall())
        self.assertEqual(got, want)

    def test_plate_columns_carry_a_bloom_filter_and_row_group_statistics(self):
        rows = self.db.execute(
            f"SELECT path_in_schema, bloom_filter_offset, stats_min, stats_max "
            f"FROM parquet_metadata('{self.glob('plate_read')}')").fetchall()
        plate = [r for r in rows if r[0] == "plate"]
        self.assertTrue(plate and all(r[1] is not None for r in plate), "every plate column chunk has a bloom filter")
        lat = [r for r in rows if r[0] == "lat"]
        self.assertTrue(lat and all(r[2] is not None and r[3] is not None for r in lat), "lat has min/max per row group")
        # Each plate-read segment has its sidecar plate index beside it.
        for parquet in self.segments.glob("kind=plate_read/*/*.parquet"):
            self.assertTrue(parquet.with_suffix(".plates").exists(), parquet)


if __name__ == "__main__":
    unittest.main()
