"""Recurrent cells over the packed layout of :mod:`captioning.packing`.

A cell only runs the recurrence: the input projection ``xa = x @ Wx + b`` is one
BLAS product done by the caller (the model makes it once per distinct word and
passes which row each position adds), so inside the time loop there is just
``h @ Wh`` plus a Numba kernel for the element-wise part, which looks the rows up.

Shapes: P packed positions, N batch rows, H hidden size, G = gates * H, U rows of xa.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .kernels import elementwise as K
from .kernels.layout import transpose_into
from .packing import Packing


def recurrent_grad(Wh: np.ndarray, da: np.ndarray, scratch: np.ndarray, out: np.ndarray) -> None:
    """out <- da @ Wh.T, the gradient on h_{t-1}.  Wh: (H, G); da: (n, G); out: (n, H).

    Computed as ``(Wh @ da.T).T`` into ``scratch`` (at least H * n elements): at the
    per-step sizes OpenBLAS runs that layout faster than a transposed ``Wh`` operand.
    """
    H, n = Wh.shape[0], da.shape[0]
    prod = scratch[: H * n].reshape(H, n)
    np.matmul(Wh, da.T, out=prod)
    transpose_into(prod, out)


class RNNCache(NamedTuple):
    hs: np.ndarray  # (P, H)
    h0: np.ndarray  # (N, H)
    Wh: np.ndarray  # (H, H)
    packing: Packing


class LSTMCache(NamedTuple):
    hs: np.ndarray  # (P, H)
    cs: np.ndarray  # (P, H) cell states
    tcs: np.ndarray  # (P, H) tanh of cell states
    gates: np.ndarray  # (P, 4H) activations i, f, o, g
    h0: np.ndarray  # (N, H)
    Wh: np.ndarray  # (H, 4H)
    packing: Packing


class RNNCell:
    """Vanilla tanh RNN: h_t = tanh(x_t Wx + h_{t-1} Wh + b)."""

    name = "rnn"
    gates = 1

    @staticmethod
    def forward(xa: np.ndarray, h0: np.ndarray, Wh: np.ndarray, packing: Packing, rows: np.ndarray | None = None):
        """xa: (U, H) input projections, packed position p adds row ``rows[p]`` (default: p);
        h0: (N, H) -> hs (P, H), cache."""
        rows = np.arange(packing.total) if rows is None else rows
        hs = np.empty((packing.total, h0.shape[1]), dtype=h0.dtype)
        h = h0
        for t in range(packing.T):
            s, n = packing.rows(t), int(packing.batch_sizes[t])
            np.matmul(h[:n], Wh, out=hs[s])
            K.rnn_tanh_forward(hs[s].size, hs[s], xa, rows[s])
            h = hs[s]
        return hs, RNNCache(hs, h0, Wh, packing)

    @staticmethod
    def backward(dhs: np.ndarray, cache: RNNCache):
        """dhs: (P, H) -> dxa (P, H), dh0 (N, H), dWh (H, H)."""
        hs, h0, Wh, packing = cache
        dxa = np.empty_like(hs)
        dh = np.zeros_like(h0)  # rows a step has not reached yet get no recurrent gradient
        scratch = np.empty(h0.size, dtype=h0.dtype)
        for t in reversed(range(packing.T)):
            s, n = packing.rows(t), int(packing.batch_sizes[t])
            K.rnn_tanh_backward(hs[s].size, dhs[s], dh[:n], hs[s], dxa[s])
            recurrent_grad(Wh, dxa[s], scratch, dh[:n])
        dWh = packing.shift_prev(hs, h0).T @ dxa
        return dxa, dh, dWh

    @staticmethod
    def init_state(h0: np.ndarray):
        return (h0,)

    @staticmethod
    def step(table: np.ndarray, words: np.ndarray, state, Wh: np.ndarray, parents: np.ndarray):
        """One decoding step: row r feeds ``words[r]`` into state row ``parents[r]``; returns (h, new_state).

        table: (V, H) input projection of every word; words, parents: (n,) int64;
        state: (m, H) arrays -> h (n, H).  ``h @ Wh`` runs once per state row.
        """
        (h,) = state
        out = np.empty((words.shape[0], h.shape[1]), dtype=h.dtype)
        K.rnn_decode_step(h @ Wh, parents, table, words, out)
        return out, (out,)


class LSTMCell:
    """LSTM with gates i, f, o, g (the notebook's order) and zero initial cell state."""

    name = "lstm"
    gates = 4

    @staticmethod
    def forward(xa: np.ndarray, h0: np.ndarray, Wh: np.ndarray, packing: Packing, rows: np.ndarray | None = None):
        """xa: (U, 4H) input projections, packed position p adds row ``rows[p]`` (default: p);
        h0: (N, H) -> hs (P, H), cache."""
        rows = np.arange(packing.total) if rows is None else rows
        P, H = packing.total, h0.shape[1]
        gates = np.empty((P, 4 * H), dtype=h0.dtype)
        hs, cs, tcs = (np.empty((P, H), dtype=h0.dtype) for _ in range(3))
        h, c = h0, np.zeros_like(h0)
        for t in range(packing.T):
            s, n = packing.rows(t), int(packing.batch_sizes[t])
            np.matmul(h[:n], Wh, out=gates[s])
            K.lstm_gates_forward(gates[s].size, gates[s], xa, rows[s], c[:n], hs[s], cs[s], tcs[s])
            h, c = hs[s], cs[s]
        return hs, LSTMCache(hs, cs, tcs, gates, h0, Wh, packing)

    @staticmethod
    def backward(dhs: np.ndarray, cache: LSTMCache):
        """dhs: (P, H) -> dxa (P, 4H), dh0 (N, H), dWh (H, 4H)."""
        hs, cs, tcs, gates, h0, Wh, packing = cache
        dxa = np.empty_like(gates)
        dh = np.zeros_like(h0)  # rows a step has not reached yet get no recurrent gradient
        scratch = np.empty(h0.size, dtype=h0.dtype)
        dc = np.zeros_like(h0)
        c0 = np.zeros_like(h0)
        for t in reversed(range(packing.T)):
            s, n = packing.rows(t), int(packing.batch_sizes[t])
            c_prev = cs[packing.rows(t - 1)][:n] if t else c0[:n]
            K.lstm_gates_backward(gates[s].size, dhs[s], dh[:n], dc[:n], gates[s], c_prev, tcs[s], dxa[s])
            recurrent_grad(Wh, dxa[s], scratch, dh[:n])
        dWh = packing.shift_prev(hs, h0).T @ dxa
        return dxa, dh, dWh

    @staticmethod
    def init_state(h0: np.ndarray):
        return (h0, np.zeros_like(h0))

    @staticmethod
    def step(table: np.ndarray, words: np.ndarray, state, Wh: np.ndarray, parents: np.ndarray):
        """One decoding step: row r feeds ``words[r]`` into state row ``parents[r]``; returns (h, new_state).

        table: (V, 4H) input projection of every word; words, parents: (n,) int64;
        state: two (m, H) arrays -> h (n, H).  ``h @ Wh`` runs once per state row,
        however many rows continue it (beam hypotheses sharing a parent).
        """
        h, c = state
        n = words.shape[0]
        h_new, c_new = np.empty((n, h.shape[1]), dtype=h.dtype), np.empty((n, h.shape[1]), dtype=h.dtype)
        K.lstm_decode_step(h @ Wh, parents, table, words, c, h_new, c_new)
        return h_new, (h_new, c_new)


CELLS = {cell.name: cell for cell in (RNNCell, LSTMCell)}


def get_cell(cell_type: str):
    try:
        return CELLS[cell_type]
    except KeyError:
        raise ValueError(f"cell_type must be one of {sorted(CELLS)}, got {cell_type!r}") from None
