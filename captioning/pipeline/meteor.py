"""The meteor step: METEOR statistics of every run's test captions, from one METEOR process per sweep.

The jar takes 5 s and 1 GB to start, so the score step leaves METEOR out and this step scores
all the sweep's captions at once; the collect step joins its statistics to the score step's.
Each run's corpus METEOR is logged to its MLflow run (``final/test_<decoder>_METEOR``), beside
the score step's metrics. Without Java the statistics are NaN and the tables read "–".
"""

from __future__ import annotations

import numpy as np

from ..data import layout
from ..data.dataset import open_dataset
from ..data.references import split_references
from ..meteor import METEOR, METEOR_STATS, java, meteor_from_sums, meteor_stats
from .records import Captions, MeteorScores, RunRecord
from .tracking import OUTAGE_WAIT, MlflowRun, check_uri

SPLIT = layout.TEST_SPLIT


def _checked_images(captions: list[Captions], caption_files) -> np.ndarray:
    images = captions[0].images
    for c, path in zip(captions, caption_files, strict=True):
        if c.images != images:
            raise ValueError(f"meteor: {path} captions other test images than {caption_files[0]}")
    return np.asarray(images, dtype=np.int64)


def meteor_runs(data_dir, caption_files, run_files, out_npz, progress: bool = True) -> str:
    """Score every run's captions (``caption_files``, per run, in the order of ``run_files``) with one METEOR
    process; write their per-image statistics to ``out_npz`` and log each run's corpus METEOR to MLflow."""
    captions = [Captions.read(p) for p in caption_files]
    images = _checked_images(captions, caption_files)
    data = open_dataset(data_dir, splits=(SPLIT,)).data
    refs = split_references(data, SPLIT, images)
    keys = [(c, d) for c in captions for d in c.captions]
    hyps = [dict(zip(c.images, c.captions[d], strict=True)) for c, d in keys]
    stats = meteor_stats(refs, hyps, progress=progress)
    runs: dict = {}
    for (c, d), rows in zip(keys, stats, strict=True):
        runs.setdefault((c.experiment, c.seed), {})[d] = rows
    MeteorScores(images, runs, METEOR_STATS).write(out_npz)
    if java() is None:
        return f"METEOR of {len(captions)} runs on {len(images)} {SPLIT} images: unknown (no Java)"
    scores = {}
    for c, path in zip(captions, run_files, strict=True):
        record = RunRecord.read(path)
        if (record.experiment, record.seed) != (c.experiment, c.seed):
            theirs = f"{record.experiment} seed {record.seed}"
            raise ValueError(f"meteor: {path} is {theirs}, not {c.experiment} seed {c.seed} as the captions' file")
        by_decoder = {d: float(meteor_from_sums(runs[(c.experiment, c.seed)][d].sum(axis=0))) for d in c.captions}
        check_uri(record.tracking_uri, wait=OUTAGE_WAIT)
        run = MlflowRun(record.tracking_uri, run_id=record.run_id, reopen=False)  # stays FINISHED
        run.log_metrics({f"final/{SPLIT}_{c.labels[d]}_{METEOR}": v for d, v in by_decoder.items()})
        scores[f"{c.experiment} seed {c.seed}"] = by_decoder["greedy"]
    best = max(scores, key=scores.get)
    return (
        f"METEOR of {len(captions)} runs on {len(images)} {SPLIT} images ({sum(map(len, hyps))} captions, "
        f"{len({p for h in hyps for p in h.items()})} distinct): "
        f"greedy {min(scores.values()):.3f} to {scores[best]:.3f} ({best})"
    )
