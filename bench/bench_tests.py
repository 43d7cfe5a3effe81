"""Benchmark: how many tests the suite runs and how long it takes.

    python bench/bench_tests.py [--all]

Runs `make test-fast`'s selection (the tests not marked ``slow``), or with
``--all`` the whole suite as `make test` does, in this checkout, and prints the
counts and the wall time from pytest's JUnit report. A failed test fails the
benchmark: a figure is only published for a green suite. Set ``CI=true``, as CI does when it runs
``.ci/run``, so that a test missing a service fails instead of skipping.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from captioning.provenance import describe, numerics  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--all", action="store_true", help="the whole suite (`make test`), not only `make test-fast`'s")
    args = ap.parse_args(argv)
    target, select = ("make test", []) if args.all else ("make test-fast", ["-m", "not slow"])
    with tempfile.TemporaryDirectory(prefix="bench-tests-") as tmp:
        report = Path(tmp) / "junit.xml"
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", *select, f"--junitxml={report}"], cwd=ROOT, stdout=sys.stderr
        )
        wall = time.perf_counter() - t0
        suite = ET.parse(report).getroot().find("testsuite") if report.exists() else None
    if done.returncode or suite is None:
        raise SystemExit(f"bench_tests: the suite of `{target}` did not pass (pytest exit {done.returncode})")
    total = int(suite.get("tests"))
    skipped = int(suite.get("skipped"))
    minutes, seconds = divmod(round(wall), 60)
    print(f"machine: {describe(numerics())}\n")
    print("| command | tests | passed | skipped | wall time |\n|---|---:|---:|---:|---:|")
    print(f"| `{target}` | {total} | {total - skipped} | {skipped} | {minutes} min {seconds} s |")


if __name__ == "__main__":
    main()
