"""Layout kernel: a cache-blocked transpose for the recurrent gradient of the backward pass.

OpenBLAS runs the backward's per-step product faster as ``Wh @ da.T`` (an (H, n)
result) than as ``da @ Wh.T`` (``bench/bench_recurrent_product.py``); this kernel
turns the (H, n) result back into the (n, H) rows the gate kernels read, in
16 x 16 tiles so that both sides stay in cache.
"""

from __future__ import annotations

from ._jit import serial_njit

_TILE = 16


@serial_njit
def transpose_into(src, dst):
    """dst <- src.T.  src: (H, n); dst: (n, H), any row stride."""
    H, n = src.shape
    for j0 in range(0, H, _TILE):
        j1 = min(j0 + _TILE, H)
        for r0 in range(0, n, _TILE):
            r1 = min(r0 + _TILE, n)
            if j1 - j0 == _TILE and r1 - r0 == _TILE:  # full tile: fixed trip counts LLVM unrolls
                for j in range(j0, j0 + _TILE):
                    for r in range(r0, r0 + _TILE):
                        dst[r, j] = src[j, r]
            else:
                for j in range(j0, j1):
                    for r in range(r0, r1):
                        dst[r, j] = src[j, r]
