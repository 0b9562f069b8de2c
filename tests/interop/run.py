"""Runs the interoperability tests (files that engines other than Glasshouse read) and prints the
totals in the `# pass N` / `# fail N` form that scripts/test.sh adds up."""

import pathlib
import sys
import unittest

here = pathlib.Path(__file__).parent
suite = unittest.defaultTestLoader.discover(str(here), pattern="test_*.py", top_level_dir=str(here))
result = unittest.TextTestRunner(verbosity=2).run(suite)
failed = len(result.failures) + len(result.errors)
skipped = len(result.skipped)
print(f"# pass {result.testsRun - failed - skipped}")
print(f"# fail {failed}")
print(f"# skip {skipped}")
sys.exit(1 if failed else 0)
