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
        # MLflow checks the input against the signature first (float32, (-1, F)); these checks also hold
        # for a caller that skips it, and catch what a signature cannot (NaN, infinities).
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


MODEL_CODE = """# The captioner, for MLflow's models-from-code: MLflow runs this file to build the model.
import mlflow

from captioning.pipeline.mlflow_model import Captioner

mlflow.models.set_model(Captioner())
"""


def log_captioner(uri: str, run_id: str, checkpoint, pca: PCA, decoding: dict, work_dir) -> str:
    """Log the captioner into the run ``run_id`` at ``uri``; returns the model's URI (``models:/<id>``).

    ``decoding``: {decode_method, decode_beam_width, decode_max_length, feature_mode}; MLflow also
    logs these as the run's params, hence names no training param has.

    The model's signature is a float32 tensor of shape (-1, F), so the registry, the UI and
    ``mlflow models serve`` know its input. (MLflow's scoring server reads an empty JSON batch,
    ``{"inputs": []}``, as shape (0,) and refuses it before ``predict`` runs; through pyfunc a
    (0, F) array gives ``[]``.) The model is logged from code (MLflow's models-from-code: a
    two-line file that builds :class:`Captioner`), not pickled.
    """
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema, TensorSpec

    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    np.savez(work / "pca.npz", mean=pca.mean_, components=pca.components_)
    width = pca.mean_.shape[0]
    contract = {"input": f"raw image features, float32, shape (N, {width})", "output": "N captions"}
    signature = ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, width))]), outputs=Schema([ColSpec("string")])
    )
    code = work / "captioner.py"
    code.write_text(MODEL_CODE)
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
            python_model=str(code),
            signature=signature,
            input_example=np.zeros((1, width), dtype=np.float32),  # a request's shape, shown in the UI
            artifacts={"checkpoint": str(checkpoint), "pca": str(work / "pca.npz")},
            model_config=decoding,
            metadata=contract,
            code_paths=[str(PACKAGE_DIR)],  # this package's code, logged with the model
            pip_requirements=[],
        )
    return info.model_uri
