"""The numerics a run records: this machine's CPU, NumPy's BLAS and its kernel, the library versions."""

import os
import platform
import subprocess
import sys

import numba
import numpy as np
from threadpoolctl import threadpool_info

from captioning.provenance import describe, numerics


def test_numerics_name_this_process_blas_and_versions():
    n = numerics()
    import scipy.linalg  # noqa: F401  (SciPy's own OpenBLAS must not be mistaken for NumPy's)

    blas = next(i for i in threadpool_info() if i["user_api"] == "blas" and "/numpy.libs/" in i["filepath"])
    assert n["blas"] == f"{blas['internal_api']} {blas['version']}" and n["blas_kernel"] == str(blas["architecture"])
    assert (n["numpy"], n["numba"], n["python"]) == (np.__version__, numba.__version__, platform.python_version())
    cpu = next(line for line in open("/proc/cpuinfo") if line.startswith("model name")).split(":", 1)[1].strip()
    assert n["cpu"] == cpu
    assert describe(n) == (
        f"{cpu}; {n['blas']} ({n['blas_kernel']} kernel); NumPy {np.__version__}, Numba {numba.__version__}, "
        f"Python {platform.python_version()}"
    )


def test_another_blas_kernel_is_recorded():
    """OpenBLAS picks its kernel per process (OPENBLAS_CORETYPE): the record follows what was picked."""
    assert numerics()["blas"].startswith("openblas")  # NumPy's wheels bundle OpenBLAS
    code = "from captioning.provenance import numerics; print(numerics()['blas_kernel'])"
    env = {**os.environ, "OPENBLAS_CORETYPE": "Sandybridge"}
    kernel = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert kernel.strip() == "Sandybridge"
