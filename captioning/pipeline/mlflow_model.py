"""A trained captioner as an MLflow pyfunc model: raw image features in, caption strings out.

The logged model bundles everything inference needs: the checkpoint (parameters
and vocabulary), the PCA transform fitted on train, the decoding settings and
the feature mode (an image-blind baseline zeroes its input), and this package's
code, so ``mlflow.pyfunc.load_model(uri).predict(raw_features)`` and
``mlflow models serve -m <uri> --env-manager local`` caption without the
workflow's files.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np

from ..data.pca import PCA
from .code import PACKAGE_DIR
from .mlflow_compat import tracking_uri

MODEL_NAME = "model"  # the logged model's name in its run


class Captioner(mlflow.pyfunc.PythonModel):
    """pyfunc ``predict``: (N, F) raw features, float32 -> N caption strings."""

    def load_context(self, context) -> None:
        from ..checkpoint import load_model

        self.model, _ = load_model(context.artifacts["checkpoint"])
        with np.load(context.artifacts["pca"], allow_pickle=False) as f:
            self.mean, self.components = f["mean"], f["components"]
        self.config = dict(context.model_config)

    def predict(self, context, model_input: np.ndarray, params: dict | None = None) -> list[str]:
        # The model has no MLflow signature (see log_captioner): every input check is here.
        from ..sampling import decode
        from ..vocab import decode_captions

        width = self.mean.shape[0]
        try:
            X = np.asarray(model_input, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise _bad_input(f"expected raw features, numbers of shape (N, {width}): {e}") from None
        if X.ndim >= 1 and len(X) == 0:  # no rows: `[]` over JSON, or (0, F)
            return []
        if X.ndim != 2 or X.shape[1] != width:
            raise _bad_input(f"expected raw features of shape (N, {width}), got {X.shape}")
        finite = np.isfinite(X).all(axis=1)
        if not finite.all():
            row = int(np.argmin(finite))
            raise _bad_input(f"row {row} holds NaN or infinite features; every feature must be finite")
        feats = (X - self.mean.astype(np.float32)) @ self.components.T.astype(np.float32)
        if self.config["feature_mode"] != "image":  # an image-blind baseline sees no image
            feats = np.zeros_like(feats)
        tokens = decode(  # in chunks: memory stays bounded for any number of rows
            self.model,
            feats,
            method=self.config["decode_method"],
            beam_width=self.config["decode_beam_width"],
            max_length=self.config["decode_max_length"],
        )
        words = self.model.idx_to_word
        return decode_captions(tokens, [words[i] for i in range(len(words))], plain=True)


def _bad_input(message: str):
    """An error that MLflow's scoring server answers with HTTP 400 and this message (INVALID_PARAMETER_VALUE)."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    return MlflowException(f"Captioner.predict: {message}", error_code=INVALID_PARAMETER_VALUE)


def log_captioner(uri: str, run_id: str, checkpoint, pca: PCA, decoding: dict, work_dir) -> str:
    """Log the captioner into the run ``run_id`` at ``uri``; returns the model's URI (``models:/<id>``).

    ``decoding``: {decode_method, decode_beam_width, decode_max_length, feature_mode}; MLflow also
    logs these as the run's params, hence names no training param has.

    The model carries no MLflow signature: its scoring server turns ``{"inputs": []}`` into a
    list that no tensor signature accepts, so an empty batch could not be sent. ``predict``
    checks the input itself, and the MLmodel file's ``metadata`` states the contract.
    """
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    np.savez(work / "pca.npz", mean=pca.mean_, components=pca.components_)
    contract = {"input": f"raw image features, float32, shape (N, {pca.mean_.shape[0]})", "output": "N captions"}
    client = mlflow.MlflowClient(uri)
    experiment_id = client.get_run(run_id).info.experiment_id
    # created here so that it belongs to the run's experiment (Model.log alone files it under the active one)
    logged = client.create_logged_model(experiment_id, name=MODEL_NAME, source_run_id=run_id)
    with tracking_uri(uri):
        info = mlflow.models.Model.log(
            artifact_path=None,
            name=MODEL_NAME,
            flavor=mlflow.pyfunc,
            run_id=run_id,
            model_id=logged.model_id,
            python_model=Captioner(),
            artifacts={"checkpoint": str(checkpoint), "pca": str(work / "pca.npz")},
            model_config=decoding,
            metadata=contract,
            code_paths=[str(PACKAGE_DIR)],  # this package's code, logged with the model
            pip_requirements=[],
        )
    return info.model_uri
