"""Temporal affine layer and masked softmax loss.

Shapes: N batch, T steps, D input size, M output size, V vocabulary size.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import _validate as check
from ..kernels.elementwise import softmax_xent


class AffineCache(NamedTuple):
    x: np.ndarray
    w: np.ndarray
    b: np.ndarray


def temporal_affine_forward(x, w, b):
    """x: (N, T, D), w: (D, M), b: (M,) -> out (N, T, M), cache."""
    fn = "temporal_affine_forward"
    check.float_arrays(fn, x=x, w=w, b=b)
    check.shape(fn, "x", x, (None, None, None), "(N, T, D)")
    N, T, D = x.shape
    check.shape(fn, "w", w, (D, None), "(D, M)")
    check.shape(fn, "b", b, (w.shape[1],), "(M,)")
    out = x.reshape(N * T, D) @ w
    out += b
    return out.reshape(N, T, -1), AffineCache(x, w, b)


def temporal_affine_backward(dout, cache: AffineCache):
    """dout: (N, T, M) -> dx (N, T, D), dw (D, M), db (M,)."""
    x, w, b = cache
    fn = "temporal_affine_backward"
    check.float_arrays(fn, dout=dout, cache_x=x)
    N, T, D = x.shape
    check.shape(fn, "dout", dout, (N, T, w.shape[1]), "(N, T, M)")
    d2 = dout.reshape(N * T, -1)
    return (d2 @ w.T).reshape(N, T, D), x.reshape(N * T, D).T @ d2, d2.sum(axis=0)


def softmax_loss_rows(scores, targets, weights):
    """Weighted cross-entropy of rows, in place: scores (M, V) become their gradient.

    Returns the summed loss as a Python float.  targets: (M,), weights: (M,).
    """
    losses = np.empty(scores.shape[0], dtype=np.float64)
    softmax_xent(scores.size, scores, targets, weights, losses)
    return float(losses.sum())


def temporal_softmax_loss(x, y, mask):
    """Softmax loss summed over masked steps and averaged over the batch.

    x: (N, T, V) scores, y: (N, T) targets in [0, V), mask: (N, T) bool.
    Returns loss (float) and dx (N, T, V).
    """
    fn = "temporal_softmax_loss"
    check.float_arrays(fn, x=x)
    check.shape(fn, "x", x, (None, None, None), "(N, T, V)")
    N, T, V = x.shape
    y = check.token_ids(fn, "y", y, V)
    check.shape(fn, "y", y, (N, T), "(N, T)")
    mask = np.asarray(mask)
    check.shape(fn, "mask", mask, (N, T), "(N, T)")
    dx = np.array(x, order="C").reshape(N * T, V)
    weights = mask.reshape(-1).astype(x.dtype) / N
    loss = softmax_loss_rows(dx, np.ascontiguousarray(y).reshape(-1), weights)
    return loss, dx.reshape(N, T, V)
