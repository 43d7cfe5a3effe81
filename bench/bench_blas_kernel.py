"""Benchmark: the same experiment and seeds trained under two OpenBLAS kernels: bitwise apart, statistically equal.

    python bench/bench_blas_kernel.py [--seeds 3] [--other Sandybridge] [--epochs 6]

A seed reproduces a run bitwise only on the same CPU and library stack: another
machine's BLAS picks other kernels, their rounding differs, and so does every
training trajectory.  This runs that experiment on one machine: a small LSTM on
a synthetic dataset (1,000 training images), trained and scored with the
workflow's own steps, once with OpenBLAS's default kernel for this CPU and once
with ``OPENBLAS_CORETYPE=<other>`` set in those processes only.  It reports how
far the parameters and scores moved, and the two-level paired comparison of the
two sets of seeds on the same test images: its interval should hold 0.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

EXPERIMENT = {
    "name": "lstm",
    "cell_type": "lstm",
    "wordvec_dim": 32,
    "hidden_dim": 64,
    "learning_rate": 1e-2,
    "batch_size": 50,
    "eval_images": 100,
    "beam_width": 1,
}


def worker(data: str, out: str, seed: int, epochs: int) -> dict:
    """Train and score one seed in this process (its BLAS kernel chosen by the environment)."""
    from captioning.pipeline.score import ScoreFiles, ScoreSettings, score_run
    from captioning.pipeline.train import train_run
    from captioning.provenance import numerics
    from captioning.threads import configure_threads

    configure_threads(1)
    run = Path(out)
    tracking = {"tracking_uri": f"sqlite:///{run.parent / 'mlflow.db'}", "experiment": "blas-kernels"}
    exp = {**EXPERIMENT, "num_epochs": epochs}
    train_run(data, exp, seed, tracking, run, progress=False)
    files = ScoreFiles(run / "scores.json", run / "image_scores.npz", run / "samples.json")
    score_run(data, run / "model.npz", exp, run / "run.json", files, ScoreSettings(n_samples=4))
    return {"kernel": numerics()["blas_kernel"]}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--other", default="Sandybridge", help="the OPENBLAS_CORETYPE of the second set of runs")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        data, out, seed, epochs = args.worker
        print(json.dumps(worker(data, out, int(seed), int(epochs))))
        return

    from captioning.data import pca, synthetic
    from captioning.pipeline.records import ImageScores, Scores
    from captioning.provenance import describe, numerics
    from captioning.uncertainty import paired_difference

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        synthetic.generate(data, synthetic.SyntheticConfig(n_train=1000, n_val=100, n_test=300), progress=False)
        pca.prepare_pca(data, dim=64, progress=False)
        base = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
        kernels, stats, scores, params = {}, {}, {}, {}
        for label, env in (("default", base), ("other", {**base, "OPENBLAS_CORETYPE": args.other})):
            runs = []
            for seed in range(args.seeds):
                out = Path(tmp) / label / f"seed{seed}"
                cmd = [sys.executable, __file__, "--worker", str(data), str(out), str(seed), str(args.epochs)]
                res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
                kernels[label] = json.loads(res.stdout.splitlines()[-1])["kernel"]
                runs.append(out)
            stats[label] = np.stack([ImageScores.read(r / "image_scores.npz").stats["greedy"] for r in runs])
            scores[label] = [Scores.read(r / "scores.json").decoders["greedy"] for r in runs]
            params[label] = [np.load(r / "model.npz")["params/Wh"] for r in runs]
    moved = max(float(np.abs(a - b).max()) for a, b in zip(params["default"], params["other"], strict=True))
    print(f"machine: {describe(numerics())}\n")
    print(f"{args.seeds} seeds, {args.epochs} epochs each; kernels: {kernels['default']} vs {kernels['other']}\n")
    print("| seed | BLEU-4 default | BLEU-4 other | CIDEr-D default | CIDEr-D other |")
    print("|---|---:|---:|---:|---:|")
    for s in range(args.seeds):
        a, b = scores["default"][s], scores["other"][s]
        print(f"| {s} | {a['BLEU-4']:.4f} | {b['BLEU-4']:.4f} | {a['CIDEr-D']:.4f} | {b['CIDEr-D']:.4f} |")
    d = paired_difference(stats["default"], stats["other"], seed=0).as_dict()
    print(f"\n* largest |Wh| difference after training: {moved:.2e} (bitwise equal: {moved == 0})")
    for m in ("BLEU-4", "CIDEr-D"):
        inside = d[f"{m}_lo"] <= 0 <= d[f"{m}_hi"]
        print(
            f"* default minus other, {m}: {d[m]:+.4f} [{d[f'{m}_lo']:+.4f}, {d[f'{m}_hi']:+.4f}], "
            f"p {d[f'{m}_p']:.3f}; 0 inside the interval: {inside}"
        )


if __name__ == "__main__":
    main()
