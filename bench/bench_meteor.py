"""Benchmark: METEOR 1.5's cost, per start of its jar and per 1,000 captions, against pycocoevalcap's wrapper.

    python bench/bench_meteor.py [--captions 1000] [--repeats 3]

METEOR runs in Java (pycocoevalcap's meteor-1.5.jar), so the workflow starts it once per
sweep (the meteor step), not once per run.  This times ``captioning.meteor.meteor_stats``
on the synthetic data's standard and memory captions: a jar started for one caption, and
one for ``--captions`` more; the difference is the captions' own cost.  pycocoevalcap's
``Meteor`` scores the same captions in the same run, in a clean process that imports
nothing of this project (``bench/meteor_worker.py``), so the ratio compares like with like.
Medians of ``--repeats``; the JVM's peak memory is the largest child process's.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_metrics import corpus  # beside this script

from captioning.meteor import java, meteor_from_sums, meteor_stats

WORKER = Path(__file__).with_name("meteor_worker.py")


def ours(refs: dict, hyps: dict, repeats: int) -> tuple[float, float, float]:
    """Median seconds of a jar scoring one caption and of one scoring all; the corpus METEOR."""
    one = {0: hyps[0]}
    start, full = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        meteor_stats(refs, [one])
        t1 = time.perf_counter()
        stats = meteor_stats(refs, [hyps])[0]
        full.append(time.perf_counter() - t1)
        start.append(t1 - t0)
    return float(np.median(start)), float(np.median(full)), float(meteor_from_sums(stats.sum(axis=0)))


def reference(refs: dict, hyps: dict, repeats: int) -> dict:
    """pycocoevalcap in a clean process: median start and compute_score seconds, the score."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corpus.json"
        path.write_text(json.dumps({"refs": refs, "hyps": hyps}))
        runs = []
        for _ in range(repeats):
            out = subprocess.run([sys.executable, str(WORKER), str(path)], capture_output=True, text=True, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {
        "start": float(np.median([r["start"] for r in runs])),
        "seconds": float(np.median([r["seconds"] for r in runs])),
        "METEOR": runs[0]["METEOR"],
        "imported_ours": runs[0]["imported_ours"],
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--captions", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    if java() is None:
        raise SystemExit("bench_meteor: METEOR needs Java (apt-get install default-jre-headless)")
    from captioning.provenance import describe, numerics

    print(f"machine: {describe(numerics())}\n")
    per_1000 = {}
    for style in ("standard", "memory"):
        refs, hyps = corpus(args.captions, style=style)
        start, full, score = ours(refs, hyps, args.repeats)
        ref = reference(refs, hyps, args.repeats)
        words = np.mean([len(h.split()) for h in hyps.values()])
        per_1000[style] = (full - start) * 1000 / args.captions
        theirs = (ref["seconds"]) * 1000 / args.captions
        loaded = ", ".join(ref["imported_ours"]) or "none"
        print(
            f"{style} captions ({words:.1f} words, 5 references each), {args.captions} captions: "
            f"captioning.meteor {per_1000[style]:.2f} s per 1,000 (METEOR {score:.4f}); pycocoevalcap "
            f"{theirs:.2f} s per 1,000 (METEOR {ref['METEOR']:.4f}; clean process, modules of this project "
            f"loaded: {loaded}): {per_1000[style] / theirs:.2f}x its time\n"
        )
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6
    print(f"jar start (JVM and paraphrase table, first answer): {start:.1f} s; pycocoevalcap {ref['start']:.1f} s\n")
    print(
        f"summary: one jar per sweep costs {start:.1f} s and {rss:.1f} GB, then {per_1000['standard']:.2f} s per "
        f"1,000 standard captions and {per_1000['memory']:.2f} s per 1,000 memory captions"
    )


if __name__ == "__main__":
    main()
