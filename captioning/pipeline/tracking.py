"""MLflow at the edges: one store and one experiment created upstream, runs opened by explicit id.

Several processes creating a fresh SQLite store at once fail, and a concurrent
``set_experiment`` can file a run under "Default", so :func:`setup_tracking`
runs once before any training job and every job passes ``experiment_id``.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from ..atomic import write_text

ENV_URI = "MLFLOW_TRACKING_URI"


def resolve_uri(configured: str) -> str:
    """``MLFLOW_TRACKING_URI`` wins over the config; a relative sqlite path is made absolute."""
    uri = os.environ.get(ENV_URI) or configured
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix) :].startswith("/"):
        uri = prefix + str(Path(uri[len(prefix) :]).resolve())
    return uri


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def setup_tracking(tracking_uri: str, experiment_name: str, out_json, artifact_root: str = "mlartifacts") -> str:
    """Create the store and the experiment (once) and record their ids in ``out_json``."""
    uri = resolve_uri(tracking_uri)
    client = _client(uri)
    exp = client.get_experiment_by_name(experiment_name)
    if exp is None:
        location = None
        if uri.startswith(("sqlite:", "file:")) or "://" not in uri:
            location = (Path(artifact_root).resolve() / experiment_name).as_uri()
        exp_id = client.create_experiment(experiment_name, artifact_location=location)
    else:
        exp_id = exp.experiment_id
    info = {
        "tracking_uri": uri,
        "experiment_id": exp_id,
        "experiment_name": experiment_name,
        "ui_path": f"#/experiments/{exp_id}?workflowType=machine_learning",
    }
    write_text(out_json, json.dumps(info, indent=2))
    return (
        f"MLflow experiment '{experiment_name}' (id {exp_id}) at {uri}; browse it with "
        f"`mlflow ui --backend-store-uri {uri}` at http://127.0.0.1:5000/{info['ui_path']}"
    )


def read_tracking(path) -> dict:
    return json.loads(Path(path).read_text())


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class MlflowRun:
    """A run addressed by id; metrics are buffered and sent with ``log_batch``.

    It is also the solver's metrics sink (``log_iteration`` / ``log_epoch``).
    """

    def __init__(
        self, tracking: dict, run_id: str | None = None, run_name: str = "", tags=None, flush_every: int = 200
    ):
        self.client = _client(tracking["tracking_uri"])
        if run_id is None:
            run = self.client.create_run(tracking["experiment_id"], run_name=run_name, tags=tags or {})
            run_id = run.info.run_id
        else:
            self.client.update_run(run_id, status="RUNNING")
        self.run_id = run_id
        self.flush_every = flush_every
        self._metrics = []

    def _metric(self, key: str, value: float, step: int):
        from mlflow.entities import Metric

        self._metrics.append(Metric(key, float(value), int(time.time() * 1000), int(step)))
        if len(self._metrics) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        while self._metrics:
            batch, self._metrics = self._metrics[:1000], self._metrics[1000:]
            self.client.log_batch(self.run_id, metrics=batch)

    def log_params(self, params: dict) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[i : i + 100])

    def log_iteration(self, iteration: int, loss: float) -> None:
        self._metric("train_loss", loss, iteration)

    def log_epoch(self, epoch: int, metrics: dict) -> None:
        for key, value in metrics.items():
            if key != "epoch":
                self._metric(f"epoch/{key}", value, epoch)
        self.flush()

    def log_metrics(self, metrics: dict, step: int = 0) -> None:
        for key, value in metrics.items():
            self._metric(key, value, step)
        self.flush()

    def log_artifact(self, path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def finish(self, status: str = "FINISHED") -> None:
        self.flush()
        self.client.set_terminated(self.run_id, status=status)
