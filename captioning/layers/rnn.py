"""Vanilla RNN layers with the notebook's signatures.

Shapes: N batch, T steps, D input size, H hidden size.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import _validate as check
from ..cells import RNNCell
from ..kernels import elementwise as K
from ._sequence import sequence_backward, sequence_forward


class RNNStepCache(NamedTuple):
    x: np.ndarray
    prev_h: np.ndarray
    Wx: np.ndarray
    Wh: np.ndarray
    next_h: np.ndarray


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    """One tanh RNN step.  x: (N, D), prev_h: (N, H), Wx: (D, H), Wh: (H, H), b: (H,).

    Returns next_h (N, H) and a cache for :func:`rnn_step_backward`.
    """
    fn = "rnn_step_forward"
    check.float_arrays(fn, x=x, prev_h=prev_h, Wx=Wx, Wh=Wh, b=b)
    check.shape(fn, "x", x, (None, None), "(N, D)")
    N, D = x.shape
    check.shape(fn, "prev_h", prev_h, (N, None), "(N, H)")
    H = prev_h.shape[1]
    check.shape(fn, "Wx", Wx, (D, H), "(D, H)")
    check.shape(fn, "Wh", Wh, (H, H), "(H, H)")
    check.shape(fn, "b", b, (H,), "(H,)")
    next_h = prev_h @ Wh
    K.rnn_tanh_forward(next_h.size, next_h, x @ Wx + b, np.arange(N))
    return next_h, RNNStepCache(x, prev_h, Wx, Wh, next_h)


def rnn_step_backward(dnext_h, cache: RNNStepCache):
    """dnext_h: (N, H) -> dx, dprev_h, dWx, dWh, db."""
    x, prev_h, Wx, Wh, next_h = cache
    check.float_arrays("rnn_step_backward", dnext_h=dnext_h, cache_x=x)
    check.shape("rnn_step_backward", "dnext_h", dnext_h, next_h.shape, "(N, H)")
    da = np.empty_like(next_h)
    K.rnn_tanh_backward(da.size, np.ascontiguousarray(dnext_h), np.zeros_like(da), next_h, da)
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def rnn_forward(x, h0, Wx, Wh, b):
    """Tanh RNN over a whole sequence.  x: (N, T, D), h0: (N, H) -> h (N, T, H), cache."""
    return sequence_forward(RNNCell, "rnn_forward", x, h0, Wx, Wh, b)


def rnn_backward(dh, cache):
    """dh: (N, T, H) upstream gradient on every hidden state -> dx, dh0, dWx, dWh, db."""
    return sequence_backward("rnn_backward", dh, cache)
