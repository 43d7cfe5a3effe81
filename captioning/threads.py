"""How many threads a process's kernels and BLAS use: a runtime choice, never made on import."""

from __future__ import annotations

import os


def configure_threads(threads: int) -> int:
    """Limit Numba and BLAS to ``threads`` in this process; returns the number set.

    For a process's entry point (a workflow job, a benchmark), never a library
    import: it changes process-wide settings.  Snakemake sets
    OMP/OPENBLAS/MKL_NUM_THREADS but not Numba's.  With more than one thread, and
    unless the user chose a threading layer or an OpenMP wait policy, Numba gets
    its ``workqueue`` layer, whose idle workers sleep instead of spinning against
    OpenBLAS (see ``kernels/_jit.py``).
    """
    import numba
    from threadpoolctl import threadpool_limits

    n = max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS))
    if n > 1 and numba.config.THREADING_LAYER == "default" and "OMP_WAIT_POLICY" not in os.environ:
        numba.config.THREADING_LAYER = "workqueue"
    numba.set_num_threads(n)
    threadpool_limits(n)
    return n
