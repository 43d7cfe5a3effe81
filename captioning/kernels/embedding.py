"""Scatter-add for the word-embedding gradient."""

from __future__ import annotations

from ._jit import serial_njit


@serial_njit
def scatter_add_rows(dout, idx, dW):
    """dW[idx[p]] += dout[p] for every row p.  dout: (P, W); idx: (P,); dW: (V, W).

    Serial on purpose: rows of one word collide, and at P*W ~ 1e6 the whole
    loop costs well under a millisecond.
    """
    P, W = dout.shape
    for p in range(P):
        k = idx[p]
        for j in range(W):
            dW[k, j] += dout[p, j]
