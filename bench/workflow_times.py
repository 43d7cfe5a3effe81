"""Where a workflow run's time went, from Snakemake's ``benchmark:`` files.

    python bench/workflow_times.py [benchmarks]

Every rule writes ``<benchmarks_root>/<dataset>/<sweep>/<job>.tsv`` (a data step:
``<benchmarks_root>/<dataset>/<step>.tsv``) when its job ends:
wall seconds ``s`` and peak ``max_rss`` (MB).  A file's modification time is the
job's end, so ``end - s`` is its start: the report puts the jobs on one timeline
(seconds from the first job's start), gives each rule's jobs, summed wall
seconds and peak RSS, and the span from the first start to the last end (the
run's wall time less Snakemake's own start-up).  ``cpu_time`` is left out: it is
sampled while the job runs, and it counted 15 s for a synthetic-data job that
used 42 s of CPU (``/usr/bin/time``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def jobs(root: Path) -> pd.DataFrame:
    """Every job under the benchmarks root ``root``: its name, dataset, rule, wall time, peak RSS, start and end."""
    rows = []
    for path in sorted(root.rglob("*.tsv")):
        tsv = pd.read_csv(path, sep="\t")
        if tsv.empty:
            continue
        end = path.stat().st_mtime
        # <dataset>/<data step>, or <dataset>/<sweep>/<rule>[/<exp>/seed<s>]
        parts = path.relative_to(root).with_suffix("").parts
        wall = float(tsv["s"].iloc[-1])
        rows.append(
            {
                "job": "/".join(parts),
                "dataset": parts[0],
                "rule": parts[1] if len(parts) == 2 else parts[2],
                "wall_s": wall,
                "max_rss_mb": float(tsv["max_rss"].iloc[-1]),
                "start": end - wall,
                "end": end,
            }
        )
    if not rows:
        raise SystemExit(f"workflow_times: no benchmark files (*.tsv) under {root}")
    df = pd.DataFrame(rows)
    t0 = df["start"].min()
    df["start"], df["end"] = df["start"] - t0, df["end"] - t0
    return df.sort_values("start").reset_index(drop=True)


def rule_table(df: pd.DataFrame) -> str:
    """Markdown: each dataset's rules: their jobs, summed wall seconds and the peak RSS of any one of them."""
    by_rule = df.groupby(["dataset", "rule"], sort=False).agg(
        jobs=("job", "size"), wall_s=("wall_s", "sum"), max_rss_mb=("max_rss_mb", "max")
    )
    rows = ["| dataset | rule | jobs | wall (sum) | peak RSS |", "|---|---|---:|---:|---:|"]
    for (dataset, rule), r in by_rule.iterrows():
        rows.append(f"| {dataset} | {rule} | {int(r.jobs)} | {r.wall_s:.0f} s | {r.max_rss_mb / 1024:.2f} GB |")
    return "\n".join(rows)


def summary(df: pd.DataFrame) -> str:
    span = df["end"].max()
    return f"{len(df)} jobs from first start to last end in {span:.0f} s ({span / 60:.1f} min)"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", nargs="?", type=Path, default=Path("benchmarks"), help="the benchmarks root")
    args = ap.parse_args(argv)
    df = jobs(args.root)
    print("| job | start | end | wall | peak RSS |")
    print("|---|---:|---:|---:|---:|")
    for r in df.itertuples():
        print(f"| {r.job} | {r.start:.0f} s | {r.end:.0f} s | {r.wall_s:.0f} s | {r.max_rss_mb / 1024:.2f} GB |")
    print(f"\n{rule_table(df)}\n\nsummary: {summary(df)}")


if __name__ == "__main__":
    main()
