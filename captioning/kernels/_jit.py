"""One place for Numba compilation flags and the serial/parallel kernel pairs.

Every kernel is written once as a plain Python function over a 2-D block of rows
and compiled twice:

* ``serial``: ``@njit(cache=True)``, cached on disk so compile time is paid once;
* ``parallel``: ``@njit(parallel=True)`` with ``prange`` over rows (never over
  time).  Parallel kernels are not cached (Numba cannot cache them safely) and
  compile on their first use.

:meth:`KernelPair.pick` chooses between the two by the amount of work (on small
blocks fork/join costs more than it saves, see ``bench/bench_kernels.py``) and
only where Numba's thread pool cannot spin against OpenBLAS: Numba's default
OpenMP layer busy-waits after every parallel region and steals the core the next
``h @ Wh`` needs (a parallel gate kernel took 5-9x longer than the serial one on
2 cores).  Importing this package never changes the process's settings; a
process opts in with ``NUMBA_THREADING_LAYER=workqueue`` (or ``tbb``), or with
``OMP_WAIT_POLICY=PASSIVE``, set before Python starts.  The workflow's jobs do
it through :func:`captioning.threads.configure_threads`.
"""

from __future__ import annotations

import os

import numba

# fastmath without 'nnan'/'ninf': the stable sigmoid and log-sum-exp rely on
# inf and NaN behaving per IEEE.
FASTMATH = {"nsz", "arcp", "contract", "afn"}

# Below this many elements per call a kernel runs serially: on the 2-core machine,
# under the workqueue layer, ``python bench/bench_kernels.py`` measured the
# parallel kernels 0.74-0.99x as fast as the serial ones up to ~1.5M elements.
PARALLEL_MIN_ELEMENTS = int(os.environ.get("CAPTIONING_PARALLEL_MIN_ELEMENTS", 1 << 21))

# Threading layers whose idle workers sleep instead of spinning.
QUIET_LAYERS = ("workqueue", "tbb")


def parallel_allowed() -> bool:
    """True when more than one Numba thread is allowed and its pool does not spin (see the module doc)."""
    if numba.get_num_threads() < 2:
        return False
    if numba.config.THREADING_LAYER in QUIET_LAYERS:
        return True
    return os.environ.get("OMP_WAIT_POLICY", "").lower() == "passive"


class KernelPair:
    """Decorator: compile a kernel written with ``numba.prange`` serially (cached) and in parallel (uncached)."""

    def __init__(self, py_func):
        self.serial = numba.njit(cache=True, fastmath=FASTMATH, nogil=True, error_model="numpy")(py_func)
        self.parallel = numba.njit(parallel=True, fastmath=FASTMATH, nogil=True, error_model="numpy")(py_func)
        self.__name__ = py_func.__name__
        self.__doc__ = py_func.__doc__

    def pick(self, n_elements: int):
        if n_elements >= PARALLEL_MIN_ELEMENTS and parallel_allowed():
            return self.parallel
        return self.serial

    def __call__(self, n_elements: int, *args):
        return self.pick(n_elements)(*args)


serial_njit = numba.njit(cache=True, fastmath=FASTMATH, nogil=True, error_model="numpy")

# Row sums: reassociation lets LLVM vectorise them.  They are compiled as
# separate functions (not Numba-inlined) so the flag stays on their own
# instructions after LLVM inlines them.  The order of a reassociated sum is fixed
# by the compiled code, so results are still identical from run to run.
sum_njit = numba.njit(cache=True, fastmath=FASTMATH | {"reassoc"}, nogil=True, error_model="numpy")

# Scalar helpers called from kernels: inlined at Numba-IR level so LLVM sees one
# straight-line loop body it can if-convert and vectorise.
inline_njit = numba.njit(inline="always", fastmath=FASTMATH, nogil=True, error_model="numpy")
