"""Word-embedding layer.  Shapes: N batch, T steps, V vocabulary size, D embedding size."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import _validate as check
from ..kernels.embedding import scatter_add_rows


class EmbeddingCache(NamedTuple):
    x: np.ndarray  # (N, T) token ids
    W_shape: tuple
    dtype: np.dtype


def word_embedding_forward(x, W):
    """x: (N, T) integer ids in [0, V), W: (V, D) -> out (N, T, D), cache."""
    fn = "word_embedding_forward"
    check.float_arrays(fn, W=W)
    check.shape(fn, "W", W, (None, None), "(V, D)")
    x = check.token_ids(fn, "x", x, W.shape[0])
    return W[x], EmbeddingCache(x, W.shape, W.dtype)


def word_embedding_backward(dout, cache: EmbeddingCache):
    """dout: (N, T, D) -> dW (V, D); rows of repeated words accumulate."""
    x, (V, D), dtype = cache
    fn = "word_embedding_backward"
    check.float_arrays(fn, dout=dout)
    if dout.dtype != dtype:
        raise ValueError(f"{fn}: dout has dtype {dout.dtype} but the forward pass used {dtype}")
    check.shape(fn, "dout", dout, (*x.shape, D), "(N, T, D)")
    dW = np.zeros((V, D), dtype=dtype)
    scatter_add_rows(np.ascontiguousarray(dout).reshape(-1, D), np.ascontiguousarray(x).reshape(-1), dW)
    return dW
