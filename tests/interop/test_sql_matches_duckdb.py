"""The analysts' SQL endpoint gives the same figures as DuckDB over the same Parquet files: ingest
counts per hour and per cell from the simulated city, and the Toronto incidents by type and hour.

Run by scripts/test.sh with GLASSHOUSE_BIN set; needs the Toronto CSV from ../shared/data.
"""

import json
import os
import pathlib
import subprocess
import tempfile
import unittest
import urllib.error
import urllib.request

import duckdb

BIN = os.environ.get("GLASSHOUSE_BIN", "target/debug/glasshouse")
SHARED = pathlib.Path(os.environ.get("GLASSHOUSE_SHARED_DATA", pathlib.Path(__file__).resolve().parents[3] / "shared" / "data"))
TORONTO = SHARED / "toronto" / "mci-incidents.csv"


class SqlMatchesDuckDb(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not TORONTO.exists():
            raise unittest.SkipTest(f"{TORONTO} is absent (set GLASSHOUSE_SHARED_DATA to the shared data folder)")
        cls.tmp = tempfile.TemporaryDirectory()
        root = pathlib.Path(cls.tmp.name)
        data = root / "data"
        city = root / "city.ndjson"
        run = lambda *args: subprocess.run([BIN, *args], check=True, capture_output=True, text=True).stdout
        run("sim", "--city", "grid:12x12", "--vehicles", "200", "--readers", "20", "--out", str(city), "--duration-mins", "90", "--seed", "5")
        run("ingest", str(city), "--devices", f"{city}.devices.json", "--data-dir", str(data))
        run("ingest", str(TORONTO), "--format", "toronto-mci", "--data-dir", str(data))
        cls.sim_incidents = sum(1 for line in city.read_text().splitlines() if '"kind":"incident"' in line)
        cls.analyst = run("token", "create", "--data-dir", str(data), "--name", "ana", "--role", "analyst").strip().splitlines()[-1]
        cls.investigator = run("token", "create", "--data-dir", str(data), "--name", "ivan", "--role", "investigator").strip().splitlines()[-1]
        cls.server = subprocess.Popen([BIN, "serve", "--data-dir", str(data), "--listen", "127.0.0.1:0"],
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        cls.base = cls.server.stdout.readline().strip().removeprefix("glasshouse listening on ")
        cls.segments = data / "segments"
        cls.db = duckdb.connect()
        cls.db.execute("SET TimeZone = 'UTC'")

    @classmethod
    def tearDownClass(cls):
        cls.server.terminate()
        cls.server.wait()
        cls.db.close()
        cls.tmp.cleanup()

    def sql(self, query, token=None):
        request = urllib.request.Request(f"{self.base}/v1/sql", data=json.dumps({"sql": query}).encode(), method="POST",
                                         headers={"Authorization": f"Bearer {token or self.analyst}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def duck(self, query, kind):
        files = f"read_parquet('{self.segments}/kind={kind}/*/*.parquet')"
        return [list(row) for row in self.db.execute(query.replace("TABLE", files)).fetchall()]

    def test_plate_reads_per_hour_and_cell(self):
        query = ("SELECT cast(date_part('epoch', date_trunc('hour', observed_at)) AS bigint) AS h, "
                 "cast(floor(lat / 0.01) AS bigint) AS cy, cast(floor(lon / 0.01) AS bigint) AS cx, count(*) AS n "
                 "FROM {} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")
        status, answer = self.sql(query.format("plate_reads"))
        self.assertEqual(status, 200, answer)
        expected = self.duck(query.format("TABLE"), "plate_read")
        self.assertGreater(len(expected), 10)
        self.assertEqual(answer["rows"], expected)
        self.assertIsInstance(answer["audit_seq"], int)

    def test_toronto_incidents_by_type_and_hour(self):
        query = ("SELECT type_code, cast(date_part('hour', observed_at) AS bigint) AS hr, count(*) AS n "
                 "FROM {} GROUP BY 1, 2 ORDER BY 1, 2")
        status, answer = self.sql(query.format("incidents"))
        self.assertEqual(status, 200, answer)
        expected = self.duck(query.format("TABLE"), "incident")
        self.assertEqual(sum(row[2] for row in expected), 210950 + self.sim_incidents, "every loaded incident is counted")
        self.assertEqual(answer["rows"], expected)

    def test_rows_and_plates_are_refused_and_only_analysts_may_ask(self):
        status, answer = self.sql("SELECT * FROM plate_reads")
        self.assertEqual((status, answer.get("field")), (403, "sql"), answer)
        status, answer = self.sql("SELECT count(DISTINCT plate) FROM plate_reads")
        self.assertEqual(status, 400, answer)
        status, _ = self.sql("SELECT count(*) FROM plate_reads", token=self.investigator)
        self.assertEqual(status, 403)


if __name__ == "__main__":
    unittest.main()
