"""Benchmark: how many tests the suite runs, how long it takes, and where the time goes.

    python bench/bench_tests.py [--all]

Runs `make test-fast`'s selection (the tests not marked ``slow``), or with
``--all`` the whole suite, in this checkout, exactly as the Makefile runs it
(``pytest -n 3 --dist loadgroup``), and prints from pytest's JUnit report the
counts and the wall time, the 15 slowest tests and the time per test file. A
test's time is its setup, call and teardown; a fixture shared by several tests
(the session's smoke run, SLURM) counts for the test that started it. Three
workers run at once, so the per-test times add up to more than the wall time.
A failed test fails the benchmark: a figure is only published for a green
suite. Set ``CI=true``, as CI does when it runs ``.ci/run``, so that a test
missing a service fails instead of skipping.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from captioning.provenance import describe, numerics  # noqa: E402

PYTEST = ["-n", "3", "--dist", "loadgroup"]  # the Makefile's PYTEST
SLOWEST = 15


def makefile_pytest_args() -> list[str]:
    """The pytest options of the Makefile's PYTEST line (checked, so the two cannot drift apart)."""
    line = next(x for x in (ROOT / "Makefile").read_text().splitlines() if x.startswith("PYTEST :="))
    args = line.split("-m pytest", 1)[1].split()
    if args != PYTEST:
        raise SystemExit(f"bench_tests: the Makefile runs pytest with {args}, this benchmark with {PYTEST}")
    return args


def cases(report: Path) -> list[dict]:
    """Every test case of a JUnit report: file, name, seconds, and whether it was skipped."""
    out = []
    for case in ET.parse(report).getroot().iter("testcase"):
        module = next(p for p in case.get("classname").split(".") if p.startswith("test_"))  # tests.test_x[.Class]
        out.append(
            {
                "file": f"{module}.py",
                "name": case.get("name"),
                "seconds": float(case.get("time", 0)),
                "skipped": case.find("skipped") is not None,
            }
        )
    return out


def _time(seconds: float) -> str:
    minutes, s = divmod(round(seconds), 60)
    return f"{minutes} min {s} s" if minutes else f"{s} s"


def report_tables(found: list[dict], target: str, wall: float) -> str:
    skipped = sum(c["skipped"] for c in found)
    lines = [
        "| command | tests | passed | skipped | wall time |",
        "|---|---:|---:|---:|---:|",
        f"| `{target}` | {len(found)} | {len(found) - skipped} | {skipped} | {_time(wall)} |",
        "",
        f"The {SLOWEST} slowest tests (setup, call and teardown):",
        "",
        "| test | time |",
        "|---|---:|",
    ]
    for c in sorted(found, key=lambda c: -c["seconds"])[:SLOWEST]:
        lines.append(f"| `{c['file']}::{c['name']}` | {c['seconds']:.0f} s |")
    per_file = defaultdict(lambda: [0, 0.0])
    for c in found:
        per_file[c["file"]][0] += 1
        per_file[c["file"]][1] += c["seconds"]
    lines += ["", "Time per file (the sum of its tests' times):", "", "| file | tests | time |", "|---|---:|---:|"]
    for name, (n, seconds) in sorted(per_file.items(), key=lambda kv: -kv[1][1]):
        lines.append(f"| `{name}` | {n} | {seconds:.0f} s |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--all", action="store_true", help="the whole suite (`make test`), not only `make test-fast`'s")
    args = ap.parse_args(argv)
    target, select = ("make test", []) if args.all else ("make test-fast", ["-m", "not slow"])
    with tempfile.TemporaryDirectory(prefix="bench-tests-") as tmp:
        report = Path(tmp) / "junit.xml"
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "pytest", *makefile_pytest_args(), "-q", *select, f"--junitxml={report}"],
            cwd=ROOT,
            stdout=sys.stderr,
        )
        wall = time.perf_counter() - t0
        found = cases(report) if report.exists() else []
    if done.returncode or not found:
        raise SystemExit(f"bench_tests: the suite of `{target}` did not pass (pytest exit {done.returncode})")
    print(f"machine: {describe(numerics())}\n")
    print(report_tables(found, target, wall))


if __name__ == "__main__":
    main()
