"""The test split's scores: per-image statistics, corpus scores from them (for any resample of the images)
and the human ceiling. Nothing here trains or selects: an edit of this module rescores, it retrains nothing.

The scores themselves live in :mod:`captioning.ngrams` (BLEU, CIDEr-D) and :mod:`captioning.rouge`
(ROUGE-L), which training's validation (and, for CIDEr-D, the self-critical reward) uses too, and
:mod:`captioning.meteor` (METEOR, Java's jar: the workflow runs it once per sweep, not per run).
"""

from __future__ import annotations

import numpy as np

from .meteor import METEOR, METEOR_STATS, meteor_from_sums
from .ngrams import BLEU_STATS, NGRAM_METRICS, bleu_from_sums, bleu_stats, cider_each, prepare
from .rouge import ROUGE_L, rouge_l_each

METRIC_NAMES = (*NGRAM_METRICS, ROUGE_L, METEOR)  # what every table reports, in this order
MEAN_METRICS = (NGRAM_METRICS[-1], ROUGE_L)  # CIDEr-D, ROUGE-L: means of a per-image score
SCORE_COLUMNS = (*BLEU_STATS, *MEAN_METRICS)  # image_stats' columns: what the score step computes per run
STAT_COLUMNS = (*SCORE_COLUMNS, *METEOR_STATS)  # and METEOR's (meteor_stats): what the tables resample
N_STATS = len(STAT_COLUMNS)


def image_stats(refs: dict, hyps: dict) -> np.ndarray:
    """Per-image statistics (M, len(SCORE_COLUMNS)), images in the order of ``hyps``, that the corpus scores are
    functions of.

    Columns (:data:`SCORE_COLUMNS`): the BLEU counts of :data:`~captioning.ngrams.BLEU_STATS`
    (summed over images, they give corpus BLEU) and each image's CIDEr-D and ROUGE-L
    (:data:`MEAN_METRICS`: averaged, the corpus scores).  A bootstrap over images
    resamples these rows; CIDEr-D's document frequencies stay those of the whole set,
    as in COCO-style significance tests. :func:`with_meteor` adds METEOR's columns.
    """
    prep = prepare(refs, hyps)
    return np.column_stack([bleu_stats(prep), cider_each(prep), rouge_l_each(refs, hyps)])


def with_meteor(stats: np.ndarray, meteor: np.ndarray | None = None) -> np.ndarray:
    """(..., M, N_STATS): :func:`image_stats` rows (..., M, len(SCORE_COLUMNS)) and their
    :func:`~captioning.meteor.meteor_stats` rows (..., M, len(METEOR_STATS)); NaN (METEOR unknown) when None.
    Rows that have METEOR's columns already pass unchanged."""
    stats = np.asarray(stats, dtype=np.float64)
    if stats.shape[-1] == N_STATS and meteor is None:
        return stats
    if stats.shape[-1] != len(SCORE_COLUMNS):
        raise ValueError(f"expected {len(SCORE_COLUMNS)} or {N_STATS} statistics per image, got {stats.shape[-1]}")
    if meteor is None:
        meteor = np.full((*stats.shape[:-1], len(METEOR_STATS)), np.nan)
    return np.concatenate([stats, np.broadcast_to(meteor, (*stats.shape[:-1], len(METEOR_STATS)))], axis=-1)


def corpus_scores(stats: np.ndarray) -> dict:
    """The scores of the images whose rows are ``stats``: all :data:`METRIC_NAMES` from (M, N_STATS), all but
    METEOR from :func:`image_stats`' (M, len(SCORE_COLUMNS))."""
    scores = dict(zip(METRIC_NAMES, map(float, metrics_of(stats.T)), strict=True))
    return scores if stats.shape[-1] == N_STATS else {m: v for m, v in scores.items() if m != METEOR}


def metrics_of(columns: np.ndarray) -> np.ndarray:
    """The :data:`METRIC_NAMES` scores (K, ...) of :data:`STAT_COLUMNS` laid out as (N_STATS, ..., M) (or of
    :data:`SCORE_COLUMNS`, METEOR then NaN).

    Vectorised over the batch dimensions ``...``, so a bootstrap scores all its
    resamples (each a set of M image rows) in one call.
    """
    return metrics_from_sums(columns.sum(axis=-1), columns.shape[-1])


def metrics_from_sums(sums: np.ndarray, n_images) -> np.ndarray:
    """The :data:`METRIC_NAMES` scores (K, ...) of :data:`STAT_COLUMNS` summed over (weighted) images
    (N_STATS, ...), or of :data:`SCORE_COLUMNS` (METEOR then NaN); ``n_images``: the images summed (a number,
    or broadcasting against ``...``)."""
    n_bleu, n_mean = len(BLEU_STATS), len(MEAN_METRICS)
    bleu = bleu_from_sums(np.moveaxis(sums[:n_bleu], 0, -1))  # (..., 4)
    means = sums[n_bleu : n_bleu + n_mean] / n_images
    if len(sums) == len(SCORE_COLUMNS):
        meteor = np.full(sums.shape[1:], np.nan)
    else:
        meteor = meteor_from_sums(np.moveaxis(sums[len(SCORE_COLUMNS) :], 0, -1))
    return np.concatenate([np.moveaxis(bleu, -1, 0), means, meteor[None]])


def human_agreement(refs: dict) -> dict:
    """Leave-one-out scores of the references themselves (COCO's human baseline), all metrics but METEOR.

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
        rounds.append(corpus_scores(image_stats(rest, hyp)))
    return {m: float(np.mean([r[m] for r in rounds])) for m in rounds[0]}
