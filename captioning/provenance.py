"""What decides a run's rounding: the CPU, NumPy's BLAS and the kernel it chose, the library versions.

A seed reproduces a run bitwise only where all of these are the same; on another
CPU the BLAS picks other kernels, rounding differs, and so does every trajectory.
"""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or what the platform says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def numerics() -> dict[str, str]:
    """{cpu, blas, blas_kernel, numpy, numba, python} of this process."""
    import numba
    import numpy as np
    from threadpoolctl import threadpool_info

    # NumPy's own BLAS (SciPy, once imported, brings another): the library under numpy's directories
    found = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    blas = next((i for i in found if "numpy" in Path(i.get("filepath", "")).parent.name), found[0] if found else {})
    return {
        "cpu": cpu_model(),
        "blas": f"{blas.get('internal_api', 'unknown')} {blas.get('version') or ''}".strip(),
        "blas_kernel": str(blas.get("architecture") or "unknown"),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "python": platform.python_version(),
    }


def describe(numerics: dict) -> str:
    """One line: 'CPU; BLAS (kernel); NumPy x, Numba y, Python z'."""
    n = numerics
    return (
        f"{n['cpu']}; {n['blas']} ({n['blas_kernel']} kernel); "
        f"NumPy {n['numpy']}, Numba {n['numba']}, Python {n['python']}"
    )
