"""Benchmark: the backward pass's per-step product ``da @ Wh.T`` in the layouts OpenBLAS can run it in.

    python bench/bench_recurrent_product.py [--rounds 30]

For the per-step batch sizes of ``bench_train_step.py``'s batches (an LSTM,
float32, ``Wh`` 512 x 2048), one backward sweep over the steps, three ways:

  * ``da @ Wh.T``            an (n, H) result from a transposed view of ``Wh``;
  * ``Wh @ da.T``            the transposed, (H, n) result;
  * ``+ transpose``          that, turned back into (n, H) rows by ``captioning.kernels.layout``,
                             which is what the cells do.

A 32 MB array is summed before every sweep so that ``Wh`` starts out of cache, as it
does in a training step.  Medians over interleaved rounds; on a CPU with AVX-512
under OpenBLAS's own kernel and Haswell's (``bench/blas_kernels.py``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
from bench_train_step import H, make_batch
from blas_kernels import kernel_envs, kernel_name
from step_worker import batch_sizes

G = 4 * H
VARIANTS = ("da @ Wh.T", "Wh @ da.T", "+ transpose")


def worker(N: int, rounds: int) -> dict:
    from captioning.kernels.layout import transpose_into

    sizes = batch_sizes(make_batch(N)[1])
    offsets = np.cumsum([0, *sizes])
    rng = np.random.default_rng(0)
    Wh = rng.standard_normal((H, G), dtype=np.float32)
    da = rng.standard_normal((offsets[-1], G), dtype=np.float32)
    dh = np.empty((N, H), np.float32)
    scratch = np.empty(H * N, np.float32)
    evict = rng.standard_normal(8 << 20, dtype=np.float32)

    def sweep(variant):
        for t in reversed(range(len(sizes))):
            n, rows = sizes[t], da[offsets[t] : offsets[t + 1]]
            if variant == "da @ Wh.T":
                np.matmul(rows, Wh.T, out=dh[:n])
            else:
                prod = scratch[: H * n].reshape(H, n)
                np.matmul(Wh, rows.T, out=prod)
                if variant == "+ transpose":
                    transpose_into(prod, dh[:n])

    times = {v: [] for v in VARIANTS}
    for _ in range(3):
        for v in VARIANTS:
            sweep(v)
    for _ in range(rounds):
        for v in VARIANTS:
            evict.sum()
            t0 = time.perf_counter()
            sweep(v)
            times[v].append(time.perf_counter() - t0)
    return {v: float(np.median(ts)) for v, ts in times.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[25, 128])
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.rounds)))
        return
    from captioning.provenance import describe, numerics

    print(f"machine: {describe(numerics())}\n")
    print("| kernel | N | " + " | ".join(f"{v} ms" for v in VARIANTS) + " | speed-up, with the transpose |")
    print("|---|---:|" + "---:|" * len(VARIANTS) + "---:|")
    for env in kernel_envs().values():
        kernel = kernel_name(env)
        for N in args.batch_sizes:
            cmd = [sys.executable, __file__, "--worker", str(N), "--rounds", str(args.rounds)]
            out = json.loads(subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout)
            cells = " | ".join(f"{1e3 * out[v]:.2f}" for v in VARIANTS)
            print(f"| {kernel} | {N} | {cells} | {out['da @ Wh.T'] / out['+ transpose']:.2f}x |")


if __name__ == "__main__":
    main()
