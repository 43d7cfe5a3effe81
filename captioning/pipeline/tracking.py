"""MLflow at the edges: the tracking server is resolved when each job starts, experiments are found by name.

* :func:`resolve_uri`: ``MLFLOW_TRACKING_URI`` wins over the config's value, read
  by every job when it starts, so pointing the variable at another server moves
  new runs there without retraining anything (no tracking setting is a rule's
  input or parameter).
* :func:`check_uri`: fails within seconds, in one line naming the URI, where
  MLflow's own retries would take minutes: an unreachable or hung server, a
  server that refuses this host name, a database URI without its driver.
* :func:`setup_experiment`: creates the store and the experiment once, upstream
  (the Snakefile's ``onstart``, before any job), because several processes
  creating a fresh SQLite store at once fail; it is race-free on a server.
* :class:`MlflowRun`: a run addressed by id, metrics batched with ``log_batch``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import CaptioningError
from .mlflow_compat import ENV_URI, has_error_code

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 5.0  # seconds for the first request to a tracking server

# A job rides out a tracking server that restarts: its first request waits up to
# OUTAGE_WAIT seconds for the server, and MLflow's client retries each later request
# with backoff 0, 2, 4, ... 32 s (about a minute in all), where its defaults take many
# minutes to give up. A resent batch of metrics is stored once (the store drops exact
# duplicates). The preflight, run before any job, still fails within PROBE_TIMEOUT.
# Set by the job's entry point, never on import.
OUTAGE_WAIT = 60.0
HTTP_RETRY_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "6",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
}

# SQLAlchemy's default driver per database, and the module each driver needs.
DEFAULT_DRIVERS = {"postgresql": "psycopg2", "mysql": "mysqldb"}
DRIVER_MODULES = {"psycopg": "psycopg", "psycopg2": "psycopg2", "pymysql": "pymysql", "mysqldb": "MySQLdb"}
DRIVER_PACKAGES = {
    "psycopg": "psycopg[binary]",
    "psycopg2": "psycopg2-binary",
    "pymysql": "pymysql",
    "mysqldb": "mysqlclient",
}


class TrackingError(CaptioningError):
    """The tracking store cannot be used: the message names the URI and what to do."""


class ServerUnreachable(TrackingError):
    """No answer from the tracking server: down, restarting, or the wrong address."""


def resolve_uri(configured: str) -> str:
    """``MLFLOW_TRACKING_URI`` wins over the config; a relative sqlite path is made absolute."""
    uri = os.environ.get(ENV_URI) or configured
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix) :].startswith("/"):
        uri = prefix + str(Path(uri[len(prefix) :]).resolve())
    return uri


def redact(uri: str) -> str:
    """The URI without its password, for messages."""
    parts = urllib.parse.urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def check_uri(uri: str, timeout: float = PROBE_TIMEOUT, wait: float = 0.0) -> None:
    """Raise :class:`TrackingError` in one line if ``uri`` cannot be used; return quickly if it can.

    ``wait``: seconds to keep trying a server that does not answer (a restart), logging each try.
    """
    scheme = urllib.parse.urlsplit(uri).scheme
    if scheme in ("http", "https"):
        deadline = time.monotonic() + wait
        while True:
            try:
                return _probe_server(uri, timeout)
            except ServerUnreachable as err:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                log.warning("%s; trying again for %.0f s", err, left)
                time.sleep(min(2.0, left))
    elif scheme.split("+")[0] in DEFAULT_DRIVERS:
        _check_driver(uri, scheme)
    elif scheme not in ("sqlite", "file", ""):
        raise TrackingError(
            f"tracking URI {redact(uri)}: unsupported scheme '{scheme}' "
            "(expected http(s)://, sqlite:///, postgresql+psycopg:// or a directory)"
        )


# The client settings MLflow reads for a server that authenticates or serves TLS.
CREDENTIAL_VARIABLES = "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or ~/.mlflow/credentials)"
CERT_VARIABLE = "MLFLOW_TRACKING_SERVER_CERT_PATH"


def _probe_server(uri: str, timeout: float) -> None:
    """One request with a short timeout, with the credentials and CA bundle MLflow's client would use."""
    import requests
    from mlflow.utils.credentials import get_default_host_creds

    creds = get_default_host_creds(uri)
    auth = (creds.username, creds.password) if creds.username else None
    url = uri.rstrip("/") + "/api/2.0/mlflow/experiments/search?max_results=1"
    where = f"MLflow tracking server {uri}"
    try:
        response = requests.get(url, auth=auth, verify=creds.verify, timeout=timeout)
    except requests.exceptions.SSLError as err:
        reason = str(err).split("certificate verify failed: ")[-1].split(" (")[0].rstrip("')\"")
        raise TrackingError(
            f"{where}: TLS certificate not trusted ({reason}); set {CERT_VARIABLE} to the server's "
            "certificate or CA bundle"
        ) from None
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout, OSError) as err:
        reason = "timed out" if isinstance(err, requests.exceptions.Timeout) else _connection_reason(err)
        raise ServerUnreachable(
            f"{where} is unreachable ({reason}, {timeout:.0f} s timeout); start it, or unset {ENV_URI} "
            "to track in the local SQLite store"
        ) from None
    if response.status_code == 401:
        said = "were refused" if auth else "are missing"
        raise TrackingError(
            f"{where} requires a login (HTTP 401) and the credentials {said}: set {CREDENTIAL_VARIABLES}"
        )
    if response.status_code == 403 and "Invalid Host header" in response.text:  # MLflow >= 3.5's rebinding guard
        host = urllib.parse.urlsplit(uri).hostname
        raise TrackingError(
            f"{where} refused this client's Host header '{host}' (HTTP 403): start the server with "
            f"--allowed-hosts '{host}:*' (see docs/cluster.md)"
        )
    if response.status_code >= 500 or response.status_code in (403, 404):
        raise TrackingError(f"{where} answered HTTP {response.status_code} to {url}: {response.reason}")


def _connection_reason(err: Exception) -> str:
    """The innermost cause of a refused or failed connection, e.g. '[Errno 111] Connection refused'."""
    while err.__context__ is not None or getattr(err, "reason", None) is not None:
        inner = getattr(err, "reason", None) or err.__context__
        if not isinstance(inner, BaseException):
            break
        err = inner
    text = str(err)
    return text.split(": ", 1)[-1] if text.startswith("<") else text


def check_writable(client, uri: str, experiment_name: str, experiment_id: str) -> None:
    """Raise :class:`TrackingError` in one line if this user may not write to the experiment.

    Setting an experiment tag needs the same EDIT permission as creating a run, and
    a server answers 403 at once (MLflow retries only transient errors).
    """
    from mlflow.exceptions import MlflowException
    from mlflow.utils.credentials import read_mlflow_creds

    try:
        client.set_experiment_tag(experiment_id, "captioning.preflight", "write access checked")
    except MlflowException as err:
        if not has_error_code(err, "PERMISSION_DENIED"):
            raise
        user = read_mlflow_creds().username
        raise TrackingError(
            f"MLflow tracking server {uri}: user '{user}' lacks EDIT permission on experiment "
            f"'{experiment_name}' (id {experiment_id}); ask the server's admin to grant it "
            "(see docs/cluster.md, 'Security')"
        ) from None


def _check_driver(uri: str, scheme: str) -> None:
    database, _, driver = scheme.partition("+")
    driver = driver or DEFAULT_DRIVERS[database]
    module = DRIVER_MODULES.get(driver, driver)
    try:
        __import__(module)
    except ImportError:
        package = DRIVER_PACKAGES.get(driver, module)
        raise TrackingError(
            f"tracking URI {redact(uri)} needs the Python module '{module}', which is not installed: "
            f"pip install '{package}' (or name an installed driver, e.g. postgresql+psycopg://)"
        ) from None


def configure_http_retries() -> None:
    """Bound the MLflow client's HTTP retries in this process (a job's entry point calls it)."""
    for key, value in HTTP_RETRY_DEFAULTS.items():
        os.environ.setdefault(key, value)


def client_for(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def setup_experiment(uri: str, name: str, wait: float = 0.0) -> str:
    """The id of experiment ``name`` at ``uri``, creating store and experiment if needed (race-free).

    A SQLite store keeps artifacts beside itself, in ``mlartifacts/<name>``; a tracking
    server chooses its own location (``mlflow-artifacts:/`` when it proxies artifacts).
    """
    from mlflow.exceptions import MlflowException

    check_uri(uri, wait=wait)
    client = client_for(uri)
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    location = None
    scheme = urllib.parse.urlsplit(uri).scheme
    if scheme == "sqlite":
        location = (Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlartifacts" / name).as_uri()
    elif scheme in ("file", ""):
        location = (Path("mlartifacts").resolve() / name).as_uri()
    try:
        return client.create_experiment(name, artifact_location=location)
    except MlflowException as err:
        if not has_error_code(err, "RESOURCE_ALREADY_EXISTS"):
            raise
        return client.get_experiment_by_name(name).experiment_id  # another job created it first


@dataclass(frozen=True)
class Tracking:
    """Where a job's runs go: the server in force when the job started, and the experiment there."""

    uri: str
    experiment_name: str
    experiment_id: str

    @classmethod
    def in_force(cls, settings: dict, wait: float = OUTAGE_WAIT) -> Tracking:
        """Resolve the config's ``mlflow`` section (``tracking_uri``, ``experiment``) now, in this job,
        waiting up to ``wait`` seconds for a server that does not answer."""
        uri = resolve_uri(settings["tracking_uri"])
        return cls(uri, settings["experiment"], setup_experiment(uri, settings["experiment"], wait=wait))

    def ui_hint(self) -> str:
        """The runs view's full address: on the server, or on `mlflow ui`'s default address for a local store."""
        view = f"#/experiments/{self.experiment_id}?workflowType=machine_learning"
        if self.uri.startswith("http"):
            return f"{self.uri.rstrip('/')}/{view}"
        return f"http://127.0.0.1:5000/{view} (after `mlflow ui --backend-store-uri {self.uri}`)"


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
        self,
        uri: str,
        experiment_id: str | None = None,
        run_id: str | None = None,
        run_name: str = "",
        tags=None,
        flush_every: int = 200,
        reopen: bool = True,
    ):
        """A new run in ``experiment_id``, or run ``run_id``: reopened (RUNNING again) to continue
        training, or with ``reopen=False`` only added to (scores), its status and end time unchanged.
        Callers check ``uri`` first (:func:`check_uri`, done by :meth:`Tracking.in_force`).

        A reopened run logs no metric step twice: steps it already holds (flushed before an
        interruption, then replayed from the last checkpoint) are dropped, per metric key.
        """
        self.uri = uri
        self.client = client_for(uri)
        resumed = run_id is not None and reopen
        if run_id is None:
            run = self.client.create_run(experiment_id, run_name=run_name, tags=tags or {})
            run_id = run.info.run_id
        elif reopen:
            self.client.update_run(run_id, status="RUNNING")
        self.run_id = run_id
        self.flush_every = flush_every
        self._metrics = []
        self._resumed = resumed
        self._last_step: dict[str, int] = {}

    def _logged_until(self, key: str) -> int:
        """The last step of ``key`` the run already holds (-1: none); asked once per key, on resumed runs only."""
        if key not in self._last_step:
            history = self.client.get_metric_history(self.run_id, key) if self._resumed else []
            self._last_step[key] = max((m.step for m in history), default=-1)
        return self._last_step[key]

    def _metric(self, key: str, value: float, step: int):
        from mlflow.entities import Metric

        if self._resumed and step <= self._logged_until(key):
            return
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

    def set_tags(self, tags: dict) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

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
