"""Full-length sequence forward/backward shared by ``rnn_*`` and ``lstm_*``.

Shapes: N batch, T steps, D input size, H hidden size, G = gates * H.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import _validate as check
from ..packing import Packing


class SequenceCache(NamedTuple):
    x_tm: np.ndarray  # (T*N, D) inputs, time-major
    Wx: np.ndarray  # (D, G)
    cell: type
    core: tuple  # the cell's own cache
    N: int
    T: int


def sequence_forward(cell, fn: str, x, h0, Wx, Wh, b):
    """x: (N, T, D), h0: (N, H) -> h (N, T, H), cache."""
    check.float_arrays(fn, x=x, h0=h0, Wx=Wx, Wh=Wh, b=b)
    check.shape(fn, "x", x, (None, None, None), "(N, T, D)")
    N, T, D = x.shape
    check.shape(fn, "h0", h0, (N, None), "(N, H)")
    H = h0.shape[1]
    G = cell.gates * H
    g = "" if cell.gates == 1 else f"{cell.gates}"
    check.shape(fn, "Wx", Wx, (D, G), f"(D, {g}H)")
    check.shape(fn, "Wh", Wh, (H, G), f"(H, {g}H)")
    check.shape(fn, "b", b, (G,), f"({g}H,)")
    x_tm = np.ascontiguousarray(x.transpose(1, 0, 2)).reshape(T * N, D)
    xa = x_tm @ Wx
    xa += b
    hs, core = cell.forward(xa, np.ascontiguousarray(h0), np.ascontiguousarray(Wh), Packing.full(N, T))
    h = np.ascontiguousarray(hs.reshape(T, N, H).transpose(1, 0, 2))
    return h, SequenceCache(x_tm, Wx, cell, core, N, T)


def sequence_backward(fn: str, dh, cache: SequenceCache):
    """dh: (N, T, H) -> dx (N, T, D), dh0 (N, H), dWx, dWh, db."""
    x_tm, Wx, cell, core, N, T = cache
    H = core.h0.shape[1]
    check.float_arrays(fn, dh=dh, cache_x=x_tm)
    check.shape(fn, "dh", dh, (N, T, H), "(N, T, H)")
    dhs = np.ascontiguousarray(dh.transpose(1, 0, 2)).reshape(T * N, H)
    dxa, dh0, dWh = cell.backward(dhs, core)
    dWx = x_tm.T @ dxa
    db = dxa.sum(axis=0)
    dx = np.ascontiguousarray((dxa @ Wx.T).reshape(T, N, -1).transpose(1, 0, 2))
    return dx, dh0, dWx, dWh, db
