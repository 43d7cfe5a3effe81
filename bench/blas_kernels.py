"""The OpenBLAS kernels a benchmark measures under: this CPU's own, and ``OTHER`` where the CPU has AVX-512.

OpenBLAS picks its kernel when it loads, from the CPU and ``OPENBLAS_CORETYPE``.
On an AVX-512 CPU its own kernel is SkylakeX, and Haswell's AVX2 kernel is what
another machine of the fleet runs, so a figure there is measured under both.
Only the benchmark's worker processes get the variable: the benchmark itself
runs as the user started it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

OTHER = "Haswell"  # the second kernel on an AVX-512 CPU
PINNING = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")  # variables that change the kernel a process loads


def has_avx512() -> bool:
    """True when /proc/cpuinfo lists avx512f."""
    try:
        return any(
            line.startswith("flags") and "avx512f" in line.split()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
        )
    except OSError:
        return False


def kernel_envs() -> dict[str, dict]:
    """{label: environment for worker processes}: 'default' (the CPU's own kernel), and ``OTHER`` on AVX-512 CPUs."""
    env = {k: v for k, v in os.environ.items() if k not in PINNING}
    envs = {"default": env}
    if has_avx512():
        envs[OTHER] = {**env, "OPENBLAS_CORETYPE": OTHER}
    return envs


def kernel_name(env: dict) -> str:
    """The OpenBLAS kernel a clean process with environment ``env`` loads (``provenance.numerics``)."""
    probe = "from captioning.provenance import numerics; print(numerics()['blas_kernel'])"
    res = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    return res.stdout.strip()
