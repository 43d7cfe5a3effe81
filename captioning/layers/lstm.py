"""LSTM layers with the notebook's signatures; gates in the order i, f, o, g.

Shapes: N batch, T steps, D input size, H hidden size.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import _validate as check
from ..cells import LSTMCell
from ..kernels import elementwise as K
from ._sequence import sequence_backward, sequence_forward


class LSTMStepCache(NamedTuple):
    x: np.ndarray  # (N, D)
    prev_h: np.ndarray  # (N, H)
    prev_c: np.ndarray  # (N, H)
    Wx: np.ndarray  # (D, 4H)
    Wh: np.ndarray  # (H, 4H)
    gates: np.ndarray  # (N, 4H) activations i, f, o, g
    tc: np.ndarray  # (N, H) tanh(next_c)


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    """One LSTM step.  x: (N, D), prev_h, prev_c: (N, H), Wx: (D, 4H), Wh: (H, 4H), b: (4H,).

    Returns next_h, next_c (N, H) and a cache for :func:`lstm_step_backward`.
    """
    fn = "lstm_step_forward"
    check.float_arrays(fn, x=x, prev_h=prev_h, prev_c=prev_c, Wx=Wx, Wh=Wh, b=b)
    check.shape(fn, "x", x, (None, None), "(N, D)")
    N, D = x.shape
    check.shape(fn, "prev_h", prev_h, (N, None), "(N, H)")
    H = prev_h.shape[1]
    check.shape(fn, "prev_c", prev_c, (N, H), "(N, H)")
    check.shape(fn, "Wx", Wx, (D, 4 * H), "(D, 4H)")
    check.shape(fn, "Wh", Wh, (H, 4 * H), "(H, 4H)")
    check.shape(fn, "b", b, (4 * H,), "(4H,)")
    a = prev_h @ Wh
    next_h, next_c, tc = (np.empty_like(prev_h) for _ in range(3))
    K.lstm_gates_forward(a.size, a, x @ Wx + b, np.arange(N), np.ascontiguousarray(prev_c), next_h, next_c, tc)
    return next_h, next_c, LSTMStepCache(x, prev_h, prev_c, Wx, Wh, a, tc)


def lstm_step_backward(dnext_h, dnext_c, cache: LSTMStepCache):
    """dnext_h, dnext_c: (N, H) -> dx, dprev_h, dprev_c, dWx, dWh, db."""
    fn = "lstm_step_backward"
    x, prev_h, prev_c, Wx, Wh, gates, tc = cache
    check.float_arrays(fn, dnext_h=dnext_h, dnext_c=dnext_c, cache_x=x)
    check.shape(fn, "dnext_h", dnext_h, tc.shape, "(N, H)")
    check.shape(fn, "dnext_c", dnext_c, tc.shape, "(N, H)")
    da = np.empty_like(gates)
    dc = np.array(dnext_c, order="C")  # becomes dprev_c in place
    K.lstm_gates_backward(
        da.size, np.ascontiguousarray(dnext_h), np.zeros_like(tc), dc, gates, np.ascontiguousarray(prev_c), tc, da
    )
    return da @ Wx.T, da @ Wh.T, dc, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def lstm_forward(x, h0, Wx, Wh, b):
    """LSTM over a whole sequence with zero initial cell state.

    x: (N, T, D), h0: (N, H) -> h (N, T, H), cache.
    """
    return sequence_forward(LSTMCell, "lstm_forward", x, h0, Wx, Wh, b)


def lstm_backward(dh, cache):
    """dh: (N, T, H) upstream gradient on every hidden state -> dx, dh0, dWx, dWh, db."""
    return sequence_backward("lstm_backward", dh, cache)
