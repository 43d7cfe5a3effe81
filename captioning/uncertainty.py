"""Confidence intervals and paired comparisons of caption scores, by bootstrap over test images.

A system is one experiment: its seeds' per-image statistics, shape (S, M, N_STATS)
(S seeds, M test images, the columns of :func:`captioning.metrics.image_stats`).
Its score is the mean over seeds of each seed's corpus score, so an interval
reflects which images happen to be in the test set, for the seeds trained.

Resampling, intervals and the bootstrap distribution are SciPy's
(``scipy.stats.bootstrap``, percentile method, vectorised over resamples); a
comparison resamples the same images for both systems (``paired=True``), and
every call with the same seed and M draws the same resamples.  Percentile
intervals make the two agree: a difference's interval excludes 0 exactly when
its two-sided p-value is below 1 - confidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .metrics import METRIC_NAMES, N_STATS, metrics_of

N_RESAMPLES = 1000
CONFIDENCE = 0.95
_BATCH = 100  # resamples held in memory at once: S x N_STATS x M x 100 floats


@dataclass(frozen=True)
class Estimate:
    """One score per metric (METRIC_NAMES order), its interval and, for a difference, its p-value."""

    value: np.ndarray  # (5,)
    low: np.ndarray  # (5,)
    high: np.ndarray  # (5,)
    p: np.ndarray | None = None  # (5,) two-sided, for H0: difference == 0

    def as_dict(self, prefix: str = "") -> dict:
        """{<prefix><metric>: value, ..._lo, ..._hi[, ..._p]} with plain floats."""
        out = {}
        for k, m in enumerate(METRIC_NAMES):
            out[f"{prefix}{m}"] = float(self.value[k])
            out[f"{prefix}{m}_lo"] = float(self.low[k])
            out[f"{prefix}{m}_hi"] = float(self.high[k])
            if self.p is not None:
                out[f"{prefix}{m}_p"] = float(self.p[k])
        return out


def _columns(system: np.ndarray, name: str) -> np.ndarray:
    """(S, M, N_STATS) -> (S, N_STATS, M), checked."""
    system = np.asarray(system, dtype=np.float64)
    if system.ndim != 3 or system.shape[2] != N_STATS or system.shape[0] < 1 or system.shape[1] < 2:
        raise ValueError(
            f"{name}: expected per-image statistics of shape (seeds, images >= 2, {N_STATS}), got {system.shape}"
        )
    return np.moveaxis(system, 2, 1)


def _score(x: np.ndarray) -> np.ndarray:
    """(S, N_STATS, ..., M) -> (5, ...): each seed's corpus scores, averaged over seeds."""
    return metrics_of(np.moveaxis(x, 1, 0)).mean(axis=1)


def _bootstrap(data: tuple, statistic, seed: int, n_resamples: int, paired: bool):
    from scipy.stats import bootstrap  # SciPy's import is slow; only the collect step needs it

    return bootstrap(
        data,
        statistic,
        n_resamples=n_resamples,
        confidence_level=CONFIDENCE,
        method="percentile",
        vectorized=True,
        paired=paired,
        axis=-1,
        batch=_BATCH,
        rng=np.random.default_rng(seed),
    )


def score_interval(system: np.ndarray, seed: int = 0, n_resamples: int = N_RESAMPLES) -> Estimate:
    """The system's scores (5,) with percentile bootstrap intervals over its M images."""
    x = _columns(system, "score_interval")
    res = _bootstrap((x,), lambda s, axis: _score(s), seed, n_resamples, paired=False)
    ci = res.confidence_interval
    return Estimate(_score(x), np.asarray(ci.low), np.asarray(ci.high))


def paired_difference(a: np.ndarray, b: np.ndarray, seed: int = 0, n_resamples: int = N_RESAMPLES) -> Estimate:
    """score(a) - score(b) on the same images: paired bootstrap interval and two-sided p-value per metric.

    ``a`` and ``b`` must hold the same M images in the same order (their seed counts may differ).
    """
    xa, xb = _columns(a, "paired_difference: a"), _columns(b, "paired_difference: b")
    if xa.shape[2] != xb.shape[2]:
        raise ValueError(
            f"paired_difference: a and b must score the same images, got {xa.shape[2]} and {xb.shape[2]} images"
        )
    res = _bootstrap((xa, xb), lambda s, t, axis: _score(s) - _score(t), seed, n_resamples, paired=True)
    dist = res.bootstrap_distribution  # (5, n_resamples)
    below, above = (dist <= 0).sum(axis=1), (dist >= 0).sum(axis=1)
    p = np.minimum(1.0, 2 * (np.minimum(below, above) + 1) / (dist.shape[1] + 1))
    ci = res.confidence_interval
    return Estimate(_score(xa) - _score(xb), np.asarray(ci.low), np.asarray(ci.high), p)
