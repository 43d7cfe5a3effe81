"""Helpers the tests share: tiny models, free ports, waiting for and stopping processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import numpy as np

from captioning import CaptioningRNN

SPECIAL = ["<NULL>", "<START>", "<END>", "<UNK>"]


def tiny_model(cell_type="lstm", *, V=7, D=6, W=5, H=8, dtype=np.float64, seed=0, word_to_idx=None) -> CaptioningRNN:
    """A small CaptioningRNN: the special words and w0, w1, ... (V in all), or ``word_to_idx``'s vocabulary."""
    if word_to_idx is None:
        word_to_idx = {w: i for i, w in enumerate(SPECIAL + [f"w{i}" for i in range(V - len(SPECIAL))])}
    return CaptioningRNN(word_to_idx, D, W, H, cell_type=cell_type, dtype=dtype, seed=seed)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    """Call ``predicate`` until it returns something true (returned) or ``timeout`` seconds pass (TimeoutError)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s")


def answers(url: str, proc: subprocess.Popen | None = None):
    """A predicate for :func:`wait_for`: ``url`` answers 200; fails at once if ``proc`` (the server) has exited."""

    def ok() -> bool:
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read()[-3000:] if proc.stdout else ""
            raise AssertionError(f"{proc.args} exited with {proc.returncode}:\n{out}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return False

    return ok


def stop(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """Stop a process started in its own session: SIGTERM to its group, then SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(5)


def kill_mid_epoch(code: str, checkpoint, timeout: float = 120) -> None:
    """Run ``python -c code`` (a training that checkpoints every epoch) and SIGKILL it inside an epoch after
    its second checkpoint; fail if it finished first."""
    import sys

    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.time() + timeout
        while not checkpoint.exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.01)
        mtime = checkpoint.stat().st_mtime_ns
        while checkpoint.stat().st_mtime_ns == mtime and time.time() < deadline and proc.poll() is None:
            time.sleep(0.005)  # a later epoch's checkpoint: kill inside the next epoch
        time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the training run finished before it could be killed"
