"""The job runner: a workflow step's process settings, its log file and its one-line errors."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time


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


RETRIES = "urllib3.connectionpool"  # logs each retried request (MLflow's client retries through urllib3)


def _log_to(stream):
    """Send the package's log records (INFO and up) and the HTTP client's retries to ``stream``; returns the undo.

    A retried request is the one sign that a job waits for its tracking server (urllib3 warns of each
    retry, but only to handlers of its own: it installs a NullHandler).
    """
    logger, retries = logging.getLogger("captioning"), logging.getLogger(RETRIES)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    retried = logging.StreamHandler(stream)
    retried.setLevel(logging.WARNING)
    retried.setFormatter(logging.Formatter("tracking server request retried: %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    retries.addHandler(retried)

    def undo():
        logger.removeHandler(handler)
        logger.setLevel(level)
        retries.removeHandler(retried)

    return undo


def run_step(name: str, func, log=None, threads: int = 1, **kwargs):
    """Call ``func(**kwargs)`` as a workflow job, with stdout/stderr in ``log``.

    The job's process settings are made here, never on import: threads (see
    :func:`captioning.threads.configure_threads`), bounded MLflow HTTP retries,
    SIGTERM (a cluster's ``scancel``) unwinding like Ctrl-C, and the package's
    loggers writing their INFO messages into the log.  A known error prints one
    line and exits 1; the final line of the log (the step's one-line summary, or
    the error) also goes to the terminal.
    """
    from ..threads import configure_threads
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
        stack.callback(_log_to(sys.stdout))
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
