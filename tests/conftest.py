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
def smoke(tmp_path_factory, worker_id):
    """The smoke workflow, run once per test session in a copy of the project: (work dir, seconds).

    Built once for all pytest-xdist workers (see :func:`project.once`). Read-only: a test that
    changes the run (its sweep, files or MLflow store) or runs Snakemake in it takes ``smoke_copy``.
    """
    from project import SmokeRun, once, smoke_run

    work = once(tmp_path_factory, worker_id, "smoke", smoke_run)
    return SmokeRun.read(work)


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

    return copy_run(smoke.work, tmp_path / "project")


@pytest.fixture(scope="session")
def smoke_data(tmp_path_factory, worker_id):
    """A project holding the smoke config's dataset and PCA features only, built once per test session."""
    from project import once
    from project import smoke_data as build

    return once(tmp_path_factory, worker_id, "smoke-data", build)


@pytest.fixture
def smoke_data_copy(smoke_data, tmp_path):
    """A fresh copy of the project holding the smoke config's data and PCA features (up to date): a DAG
    that starts there trains, scores and collects without building the data again."""
    from project import copy_data

    return copy_data(smoke_data, tmp_path / "project")


@pytest.fixture(scope="session")
def postgres(tmp_path_factory, worker_id):
    """One PostgreSQL server for the session's cluster and tracking-server tests (the ``services`` group).

    Those tests share it and SLURM's /etc/slurm/slurm.conf, so pytest-xdist must run the whole group on one
    worker; a second worker asking for it fails at once instead of racing the first.
    """
    import services
    from project import claim

    claim(tmp_path_factory, worker_id, "services")
    pg = services.Postgres()
    try:
        pg.start()
        yield pg
    finally:
        pg.stop()


SLOW_FIXTURES = {
    "smoke",
    "smoke_copy",
    "smoke_data",
    "smoke_data_copy",
    "cluster",
    "smoke_on_slurm",
    "secure",
    "postgres",
}


def pytest_collection_modifyitems(config, items):
    """Every test that needs a workflow run or the cluster's services is ``slow``."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
