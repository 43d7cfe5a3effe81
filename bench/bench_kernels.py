"""Benchmark: serial vs parallel Numba kernels, each called right after a BLAS product.

    python bench/bench_kernels.py

This is how the kernels run inside a training step: OpenBLAS's threads have just
finished ``h @ Wh`` when the gate kernel starts, so the two thread pools meet.
The crossover it prints is what ``PARALLEL_MIN_ELEMENTS`` in
``captioning/kernels/_jit.py`` is set from.  Medians over interleaved repeats.
"""

from __future__ import annotations

import argparse
import os
import time
from functools import partial

import numpy as np

from captioning.kernels import _jit
from captioning.kernels import elementwise as K


def case_lstm_forward(rng, n, H):
    a = rng.standard_normal((n, 4 * H), dtype=np.float32)
    xa = rng.standard_normal((n, 4 * H), dtype=np.float32)
    h = rng.standard_normal((n, H), dtype=np.float32)
    Wh = rng.standard_normal((H, 4 * H), dtype=np.float32)
    c, hn, cn, tc = (np.empty((n, H), np.float32) for _ in range(4))
    c[:] = 0.1
    rows = np.arange(n)

    def run(kernel):
        np.matmul(h, Wh, out=a)
        kernel(a, xa, rows, c, hn, cn, tc)

    return K.lstm_gates_forward, run, n * 4 * H


def case_lstm_backward(rng, n, H):
    da = np.empty((n, 4 * H), np.float32)
    gates = rng.random((n, 4 * H), dtype=np.float32)
    dh_out, dh_rec, dc, c_prev, tc = (rng.standard_normal((n, H), dtype=np.float32) for _ in range(5))
    dh_prev = np.empty_like(dh_rec)
    Wh = rng.standard_normal((H, 4 * H), dtype=np.float32)

    def run(kernel):
        kernel(dh_out, dh_rec, dc.copy(), gates, c_prev, tc, da)
        np.matmul(da, Wh.T, out=dh_prev)

    return K.lstm_gates_backward, run, n * 4 * H


def case_softmax(rng, n, H, V=1004):
    h = rng.standard_normal((n * 12, H), dtype=np.float32)  # ~12 scored steps per caption
    Wv = rng.standard_normal((H, V), dtype=np.float32) / np.float32(np.sqrt(H))
    y = rng.integers(V, size=n * 12)
    w = np.full(n * 12, 1.0 / n, np.float32)
    losses = np.empty(n * 12)

    def run(kernel):
        scores = h @ Wv
        kernel(scores, y, w, losses)

    return K.softmax_xent, run, n * 12 * V


CASES = {
    "lstm_gates_forward": case_lstm_forward,
    "lstm_gates_backward": case_lstm_backward,
    "softmax_xent": case_softmax,
}


def median_ms(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[4, 8, 16, 32, 64, 128, 256])
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=60)
    args = ap.parse_args(argv)
    # The parallel kernels only ever run under a threading layer that does not spin
    # (kernels/_jit.py): measure them under one, unless the user chose another.
    if _jit.numba.config.THREADING_LAYER == "default" and "OMP_WAIT_POLICY" not in os.environ:
        _jit.numba.config.THREADING_LAYER = "workqueue"
    rng = np.random.default_rng(0)
    from captioning.provenance import describe, numerics

    print(f"machine: {describe(numerics())}\n")
    print(
        f"numba threads: {_jit.numba.get_num_threads()}, threading layer: {_jit.numba.config.THREADING_LAYER}, "
        f"current threshold: {_jit.PARALLEL_MIN_ELEMENTS} elements"
    )
    print("\n| kernel | rows | elements | serial ms (incl. BLAS) | parallel ms (incl. BLAS) | parallel speed-up |")
    print("|---|---:|---:|---:|---:|---:|")
    crossover = {}
    for name, make in CASES.items():
        for n in args.rows:
            pair, run, elements = make(rng, n, args.hidden)
            run(pair.serial), run(pair.parallel)  # compile
            ser, par = [], []
            for _ in range(args.repeats // 10):
                ser.append(median_ms(partial(run, pair.serial), 10))
                par.append(median_ms(partial(run, pair.parallel), 10))
            s, p = float(np.median(ser)), float(np.median(par))
            if s / p > 1.05 and name not in crossover:
                crossover[name] = elements
            print(f"| {name} | {n} | {elements} | {s:.3f} | {p:.3f} | {s / p:.2f}x |")
    print("\nsummary: parallel pays from " + ", ".join(f"{k} >= {v} elements" for k, v in crossover.items()))


if __name__ == "__main__":
    main()
