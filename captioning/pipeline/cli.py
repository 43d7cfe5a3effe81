"""Running a workflow step: threads, logging to the rule's log file, one-line errors."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time


def configure_threads(threads: int) -> int:
    """Limit Numba and BLAS to ``threads`` (Snakemake sets OMP/OPENBLAS/MKL_NUM_THREADS, not Numba's).

    This is a job's entry point, so unlike the library it may choose process-wide
    settings: with more than one thread, and unless the user chose a threading
    layer or OpenMP wait policy, Numba gets its ``workqueue`` layer, whose idle
    workers sleep instead of spinning against OpenBLAS (see ``kernels/_jit.py``).
    """
    import numba
    from threadpoolctl import threadpool_limits

    n = max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS))
    if n > 1 and numba.config.THREADING_LAYER == "default" and "OMP_WAIT_POLICY" not in os.environ:
        numba.config.THREADING_LAYER = "workqueue"
    numba.set_num_threads(n)
    threadpool_limits(n)
    return n


def _terminated(signum, frame):
    raise SystemExit(128 + signum)  # unwinds like Ctrl-C: runs are marked FAILED, temporary files removed


def _one_line(err: BaseException) -> str | None:
    """The message of an error we explain in one line, or None for a bug (keep its traceback)."""
    from ..errors import CaptioningError

    if isinstance(err, CaptioningError):
        return str(err)
    if type(err).__module__.startswith("mlflow"):  # e.g. the tracking server went away mid-run
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return f"MLflow: {first}"
    return None


def run_step(name: str, func, log=None, threads: int = 1, **kwargs):
    """Call ``func(**kwargs)`` as a workflow job, with stdout/stderr in ``log``.

    The job's process settings are made here, never on import: threads (see
    :func:`configure_threads`), bounded MLflow HTTP retries, and SIGTERM (a cluster's
    ``scancel``) unwinding like Ctrl-C.  A known error prints one line and exits 1;
    the final line of the log (the step's one-line summary, or the error) also goes
    to the terminal.
    """
    from .tracking import configure_http_retries

    configure_threads(threads)
    configure_http_retries()
    signal.signal(signal.SIGTERM, _terminated)
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        terminal = sys.__stderr__
        if log:
            os.makedirs(os.path.dirname(os.path.abspath(log)), exist_ok=True)
            handle = stack.enter_context(open(log, "w", buffering=1))
            stack.enter_context(contextlib.redirect_stdout(handle))
            stack.enter_context(contextlib.redirect_stderr(handle))
        try:
            result = func(**kwargs)
        except Exception as err:
            message = _one_line(err)
            if message is None:
                raise
            print(f"{name}: {message}", file=sys.stderr)
            if log:
                print(f"{name}: {message}", file=terminal)
            sys.exit(1)
        summary = f"{name}: done in {time.perf_counter() - start:.0f} s" + (
            f" - {result}" if isinstance(result, str) else ""
        )
        print(summary)
        if log:
            print(summary, file=terminal)
        return result
