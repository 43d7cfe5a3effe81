"""The test split's scores: per-image statistics, corpus scores from them (for any resample of the images)
and the human ceiling. Nothing here trains or selects: an edit of this module rescores, it retrains nothing.

The scores themselves live in :mod:`captioning.ngrams` (BLEU, CIDEr-D) and :mod:`captioning.rouge`
(ROUGE-L), which training's validation (and, for CIDEr-D, the self-critical reward) uses too.
"""

from __future__ import annotations

import numpy as np

from .ngrams import BLEU_STATS, NGRAM_METRICS, bleu_from_sums, bleu_stats, cider_each, prepare
from .rouge import ROUGE_L, rouge_l_each

METRIC_NAMES = (*NGRAM_METRICS, ROUGE_L)  # what every table reports, in this order
MEAN_METRICS = METRIC_NAMES[len(NGRAM_METRICS) - 1 :]  # CIDEr-D, ROUGE-L: means of a per-image score
STAT_COLUMNS = (*BLEU_STATS, *MEAN_METRICS)  # image_stats' columns
N_STATS = len(STAT_COLUMNS)


def image_stats(refs: dict, hyps: dict) -> np.ndarray:
    """Per-image statistics (M, N_STATS), images in the order of ``hyps``, that the corpus scores are functions of.

    Columns (:data:`STAT_COLUMNS`): the BLEU counts of :data:`~captioning.ngrams.BLEU_STATS`
    (summed over images, they give corpus BLEU) and each image's CIDEr-D and ROUGE-L
    (:data:`MEAN_METRICS`: averaged, the corpus scores).  A bootstrap over images
    resamples these rows; CIDEr-D's document frequencies stay those of the whole set,
    as in COCO-style significance tests.
    """
    prep = prepare(refs, hyps)
    return np.column_stack([bleu_stats(prep), cider_each(prep), rouge_l_each(refs, hyps)])


def corpus_scores(stats: np.ndarray) -> dict:
    """The :data:`METRIC_NAMES` scores of the images whose :func:`image_stats` rows are ``stats`` (M, N_STATS)."""
    return dict(zip(METRIC_NAMES, map(float, metrics_of(stats.T)), strict=True))


def metrics_of(columns: np.ndarray) -> np.ndarray:
    """The :data:`METRIC_NAMES` scores (6, ...) of :func:`image_stats` columns laid out as (N_STATS, ..., M).

    Vectorised over the batch dimensions ``...``, so a bootstrap scores all its
    resamples (each a set of M image rows) in one call.
    """
    sums = columns[: len(BLEU_STATS)].sum(axis=-1)  # (10, ...)
    bleu = bleu_from_sums(np.moveaxis(sums, 0, -1))  # (..., 4)
    return np.concatenate([np.moveaxis(bleu, -1, 0), columns[len(BLEU_STATS) :].mean(axis=-1)])


def human_agreement(refs: dict) -> dict:
    """Leave-one-out scores of the references themselves (COCO's human baseline).

    Round k takes each image's k-th reference as the hypothesis and scores it
    against the image's other references; the scores are averaged over the
    rounds.  Images need at least two references.
    """
    k_max = min(len(r) for r in refs.values())
    if k_max < 2:
        raise ValueError("human_agreement: every image needs at least 2 references")
    rounds = []
    for k in range(k_max):
        hyp = {i: r[k] for i, r in refs.items()}
        rest = {i: r[:k] + r[k + 1 :] for i, r in refs.items()}
        rounds.append([corpus_scores(image_stats(rest, hyp))[m] for m in METRIC_NAMES])
    return dict(zip(METRIC_NAMES, map(float, np.mean(rounds, axis=0)), strict=True))
