import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def rng():
    return np.random.default_rng(231)


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory):
    """A tiny synthetic dataset in the cs231n layout, PCA to 32 dims (read-only: copy before corrupting)."""
    from captioning.data import pca, synthetic

    out = tmp_path_factory.mktemp("synthetic")
    synthetic.generate(out, synthetic.SyntheticConfig(n_train=60, n_val=20, n_test=20, seed=1), progress=False)
    pca.prepare_pca(out, dim=32, progress=False)
    return out


@pytest.fixture(scope="session")
def smoke(tmp_path_factory):
    """The smoke workflow run once in a copy of the project: (work dir, seconds, the snakemake result).

    Read-only: a test that changes the run (its sweep, files or MLflow store) takes ``smoke_copy``.
    """
    import time

    from project import copy_project, snakemake

    work = copy_project(tmp_path_factory.mktemp("project"))
    start = time.perf_counter()
    res = snakemake(work)
    return work, time.perf_counter() - start, res


@pytest.fixture
def dataset_copy(small_dataset, tmp_path):
    import shutil

    dest = tmp_path / "data"
    shutil.copytree(small_dataset, dest)
    return dest


@pytest.fixture
def smoke_copy(smoke, tmp_path):
    """A private copy of the smoke run's project, for a test that changes it."""
    from project import copy_run

    return copy_run(smoke[0], tmp_path / "project")


SLOW_FIXTURES = {"smoke", "smoke_copy", "cluster", "smoke_on_slurm", "secure"}  # a workflow run, or real services


def pytest_collection_modifyitems(config, items):
    """Every test that needs a workflow run or the cluster's services is ``slow``."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
