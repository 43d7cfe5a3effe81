"""The MLflow internals this package relies on, each behind one function (``tests/test_compat.py`` checks them).

MLflow's public client has no call for these, so an MLflow upgrade that moves or
renames them breaks here and in that test, in one place:

* :func:`dataset_input`: a dataset input record for ``MlflowClient.log_inputs``
  (``Dataset._to_mlflow_entity`` and the dataset source registry);
* :func:`tracking_uri`: model logging (``mlflow.models.Model.log``) resolves the
  process-wide tracking URI, which this swaps for one call and then restores
  exactly (``mlflow.set_tracking_uri`` alone would leave the URI pinned and
  ``MLFLOW_TRACKING_URI`` set in the environment);
* :func:`has_error_code`: which error an MLflow call failed with.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

# MLflow's dataset sources for a local path and for a URL (3.17 registers its local source twice,
# which makes resolving against all registered sources warn)
DATASET_SOURCES = ("LocalArtifactDatasetSource", "HTTPDatasetSource")
ENV_URI = "MLFLOW_TRACKING_URI"


def dataset_input(name: str, digest: str, source: str, context: str):
    """A ``DatasetInput`` for ``log_inputs``: dataset ``name`` with content ``digest`` at ``source``
    (a local path or a URL), used in ``context`` (``training``, ``testing``)."""
    from mlflow.data.dataset_source_registry import get_registered_sources, resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import DatasetInput, InputTag

    kinds = {s.__name__: s for s in get_registered_sources() if s.__name__ in DATASET_SOURCES}  # one of each
    dataset = MetaDataset(resolve_dataset_source(source, candidate_sources=list(kinds.values())), name, digest)
    return DatasetInput(dataset._to_mlflow_entity(), [InputTag("mlflow.data.context", context)])


@contextmanager
def tracking_uri(uri: str):
    """Set MLflow's process-wide tracking URI for the duration of the block; then the process is as before:
    the same explicitly set URI (or none) and the same ``MLFLOW_TRACKING_URI`` environment variable."""
    import mlflow
    from mlflow.tracking._tracking_service import utils

    saved_uri, saved_env = utils._tracking_uri, os.environ.get(ENV_URI)
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        utils._tracking_uri = saved_uri
        if saved_env is None:
            os.environ.pop(ENV_URI, None)
        else:
            os.environ[ENV_URI] = saved_env


def has_error_code(err: BaseException, code: str) -> bool:
    """True if ``err`` is an MLflow error with ``code`` (e.g. ``RESOURCE_ALREADY_EXISTS``), locally or over REST."""
    from mlflow.exceptions import MlflowException

    return isinstance(err, MlflowException) and err.error_code == code
