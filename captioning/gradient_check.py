"""Central-difference gradient checks with the notebook's signatures."""

from __future__ import annotations

import numpy as np


def rel_error(x, y) -> float:
    """Largest element-wise relative error, with 1e-8 guarding 0/0."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def eval_numerical_gradient(f, x, verbose=True, h=1e-5):
    """Numeric gradient of a scalar function ``f(x)`` at ``x`` (perturbed in place, then restored)."""
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        old = x[ix]
        x[ix] = old + h
        fxph = f(x)
        x[ix] = old - h
        fxmh = f(x)
        x[ix] = old
        grad[ix] = (fxph - fxmh) / (2 * h)
        if verbose:
            print(ix, grad[ix])
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Numeric gradient of ``sum(f(x) * df)`` for an array-valued ``f``."""
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        old = x[ix]
        x[ix] = old + h
        pos = np.array(f(x), copy=True)
        x[ix] = old - h
        neg = np.array(f(x), copy=True)
        x[ix] = old
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
    return grad


def scaled_error(num, analytic) -> float:
    """Largest absolute difference relative to the largest entry of either gradient.

    ``rel_error`` is ill-conditioned for entries near zero (an entry of 2e-10
    with a 1e-11 finite-difference error scores 5e-2), so checks on random
    inputs scale by the whole array instead.
    """
    num, analytic = np.asarray(num, dtype=np.float64), np.asarray(analytic, dtype=np.float64)
    if num.shape != analytic.shape:
        raise ValueError(f"scaled_error: shapes differ: {num.shape} vs {analytic.shape}")
    scale = max(np.abs(num).max(initial=0.0), np.abs(analytic).max(initial=0.0), 1e-12)
    return float(np.abs(num - analytic).max(initial=0.0) / scale)
