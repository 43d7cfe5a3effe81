"""Benchmark: the memory benchmark under two OpenBLAS kernels: its runs bitwise apart, its verdict the same.

    python bench/bench_blas_kernel.py [--other Haswell] [--workers 2]

A seed reproduces a run bitwise only on the same CPU and library stack: another
machine's BLAS picks other kernels, their rounding differs, and so does every
training trajectory.  This runs that experiment on one machine: the memory
benchmark (`config/sweep_memory.yaml` on the `memory` data of `config/config.yaml`),
trained and scored with the workflow's own steps, once with OpenBLAS's default
kernel for this CPU and once with ``OPENBLAS_CORETYPE=<other>`` set in those
processes only.  Under each kernel val picks the RNN grid's point, that point
trains its confirmation seeds, and the LSTM is compared with it on the test
images as `summary.md` compares them.  It reports how far the same seed's
parameters moved between the kernels, each kernel's LSTM-minus-best-RNN
difference (it should be significant under both), and the same seeds under the
two kernels against each other (their interval should hold 0).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import yaml
from blas_kernels import OTHER, PINNING

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("BLEU-4", "CIDEr-D")


def worker(data: str, out: str, experiment: str, seed: int, tracking: str) -> dict:
    """Train and score one run in this process (its BLAS kernel chosen by the environment)."""
    from captioning.pipeline.score import ScoreFiles, ScoreSettings, score_run
    from captioning.pipeline.train import train_run
    from captioning.provenance import numerics
    from captioning.threads import configure_threads

    configure_threads(1)
    run, exp = Path(out), json.loads(experiment)
    settings = json.loads(tracking)
    train_run(data, exp, seed, settings, run, progress=False)
    files = ScoreFiles(run / "scores.json", run / "image_scores.npz", run / "samples.json", run / "captions.json")
    score_run(data, run / "model.npz", exp, run / "run.json", files, ScoreSettings(n_samples=4))
    return {"kernel": numerics()["blas_kernel"]}


class Kernel:
    """One kernel's runs of the sweep: training subprocesses with its environment, ``pool`` workers at a time."""

    def __init__(self, label: str, env: dict, data: Path, tmp: Path, tracking: dict, pool: ThreadPoolExecutor):
        self.label, self.env, self.data, self.tmp, self.pool = label, env, data, tmp, pool
        self.tracking = {**tracking, "experiment": f"blas-{label}"}
        self.kernel = ""

    def sweep(self, sweep, select: str) -> dict:
        """The grid's points and the other experiments, val's pick of the grid, then its confirmation
        seeds: the pick, its val scores, and the greedy per-image statistics and ``Wh`` of each run."""
        from captioning.pipeline.preflight import start_tracking
        from captioning.pipeline.records import History, ImageScores
        from captioning.pipeline.selection import val_score

        start_tracking(self.tracking)  # the store and experiment exist before the runs start at once
        ((group, (points, confirm)),) = sweep.confirmations().items()
        others = [e for e in sweep.experiments.values() if e.group != group]
        dirs = self._train([(sweep.experiments[p], s) for p in points for s in sweep.experiments[p].seeds])
        dirs |= self._train([(e, s) for e in others for s in e.seeds])
        val = {
            p: val_score(History.read(dirs[p, sweep.experiments[p].seeds[0]] / "history.json"), select) for p in points
        }
        pick = max(val, key=val.get)
        dirs |= self._train([(sweep.experiments[pick], s) for s in confirm])
        out = {"kernel": self.kernel, "pick": pick, "val": val, "stats": {}, "params": {}}
        for name in (pick, *(e.name for e in others)):
            runs = [d for (n, _), d in sorted(dirs.items()) if n == name]
            out["stats"][name] = np.stack([ImageScores.read(d / "image_scores.npz").stats["greedy"] for d in runs])
            out["params"][name] = [np.load(d / "model.npz")["params/Wh"] for d in runs]
        return out

    def _train(self, runs: list) -> dict:
        """Train and score (experiment, seed) runs; {(experiment name, seed): run directory}."""
        return dict(zip([(e.name, s) for e, s in runs], self.pool.map(lambda r: self._one(*r), runs), strict=True))

    def _one(self, exp, seed: int) -> Path:
        out = self.tmp / self.label / exp.name / f"seed{seed}"
        params = {"name": exp.name, "group": exp.group, **exp.training_config(), "beam_width": 1}
        cmd = [sys.executable, __file__, "--worker", str(self.data), str(out), json.dumps(params), str(seed)]
        res = subprocess.run([*cmd, json.dumps(self.tracking)], env=self.env, capture_output=True, text=True)
        if res.returncode:
            raise SystemExit(f"bench_blas_kernel: {exp.name} seed {seed} ({self.label}) failed:\n{res.stderr[-2000:]}")
        self.kernel = json.loads(res.stdout.splitlines()[-1])["kernel"]
        return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--other", default=OTHER, help="the OPENBLAS_CORETYPE of the second set of runs")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="trainings at a time")
    ap.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        data, out, experiment, seed, tracking = args.worker
        print(json.dumps(worker(data, out, experiment, int(seed), tracking)))
        return

    from captioning.data import pca, synthetic
    from captioning.pipeline.experiment import Sweep
    from captioning.provenance import describe, numerics

    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    sweep_file = config["memory_benchmark"]
    sweep = Sweep.from_dict(yaml.safe_load((ROOT / sweep_file).read_text()), sweep_file)
    select = config["evaluation"]["select_metric"]
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.workers) as pool:
        data = Path(tmp) / "data"
        synthetic.generate(data, synthetic.SyntheticConfig.from_section("memory", config["memory"]), progress=False)
        pca.prepare_pca(data, dim=config["pca"]["dim"], progress=False)
        tracking = {"tracking_uri": f"sqlite:///{Path(tmp) / 'mlflow.db'}"}
        base = {k: v for k, v in os.environ.items() if k not in PINNING}
        envs = {"default": base, "other": {**base, "OPENBLAS_CORETYPE": args.other}}
        results = {
            label: Kernel(label, env, data, Path(tmp), tracking, pool).sweep(sweep, select)
            for label, env in envs.items()
        }
    print(f"machine: {describe(numerics())}\n")
    lstm = next(n for n, e in sweep.experiments.items() if e.cell_type == "lstm")
    report(results, lstm, args.other, select)


def report(results: dict, lstm: str, other: str, select: str) -> None:
    from captioning.uncertainty import paired_difference

    a, b = results["default"], results["other"]
    print(f"kernels: {a['kernel']} (default) and {b['kernel']} (`OPENBLAS_CORETYPE={other}`)\n")
    print(
        f"| kernel | val's pick of the RNN grid ({select}) | {lstm} minus it: Δ BLEU-4 [95% CI] | p "
        "| Δ CIDEr-D [95% CI] | p |"
    )
    print("|---|---|---|---|---|---|")
    for r in (a, b):
        d = paired_difference(r["stats"][lstm], r["stats"][r["pick"]], seed=0).as_dict()
        cells = [f"{d[m]:+.3f} [{d[f'{m}_lo']:+.3f}, {d[f'{m}_hi']:+.3f}] | {d[f'{m}_p']:.3f}" for m in METRICS]
        print(f"| {r['kernel']} | `{r['pick']}` ({r['val'][r['pick']]:.3f}) | {' | '.join(cells)} |")
    moved = max(float(np.abs(x - y).max()) for x, y in zip(a["params"][lstm], b["params"][lstm], strict=True))
    d = paired_difference(a["stats"][lstm], b["stats"][lstm], seed=0, paired_seeds=True).as_dict()
    print(
        f"\n* the same {lstm} seeds under the two kernels: largest |Wh| difference {moved:.2e} "
        f"(bitwise equal: {moved == 0})"
    )
    for m in METRICS:
        inside = d[f"{m}_lo"] <= 0 <= d[f"{m}_hi"]
        print(
            f"* {lstm}, default minus other kernel, {m}: {d[m]:+.4f} [{d[f'{m}_lo']:+.4f}, {d[f'{m}_hi']:+.4f}], "
            f"p {d[f'{m}_p']:.3f}; 0 inside the interval: {inside}"
        )


if __name__ == "__main__":
    main()
