"""Benchmark: the default workflow, `snakemake --cores 8`, in a fresh copy of the project.

    python bench/bench_workflow.py [--cores 8] [--keep DIR]

Copies the workflow's files (Snakefile, config, workflow, profiles) into an empty
directory, so no earlier data, run or MLflow store is reused, and runs Snakemake
there as a user does after `make setup`. It prints the wall time of the whole
command (Snakemake's start-up included), the runs and jobs, and where the time
went by rule, from the jobs' ``benchmark:`` files (``bench/workflow_times.py``).
Snakemake's own progress goes to stderr.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from project import clean_env, copy_project  # noqa: E402  (the test suite's project copy)
from workflow_times import jobs, rule_table, summary  # noqa: E402

from captioning.provenance import describe, numerics  # noqa: E402

OUTPUTS = {"data", "runs", "results", "logs", "benchmarks", "mlflow.db", "mlartifacts"}  # what a run writes


def size_gb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and not p.is_symlink()]
    return sum(f.stat().st_size for f in files) / 1e9


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cores", type=int, default=8)
    ap.add_argument("--keep", type=Path, help="run in this (new) directory and keep it, instead of a temporary one")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-workflow-") as tmp:
        work = copy_project(args.keep or Path(tmp))
        cmd = [sys.executable, "-m", "snakemake", "--cores", str(args.cores)]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, cwd=work, env=clean_env(work), stdout=sys.stderr)
        wall = time.perf_counter() - t0
        if done.returncode:
            raise SystemExit(f"bench_workflow: `snakemake --cores {args.cores}` failed (its log is above)")
        df = jobs(work / "benchmarks")
        trainings = int((df["rule"] == "train").sum())
        written = {name: size_gb(work / name) for name in sorted(OUTPUTS) if (work / name).exists()}
    minutes, seconds = divmod(round(wall), 60)
    print(f"machine: {describe(numerics())}\n")
    print(
        f"`snakemake --cores {args.cores}` in a fresh copy of the project: {trainings} trainings, "
        f"{minutes} min {seconds} s of wall time; {summary(df)}.\n"
    )
    print(rule_table(df))
    parts = ", ".join(f"{name} {gb:.2f}" for name, gb in written.items())
    print(f"\nDisk: {sum(written.values()):.2f} GB written ({parts})")


if __name__ == "__main__":
    main()
