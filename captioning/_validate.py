"""Argument checks shared by the public functions.

Every failure is a one-line ``ValueError`` that names the function, the
argument and what was expected.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def float_arrays(fn: str, **arrays) -> np.dtype:
    """Check that every array is float32 or float64 and all share one dtype; return it."""
    dtype = None
    first = None
    for name, arr in arrays.items():
        if not isinstance(arr, np.ndarray):
            raise ValueError(f"{fn}: {name} must be a numpy array, got {type(arr).__name__}")
        if arr.dtype not in FLOAT_DTYPES:
            raise ValueError(f"{fn}: {name} must be float32 or float64, got {arr.dtype}")
        if dtype is None:
            dtype, first = arr.dtype, name
        elif arr.dtype != dtype:
            raise ValueError(
                f"{fn}: {name} has dtype {arr.dtype} but {first} has {dtype}; all floating inputs must share one dtype"
            )
    return dtype


def shape(fn: str, name: str, arr: np.ndarray, expected: Sequence[int | None], letters: str) -> None:
    """Check ``arr.shape`` against ``expected`` (None matches any size).

    ``letters`` spells the expected shape symbolically, e.g. ``"(N, 4H)"``.
    """
    ok = arr.ndim == len(expected) and all(e is None or e == s for e, s in zip(expected, arr.shape, strict=True))
    if not ok:
        concrete = (
            "(" + ", ".join("?" if e is None else str(e) for e in expected) + ("," if len(expected) == 1 else "") + ")"
        )
        raise ValueError(f"{fn}: {name} must have shape {letters} = {concrete}, got {arr.shape}")


def token_ids(fn: str, name: str, arr, V: int) -> np.ndarray:
    """Check an integer array of token ids lies in [0, V)."""
    arr = np.asarray(arr)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{fn}: {name} must hold integer token ids, got dtype {arr.dtype}")
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= V:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{fn}: {name} holds token id {bad} outside the vocabulary range [0, {V})")
    return arr


def positive_int(label: str, value, error: type[Exception] = ValueError) -> int:
    """``value`` as an int if it is a positive integer; else ``error("<label> must be a positive integer, ...")``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise error(f"{label} must be a positive integer, got {value!r}")
    return int(value)


def non_negative_int(label: str, value, error: type[Exception] = ValueError) -> int:
    """``value`` as an int if it is an integer >= 0; else ``error("<label> must be an integer >= 0, ...")``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise error(f"{label} must be an integer >= 0, got {value!r}")
    return int(value)
