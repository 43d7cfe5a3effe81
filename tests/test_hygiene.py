"""Project hygiene: imports without side effects, public names, one source per fact, lint and format clean."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

NO_SIDE_EFFECTS = """
import os, sys
env, cwd = dict(os.environ), os.getcwd()
import numba
layer = numba.config.THREADING_LAYER
import captioning, captioning.data, captioning.pipeline.plots, captioning.pipeline.train
assert dict(os.environ) == env, set(os.environ.items()) ^ set(env.items())
assert os.getcwd() == cwd
assert numba.config.THREADING_LAYER == layer
assert "matplotlib.pyplot" not in sys.modules
print("clean")
"""


def test_importing_the_package_changes_no_process_state():
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "NUMBA_THREADING_LAYER")}
    res = subprocess.run([sys.executable, "-c", NO_SIDE_EFFECTS], env=env, capture_output=True, text=True)
    assert res.stdout.strip() == "clean", res.stderr


PICK = """
import numba, numpy as np
from captioning.kernels._jit import PARALLEL_MIN_ELEMENTS, parallel_allowed
from captioning.kernels.elementwise import rnn_tanh_forward as k
numba.set_num_threads(2)
print(parallel_allowed(), k.pick(PARALLEL_MIN_ELEMENTS) is k.parallel, k.pick(PARALLEL_MIN_ELEMENTS - 1) is k.parallel)
"""


@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, "False False False"),  # Numba's default OpenMP layer spins: serial kernels only
        ({"OMP_WAIT_POLICY": "PASSIVE"}, "True True False"),
        ({"NUMBA_THREADING_LAYER": "workqueue"}, "True True False"),
        ({"NUMBA_THREADING_LAYER": "omp"}, "False False False"),
    ],
)
def test_parallel_kernels_run_only_where_the_thread_pool_cannot_spin(env, expected):
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "NUMBA_THREADING_LAYER")}
    res = subprocess.run([sys.executable, "-c", PICK], env={**base, **env}, capture_output=True, text=True)
    assert res.stdout.strip() == expected, res.stderr


def test_a_job_entry_point_picks_a_quiet_threading_layer(monkeypatch):
    code = (
        "import numba; from captioning.threads import configure_threads; "
        "print(configure_threads(2), numba.config.THREADING_LAYER, numba.get_num_threads())"
    )
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "NUMBA_THREADING_LAYER")}
    res = subprocess.run([sys.executable, "-c", code], env=base, capture_output=True, text=True)
    assert res.stdout.split() == ["2", "workqueue", "2"], res.stderr
    res = subprocess.run(
        [sys.executable, "-c", code], env={**base, "OMP_WAIT_POLICY": "passive"}, capture_output=True, text=True
    )
    assert res.stdout.split() == ["2", "default", "2"], res.stderr  # the user's choice stands


def test_data_is_a_package_exporting_its_public_names():
    import captioning.data as data
    from captioning.data import fit_pca, load_coco_data, prepare_pca

    assert fit_pca is data.pca.fit_pca and prepare_pca is data.pca.prepare_pca
    assert load_coco_data is data.coco.load_coco_data
    assert sorted(data.__all__) == sorted(n for n in data.__all__ if hasattr(data, n))


def test_snakefile_min_version_agrees_with_pyproject():
    pyproject = (ROOT / "pyproject.toml").read_text()
    required, below = re.search(r'"snakemake\[reports\]>=([\d.]+),<(\d+)"', pyproject).groups()
    assert f'min_version("{required}")' in (ROOT / "Snakefile").read_text()
    assert below == "10"  # bounded below the next major version, as MLflow is pinned


def _run(*cmd):
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)


def test_ruff_check_is_clean():
    res = _run(sys.executable, "-m", "ruff", "check", ".")
    assert res.returncode == 0, res.stdout + res.stderr


def test_ruff_format_is_clean():
    res = _run(sys.executable, "-m", "ruff", "format", "--check", ".")
    assert res.returncode == 0, res.stdout + res.stderr


def test_snakefmt_is_clean():
    smk = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "workflow").rglob("*.smk"))]
    res = _run(sys.executable, "-m", "snakefmt", "--check", "Snakefile", *smk)
    assert res.returncode == 0, res.stdout + res.stderr


# The rules run in the environment that runs Snakemake itself (the Snakefile imports
# `captioning`), installed from requirements.lock; a per-rule conda env or container
# would have to install the package again and is not offered.  Every other lint fails.
NOT_APPLICABLE = {"Specify a conda environment or container for each rule."}


@pytest.mark.slow
def test_snakemake_lint_is_clean():
    res = _run(sys.executable, "-m", "snakemake", "--lint")
    titles = re.findall(r"^\s+\* (.+?):?$", res.stdout + res.stderr, flags=re.M)
    assert set(titles) - NOT_APPLICABLE == set(), res.stdout + res.stderr
    assert "Traceback" not in res.stderr, res.stderr
