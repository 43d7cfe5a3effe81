"""Confidence intervals and paired comparisons of caption scores, by a two-level bootstrap over seeds and images.

A system is one experiment: its seeds' per-image statistics, shape (S, M, N_STATS)
(S trained seeds, M test images, the columns of :func:`captioning.metrics.image_stats`);
K is the number of metrics (:data:`captioning.metrics.METRIC_NAMES`).
Its score is the mean over seeds of each seed's corpus score.

Two kinds of noise move that score: which images are in the test set, and how
training happened to go (the seed, and the rounding of the machine's BLAS).  Each
bootstrap resample therefore draws seeds and images, both with replacement: the
seeds first, then the images.  The test images are shared by every seed (a
crossed design), so one image draw serves all of a resample's seeds, and a
comparison of two systems draws the same images for both sides (paired) while
each side draws its own seeds.  Seed deviations are scaled by sqrt(S / (S - 1))
before they are averaged, which removes the bootstrap's shrinking of a variance
estimated from few seeds.

With one seed only the images vary: the interval then holds test-image noise
alone (:data:`MIN_SEEDS` says how many seeds a claim needs).  :func:`power` says what a
comparison could have detected: its minimum detectable effect, and the seeds a side a
given difference needs.  Intervals are
percentile intervals, so a difference's interval excludes 0 exactly when its
two-sided p-value is below 1 - confidence; every call with the same seed and
shapes draws the same resamples.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from .metrics import METRIC_NAMES, N_STATS, SCORE_COLUMNS, metrics_from_sums, with_meteor

N_RESAMPLES = 1000
CONFIDENCE = 0.95
MIN_SEEDS = 3  # fewer seeds than this on either side: training noise is not measured, no claim is made
POWER = 0.8  # the power at which a comparison's minimum detectable effect is quoted
# how many standard errors a true difference must span to be detected at 1 - CONFIDENCE with POWER
DETECTABLE_SE = NormalDist().inv_cdf(1 - (1 - CONFIDENCE) / 2) + NormalDist().inv_cdf(POWER)
_BATCH = 100  # resamples held in memory at once: B x M image counts and S x B x N_STATS sums


@dataclass(frozen=True)
class Estimate:
    """One score per metric (METRIC_NAMES order), its interval and, for a difference, its p-value."""

    value: np.ndarray  # (K,)
    low: np.ndarray  # (K,)
    high: np.ndarray  # (K,)
    p: np.ndarray | None = None  # (K,) two-sided, for H0: difference == 0

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


def _checked(system: np.ndarray, name: str) -> np.ndarray:
    """(S, M, N_STATS); statistics without METEOR's columns (S, M, len(SCORE_COLUMNS)) get NaN ones."""
    system = np.asarray(system, dtype=np.float64)
    widths = (N_STATS, len(SCORE_COLUMNS))
    if system.ndim != 3 or system.shape[2] not in widths or system.shape[0] < 1 or system.shape[1] < 2:
        raise ValueError(
            f"{name}: expected per-image statistics of shape (seeds, images >= 2, {N_STATS} or "
            f"{len(SCORE_COLUMNS)}), got {system.shape}"
        )
    return with_meteor(system)


def _seed_scores(system: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(S, M, N_STATS) statistics, (B, M) image weights -> (K, S, B): each seed's corpus scores per resample
    (K metrics, :data:`~captioning.metrics.METRIC_NAMES`)."""
    sums = np.einsum("bm,smk->ksb", weights, system)  # (N_STATS, S, B)
    return metrics_from_sums(sums, weights.sum(axis=1))  # means over the drawn images: B weights broadcast


def _seed_mean(scores: np.ndarray, seed_counts: np.ndarray | None) -> np.ndarray:
    """(K, S, B) per-seed scores -> (K, B) means over each resample's drawn seeds (all seeds when None).

    Deviations from the seeds' mean are scaled by sqrt(S / (S - 1)): the bootstrap's
    variance over S drawn seeds is otherwise (S - 1) / S of the seeds' sample variance.
    """
    if seed_counts is None:
        return scores.mean(axis=1)
    S = scores.shape[1]
    centre = scores.mean(axis=1, keepdims=True)
    scaled = centre + np.sqrt(S / (S - 1)) * (scores - centre)
    return np.einsum("ksb,bs->kb", scaled, seed_counts) / S


def _counts(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """(size, n) how often each of n items is drawn in each of ``size`` resamples of n with replacement."""
    draws = rng.integers(0, n, (size, n)) + n * np.arange(size)[:, None]
    return np.bincount(draws.ravel(), minlength=size * n).reshape(size, n).astype(np.float64)


def _distribution(
    systems: list[np.ndarray], combine, seed: int, n_resamples: int, seeds: bool = True, paired_seeds: bool = False
) -> np.ndarray:
    """(K, n_resamples) bootstrap distribution of ``combine(*system_scores)``: per resample, each system
    draws its own seeds (one draw for all with ``paired_seeds``; none if ``seeds`` is False), then one
    image draw is shared by every system."""
    rng = np.random.default_rng(seed)
    M = systems[0].shape[1]
    out = []
    for start in range(0, n_resamples, _BATCH):
        size = min(_BATCH, n_resamples - start)
        if paired_seeds:
            shared = _counts(rng, systems[0].shape[0], size) if systems[0].shape[0] > 1 else None
            drawn = [shared] * len(systems)
        else:
            drawn = [_counts(rng, s.shape[0], size) if seeds and s.shape[0] > 1 else None for s in systems]
        images = _counts(rng, M, size)
        out.append(combine(*(_seed_mean(_seed_scores(s, images), c) for s, c in zip(systems, drawn, strict=True))))
    return np.concatenate(out, axis=1)


def _interval(dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    alpha = (1 - CONFIDENCE) / 2
    return np.quantile(dist, alpha, axis=1), np.quantile(dist, 1 - alpha, axis=1)


def _estimate(system: np.ndarray) -> np.ndarray:
    """(K,) the mean over seeds of each seed's corpus scores on all images."""
    return _seed_mean(_seed_scores(system, np.ones((1, system.shape[1]))), None)[:, 0]


def score_interval(
    system: np.ndarray, seed: int = 0, n_resamples: int = N_RESAMPLES, resample_seeds: bool = True
) -> Estimate:
    """The system's scores (K,) with two-level percentile bootstrap intervals (seeds, then its M images).

    ``resample_seeds=False`` keeps the trained seeds fixed: an interval of test-image noise alone.
    """
    x = _checked(system, "score_interval")
    low, high = _interval(_distribution([x], lambda s: s, seed, n_resamples, resample_seeds))
    return Estimate(_estimate(x), low, high)


def _pair(a: np.ndarray, b: np.ndarray, paired_seeds: bool, name: str) -> tuple[np.ndarray, np.ndarray]:
    xa, xb = _checked(a, f"{name}: a"), _checked(b, f"{name}: b")
    if xa.shape[1] != xb.shape[1]:
        raise ValueError(f"{name}: a and b must score the same images, got {xa.shape[1]} and {xb.shape[1]} images")
    if paired_seeds and xa.shape[0] != xb.shape[0]:
        raise ValueError(f"{name}: paired seeds need as many seeds on each side, got {len(xa)} and {len(xb)}")
    return xa, xb


def paired_difference(
    a: np.ndarray, b: np.ndarray, seed: int = 0, n_resamples: int = N_RESAMPLES, paired_seeds: bool = False
) -> Estimate:
    """score(a) - score(b) on the same images: two-level bootstrap interval and two-sided p-value per metric.

    ``a`` and ``b`` must hold the same M images in the same order; their seeds are drawn
    independently (they are different trainings), their images together.  ``paired_seeds``:
    seed k of ``a`` continues seed k of ``b`` (a fine-tuning and its start), so both draw the
    same seeds too.
    """
    xa, xb = _pair(a, b, paired_seeds, "paired_difference")
    dist = _distribution([xa, xb], lambda s, t: s - t, seed, n_resamples, paired_seeds=paired_seeds)
    below, above = (dist <= 0).sum(axis=1), (dist >= 0).sum(axis=1)
    p = np.minimum(1.0, 2 * (np.minimum(below, above) + 1) / (dist.shape[1] + 1))
    p = np.where(np.isnan(dist).any(axis=1), np.nan, p)  # METEOR without Java: unknown, not significant
    low, high = _interval(dist)
    return Estimate(_estimate(xa) - _estimate(xb), low, high, p)


def seed_spread(system: np.ndarray) -> np.ndarray:
    """(K,) the standard deviation over seeds of each seed's corpus scores (NaN with one seed)."""
    return np.sqrt(_seed_variance(_per_seed(_checked(system, "seed_spread"))))


def _per_seed(system: np.ndarray) -> np.ndarray:
    """(K, S) each seed's corpus scores on all of the system's images."""
    return _seed_scores(system, np.ones((1, system.shape[1])))[:, :, 0]


def _seed_variance(scores: np.ndarray) -> np.ndarray:
    """(K,) the variance over seeds (ddof 1) of (K, S) per-seed scores; NaN with one seed."""
    return scores.var(axis=1, ddof=1) if scores.shape[1] > 1 else np.full(len(scores), np.nan)


@dataclass(frozen=True)
class Power:
    """What a comparison of two systems can detect, per metric (METRIC_NAMES order).

    The variance of a difference of means over seeds, on M shared test images, is
    ``image + seed_a / S_a + seed_b / S_b``: the test images' part (seeds fixed) and
    each side's seed-to-seed variance over its S seeds.  For paired seeds (a fine-tuning
    and its start) the seed part is the variance of the per-seed differences over S.
    A true difference is detected at the 5% level with 80% power once it spans
    :data:`DETECTABLE_SE` (2.80) standard errors.  With one seed on a side the seed
    variance is unmeasured and so is everything here (NaN).
    """

    image: np.ndarray  # (K,) variance of the difference from the test images, seeds fixed
    seed_sum: np.ndarray  # (K,) the seed variances of both sides added (one seed a side's worth)
    seeds_now: np.ndarray  # (K,) the seeds' part of the difference's variance at the seed counts compared

    @property
    def mde(self) -> np.ndarray:
        """(K,) the minimum detectable effect: the smallest true |difference| these seeds and images detect."""
        return DETECTABLE_SE * np.sqrt(self.image + self.seeds_now)

    def seeds_needed(self, delta) -> np.ndarray:
        """(K,) seeds a side (at least MIN_SEEDS) that detect a true |difference| of ``delta`` (a scalar or (K,))
        with 80% power; inf where the test images' variance alone hides it, NaN where seed noise is unmeasured."""
        room = (np.asarray(delta, dtype=np.float64) / DETECTABLE_SE) ** 2 - self.image
        with np.errstate(divide="ignore", invalid="ignore"):
            n = np.where(room > 0, np.ceil(self.seed_sum / np.where(room > 0, room, 1.0)), np.inf)
        return np.where(np.isnan(self.seed_sum), np.nan, np.maximum(n, MIN_SEEDS))

    def as_dict(self, prefix: str, delta) -> dict:
        """{<prefix><metric>_mde: ..., <prefix><metric>_seeds_needed: ...} with plain floats (``delta`` as in
        :meth:`seeds_needed`)."""
        need = self.seeds_needed(delta)
        out = {}
        for k, m in enumerate(METRIC_NAMES):
            out[f"{prefix}{m}_mde"] = float(self.mde[k])
            out[f"{prefix}{m}_seeds_needed"] = float(need[k])
        return out


def power(
    a: np.ndarray, b: np.ndarray, seed: int = 0, n_resamples: int = N_RESAMPLES, paired_seeds: bool = False
) -> Power:
    """The power of comparing ``a`` with ``b`` as :func:`paired_difference` does (same arguments): the test
    images' variance of the difference from a bootstrap over images with the seeds fixed, the seeds' from
    the spread of each side's per-seed scores."""
    xa, xb = _pair(a, b, paired_seeds, "power")
    image = _distribution([xa, xb], lambda s, t: s - t, seed, n_resamples, seeds=False).var(axis=1, ddof=1)
    if paired_seeds:
        seed_sum = _seed_variance(_per_seed(xa) - _per_seed(xb))
        now = seed_sum / len(xa)
    else:
        var_a, var_b = _seed_variance(_per_seed(xa)), _seed_variance(_per_seed(xb))
        seed_sum, now = var_a + var_b, var_a / len(xa) + var_b / len(xb)
    return Power(image, seed_sum, now)
