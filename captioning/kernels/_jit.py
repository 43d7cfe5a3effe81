"""One place for Numba compilation flags and the serial/parallel kernel pairs.

Every kernel is written once as a plain Python function over a 2-D block of rows
and compiled twice:

* ``serial``: ``@njit(cache=True)``, cached on disk so compile time is paid once;
* ``parallel``: ``@njit(parallel=True)`` with ``prange`` over rows (never over
  time).  Parallel kernels are not cached (Numba cannot cache them safely).

:func:`pick` chooses between the two by the amount of work: on small blocks the
fork/join cost and the fight between Numba's OpenMP pool and OpenBLAS's threads
cost more than they save (see ``bench/bench_kernels.py``).
"""

from __future__ import annotations

import os

# Numba's OpenMP pool spin-waits after every parallel region by default, which
# steals the core that OpenBLAS needs for the very next matrix product.  Passive
# waiting must be chosen before libgomp is loaded; an explicit user setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba  # noqa: E402

# fastmath without 'nnan'/'ninf': the stable sigmoid and log-sum-exp rely on
# inf and NaN behaving per IEEE.
FASTMATH = {"nsz", "arcp", "contract", "afn"}

# Below this many elements per call a kernel runs serially; measured with
# ``python bench/bench_kernels.py`` on a 2-core machine.
PARALLEL_MIN_ELEMENTS = int(os.environ.get("CAPTIONING_PARALLEL_MIN_ELEMENTS", 1 << 18))


class KernelPair:
    """A kernel compiled serially (cached) and in parallel (uncached)."""

    def __init__(self, py_func):
        self.py_func = py_func
        self.serial = numba.njit(cache=True, fastmath=FASTMATH, nogil=True, error_model="numpy")(py_func)
        self.parallel = numba.njit(parallel=True, fastmath=FASTMATH, nogil=True, error_model="numpy")(py_func)
        self.__name__ = py_func.__name__
        self.__doc__ = py_func.__doc__

    def pick(self, n_elements: int):
        if n_elements >= PARALLEL_MIN_ELEMENTS and numba.get_num_threads() > 1:
            return self.parallel
        return self.serial

    def __call__(self, n_elements: int, *args):
        return self.pick(n_elements)(*args)


def kernel_pair(py_func) -> KernelPair:
    """Decorator: compile ``py_func`` (written with ``numba.prange``) both ways."""
    return KernelPair(py_func)


serial_njit = numba.njit(cache=True, fastmath=FASTMATH, nogil=True, error_model="numpy")

# Row sums: reassociation lets LLVM vectorise them.  They are compiled as
# separate functions (not Numba-inlined) so the flag stays on their own
# instructions after LLVM inlines them.  The order of a reassociated sum is fixed
# by the compiled code, so results are still identical from run to run.
sum_njit = numba.njit(cache=True, fastmath=FASTMATH | {"reassoc"}, nogil=True, error_model="numpy")

# Scalar helpers called from kernels: inlined at Numba-IR level so LLVM sees one
# straight-line loop body it can if-convert and vectorise.
inline_njit = numba.njit(inline="always", fastmath=FASTMATH, nogil=True, error_model="numpy")
