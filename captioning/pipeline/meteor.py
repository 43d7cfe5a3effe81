"""The meteor step: METEOR statistics of every run's test captions, from one METEOR process per sweep.

The jar takes 5 s and 1 GB to start, so the score step leaves METEOR out and this step scores
all the sweep's captions at once. The collect step joins its statistics to the score step's,
and the register step logs each run's METEOR to its MLflow run. Without Java the statistics
are NaN and the tables read "–".
"""

from __future__ import annotations

import numpy as np

from ..data import layout
from ..data.dataset import open_dataset
from ..data.references import split_references
from ..meteor import METEOR_STATS, java, meteor_from_sums, meteor_stats
from .records import Captions, MeteorScores

SPLIT = layout.TEST_SPLIT


def meteor_runs(data_dir, caption_files, out_npz, enabled: bool = True, progress: bool = True) -> str:
    """Score every run's captions (``caption_files``, one per run) with one METEOR process; write their
    per-image statistics, and how each decoder's metrics are named, to ``out_npz``. ``enabled=False``
    (``evaluation.meteor: false``) writes NaN statistics without starting the jar."""
    captions = [Captions.read(p) for p in caption_files]
    for c, path in zip(captions, caption_files, strict=True):
        if c.images != captions[0].images:
            raise ValueError(f"meteor: {path} captions other test images than {caption_files[0]}")
    images = np.asarray(captions[0].images, dtype=np.int64)
    refs = split_references(open_dataset(data_dir, splits=(SPLIT,)).data, SPLIT, images)
    keys = [(c, d) for c in captions for d in c.captions]
    hyps = [dict(zip(c.images, c.captions[d], strict=True)) for c, d in keys]
    if enabled:
        stats = meteor_stats(refs, hyps, progress=progress)
    else:
        stats = [np.full((len(h), len(METEOR_STATS)), np.nan) for h in hyps]
    runs: dict = {}
    for (c, d), rows in zip(keys, stats, strict=True):
        runs.setdefault((c.experiment, c.seed), {})[d] = rows
    labels = {(c.experiment, c.seed): c.labels for c in captions}
    MeteorScores(images, runs, METEOR_STATS, labels).write(out_npz)
    head = f"METEOR of {len(captions)} runs on {len(images)} {SPLIT} images"
    if not enabled or java() is None:
        return f"{head}: unknown ({'evaluation.meteor is false' if not enabled else 'no Java'})"
    greedy = {f"{exp} seed {seed}": float(meteor_from_sums(r["greedy"].sum(axis=0))) for (exp, seed), r in runs.items()}
    best = max(greedy, key=greedy.get)
    distinct = len({pair for h in hyps for pair in h.items()})
    return (
        f"{head} ({sum(map(len, hyps))} captions, {distinct} distinct): "
        f"greedy {min(greedy.values()):.3f} to {greedy[best]:.3f} ({best})"
    )
