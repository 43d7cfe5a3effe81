"""The collect step's statistics: one row per run, per-image statistics per experiment, and one row per
experiment with its intervals over seeds and test images and its paired comparisons.

Selection uses val only (:mod:`captioning.pipeline.selection`); every reported number is on test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import CaptioningError
from ..evaluation import RANDOM_REFERENCE_BLEU
from ..meteor import METEOR, METEOR_STATS, meteor_from_sums
from ..metrics import METRIC_NAMES, SCORE_COLUMNS, with_meteor
from ..provenance import describe
from ..uncertainty import Estimate, Power, paired_difference, power, score_interval
from .records import DECODERS, History, ImageScores, MeteorScores, Scores
from .selection import Selection, val_score

COMPARED = ("BLEU-4", "CIDEr-D", "ROUGE-L")  # the metrics with paired comparisons (greedy captions)
WITH_INTERVALS = (*COMPARED, METEOR)  # the metrics summary.md shows with intervals
COMPARISONS = ("best", "blind", "init")  # a row's vs_<name>_ columns: against the best, the blind, its start
HEADLINE_DECODER = "greedy"  # every experiment has it, whatever its beam width


class CollectError(CaptioningError, ValueError):
    """The runs to collect do not fit together."""


def run_table(scores: list[Scores], histories: list[History], select_metric: str, meteor: MeteorScores) -> pd.DataFrame:
    """One row per run: its val score for selection (``select_metric``), test metrics of each decoder (METEOR
    from ``meteor``), the random-reference BLEU-1, epochs, time."""
    by_run = {(h.experiment, h.seed): h for h in histories}
    rows = []
    for s in scores:
        h = by_run.get((s.experiment, s.seed))
        if h is None:
            raise CollectError(f"collect: no training history for {s.experiment} seed {s.seed}")
        row = {
            "experiment": s.experiment,
            "group": s.group,
            "seed": s.seed,
            "confirm": s.confirm,
            "init_from": s.init_from or "",
            "cell_type": s.cell_type,
            "features": s.features,
            "select_metric": select_metric,
            "val_select": val_score(h, select_metric),  # one metric for every run, whatever chose its epoch
            **{f"health_{k}": v for k, v in s.health.items()},
        }
        own = _meteor_of(meteor, s.experiment, s.seed)
        for decoder in DECODERS:
            for m in METRIC_NAMES:
                row[f"{decoder}_{m}"] = s.decoders.get(decoder, {}).get(m, float("nan"))
            if decoder in s.decoders:
                row[f"{decoder}_{METEOR}"] = float(meteor_from_sums(own[decoder].sum(axis=0)))
        row[RANDOM_REFERENCE_BLEU] = s.random_reference_bleu
        row["best_epoch"] = h.best_epoch
        row["train_seconds"] = h.seconds
        row["numerics"] = describe(h.numerics)
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["group", "experiment", "seed"]).reset_index(drop=True)


def _meteor_of(meteor: MeteorScores, experiment: str, seed: int) -> dict:
    """{decoder: (M, len(METEOR_STATS))} of one run."""
    if meteor.columns != METEOR_STATS:
        raise CollectError(f"collect: the METEOR statistics are {list(meteor.columns)}, not {list(METEOR_STATS)}")
    if (experiment, seed) not in meteor.runs:
        raise CollectError(f"collect: no METEOR statistics for {experiment} seed {seed}; rerun the meteor step")
    return meteor.runs[(experiment, seed)]


def image_statistics(runs: pd.DataFrame, image_score_files, meteor: MeteorScores) -> dict[str, dict[str, np.ndarray]]:
    """{experiment: {decoder: (S, M, N_STATS)}}, seeds in run-table order: each run's statistics from the score
    step with its METEOR statistics beside them; every run must score the same images with the same statistics."""
    by_run, images = {}, None
    for path in image_score_files:
        record = ImageScores.read(path)
        if record.columns != SCORE_COLUMNS:
            raise CollectError(
                f"collect: {path} holds the statistics {list(record.columns)}, not {list(SCORE_COLUMNS)}; rescore it"
            )
        if images is None:
            images = record.images
        elif not np.array_equal(record.images, images):
            raise CollectError(f"collect: {path} scores other test images than {image_score_files[0]}")
        if not np.array_equal(meteor.images, images):
            raise CollectError(f"collect: the METEOR statistics are of other test images than {path}")
        own = _meteor_of(meteor, record.experiment, record.seed)
        by_run[(record.experiment, record.seed)] = {d: with_meteor(s, own[d]) for d, s in record.stats.items()}
    out = {}
    for exp, rows in runs.groupby("experiment", sort=False):
        per_seed = [by_run[(exp, int(seed))] for seed in rows["seed"]]
        out[exp] = {d: np.stack([s[d] for s in per_seed]) for d in DECODERS if d in per_seed[0]}
    return out


def compared(prefix: str, difference: Estimate, detectable: Power, detect: dict) -> dict:
    """A comparison's columns for the COMPARED metrics: the difference, its interval and p, the minimum
    detectable effect and the seeds a side that detect ``detect[metric]`` (default: the observed |difference|)."""
    delta = [detect.get(m) or abs(v) for m, v in zip(METRIC_NAMES, difference.value, strict=True)]
    out = {**difference.as_dict(prefix), **detectable.as_dict(prefix, delta)}
    return {k: v for k, v in out.items() if k.removeprefix(prefix).split("_")[0] in COMPARED}


def experiment_table(
    runs: pd.DataFrame, stats: dict, selection: Selection, n_resamples: int, seed: int, detect: dict | None = None
):
    """One row per experiment: test scores (mean over seeds, std over seeds, 95% interval over seeds and test
    images, and the width of the interval over test images alone), and the paired differences to the best
    experiment and to the image-blind baseline (greedy captions), each with its power (``detect``: {metric:
    the difference whose seeds needed are reported}; by default the observed one)."""
    detect = detect or {}
    rows = []
    for exp, g in runs.groupby("experiment", sort=False):
        first = g.iloc[0]
        row = {
            "group": first["group"],
            "experiment": exp,
            "best_in_group": selection.best_in_group[first["group"]] == exp,
            "cell_type": first["cell_type"],
            "features": first["features"],
            "seeds": len(g),
            "init_from": first["init_from"],
            "select_metric": first["select_metric"],
            "val_select": g["val_select"].mean(),
            **{k: g[k].mean() for k in g.columns if k.startswith("health_")},
        }
        for decoder in DECODERS:
            if decoder in stats[exp]:
                row.update(score_interval(stats[exp][decoder], seed, n_resamples).as_dict(f"{decoder}_"))
                for m in METRIC_NAMES:
                    row[f"{decoder}_{m}_std"] = g[f"{decoder}_{m}"].std()
        images_only = score_interval(stats[exp][HEADLINE_DECODER], seed, n_resamples, resample_seeds=False)
        for k, m in enumerate(METRIC_NAMES):
            row[f"{HEADLINE_DECODER}_{m}_image_width"] = float(images_only.high[k] - images_only.low[k])
        for name, other in (("best", selection.best), ("blind", selection.blind)):
            if other is not None and other != exp and other != first["init_from"]:  # vs its start: paired, below
                a, b = stats[exp][HEADLINE_DECODER], stats[other][HEADLINE_DECODER]
                row[f"vs_{name}"] = other
                row[f"vs_{name}_seeds"] = len(b)
                difference, detectable = paired_difference(a, b, seed, n_resamples), power(a, b, seed, n_resamples)
                row.update(compared(f"vs_{name}_", difference, detectable, detect))
        if first["init_from"]:  # a fine-tuning against its start, seed s against seed s, on the same images
            start = runs[runs["experiment"] == first["init_from"]]
            at = [int(np.flatnonzero(start["seed"].to_numpy() == s)[0]) for s in g["seed"]]
            a, b = stats[exp][HEADLINE_DECODER], stats[first["init_from"]][HEADLINE_DECODER][at]
            difference = paired_difference(a, b, seed, n_resamples, paired_seeds=True)
            row.update(compared("vs_init_", difference, power(a, b, seed, n_resamples, paired_seeds=True), detect))
        row[RANDOM_REFERENCE_BLEU] = g[RANDOM_REFERENCE_BLEU].mean()
        row["train_seconds"] = g["train_seconds"].mean()
        rows.append(row)
    return pd.DataFrame(rows)
