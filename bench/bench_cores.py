"""Benchmark: how much matrix-multiply throughput the machine's cores give together.

    python bench/bench_cores.py [--seconds 8]

Runs a one-thread float32 sgemm (2048x512 @ 512x2048, NumPy's BLAS) for
``--seconds`` in one clean process, then in one process per core at the same
time, and prints each process's GFLOP/s and their sum.  When the sum is no
larger than the single rate, the cores share their floating-point units (as
SMT siblings do), and running more BLAS-bound jobs at once cannot shorten a
workflow whose work is matrix products.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

WORKER = """
import sys, time
from threadpoolctl import threadpool_limits
threadpool_limits(1)
import numpy as np
rng = np.random.default_rng(0)
a = rng.standard_normal((2048, 512), dtype=np.float32)
b = rng.standard_normal((512, 2048), dtype=np.float32)
a @ b
t0, n = time.perf_counter(), 0
while time.perf_counter() - t0 < float(sys.argv[1]):
    a @ b
    n += 1
print(2 * 2048 * 512 * 2048 * n / (time.perf_counter() - t0) / 1e9)
"""


def run(processes: int, seconds: float) -> list[float]:
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(seconds)], stdout=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    return [float(p.communicate()[0]) for p in procs]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    args = ap.parse_args(argv)
    cores = os.cpu_count()
    one = run(1, args.seconds)
    many = run(cores, args.seconds)
    from captioning.provenance import describe, numerics

    print(f"machine: {describe(numerics())}\n")
    print(f"one process: {one[0]:.0f} GFLOP/s\n")
    print(f"{cores} processes at once: {' + '.join(f'{r:.0f}' for r in many)} = {sum(many):.0f} GFLOP/s")
    print(f"\nsummary: {cores} cores give {sum(many) / one[0]:.2f}x one core's sgemm throughput")


if __name__ == "__main__":
    main()
