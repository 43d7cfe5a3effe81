"""Packed, time-major layout for batches of variable-length sequences.

Rows are sorted by length, longest first, so the rows still active at step t
are always a prefix ``[0, batch_sizes[t])`` of the batch.  Step t of the packed
arrays occupies rows ``offsets[t]:offsets[t+1]``; ``P = offsets[-1]`` is the
number of (row, step) pairs that are actually computed.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Packing(NamedTuple):
    batch_sizes: np.ndarray  # (T,) non-increasing, all > 0
    offsets: np.ndarray  # (T + 1,)

    @classmethod
    def full(cls, N: int, T: int) -> Packing:
        """Every row runs all T steps: packed arrays are (T, N, ...) reshaped to (T*N, ...)."""
        return cls.from_batch_sizes(np.full(T, N, dtype=np.int64))

    @classmethod
    def from_batch_sizes(cls, batch_sizes: np.ndarray) -> Packing:
        batch_sizes = np.asarray(batch_sizes, dtype=np.int64)
        offsets = np.zeros(len(batch_sizes) + 1, dtype=np.int64)
        np.cumsum(batch_sizes, out=offsets[1:])
        return cls(batch_sizes, offsets)

    @classmethod
    def from_sorted_lengths(cls, lengths: np.ndarray) -> Packing:
        """``lengths`` sorted in non-increasing order; zero-length rows take no steps."""
        T = int(lengths[0]) if len(lengths) else 0
        batch_sizes = (lengths[None, :] > np.arange(T)[:, None]).sum(axis=1)
        return cls.from_batch_sizes(batch_sizes)

    @property
    def T(self) -> int:
        return len(self.batch_sizes)

    @property
    def total(self) -> int:
        return int(self.offsets[-1])

    def rows(self, t: int) -> slice:
        return slice(int(self.offsets[t]), int(self.offsets[t + 1]))

    def shift_prev(self, hs: np.ndarray, h0: np.ndarray) -> np.ndarray:
        """Packed array whose step-t rows are the states entering step t (h0 at t=0)."""
        out = np.empty_like(hs)
        if self.T == 0:
            return out
        out[self.rows(0)] = h0[: self.batch_sizes[0]]
        for t in range(1, self.T):
            start = int(self.offsets[t - 1])
            out[self.rows(t)] = hs[start : start + self.batch_sizes[t]]
        return out


def sequence_lengths(mask: np.ndarray) -> np.ndarray:
    """Per-row effective length: one past the last True position of ``mask`` (N, T), or 0."""
    N, T = mask.shape
    if T == 0:
        return np.zeros(N, dtype=np.int64)
    last = T - np.argmax(mask[:, ::-1], axis=1)
    return np.where(mask.any(axis=1), last, 0).astype(np.int64)


def pack_order(lengths: np.ndarray) -> tuple[np.ndarray, Packing, np.ndarray, np.ndarray]:
    """Sort rows by length and describe the packed layout.

    Returns ``order`` (N,) row permutation (longest first), the :class:`Packing`,
    and ``(rows, steps)`` (P,) giving the original row and the step of every
    packed position, in packed order.
    """
    order = np.argsort(-lengths, kind="stable")
    sorted_lengths = lengths[order]
    packing = Packing.from_sorted_lengths(sorted_lengths)
    active = np.arange(packing.T)[:, None] < sorted_lengths[None, :]  # (T, N), time-major
    steps, sorted_rows = np.nonzero(active)
    return order, packing, order[sorted_rows], steps
