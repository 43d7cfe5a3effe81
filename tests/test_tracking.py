"""MLflow tracking: experiments created upstream, concurrent jobs, and every bad tracking setting in one line."""

import http.server
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from mlflow.tracking import MlflowClient

from captioning.errors import CaptioningError
from captioning.pipeline.server import main as server_main
from captioning.pipeline.tracking import TrackingError, check_uri, resolve_uri, setup_experiment

JOB = textwrap.dedent("""
    import sys
    from captioning.pipeline.tracking import MlflowRun
    i = int(sys.argv[3])
    run = MlflowRun(sys.argv[1], sys.argv[2], run_name=f"job{i}", tags={"experiment": "concurrency", "seed": str(i)})
    run.log_params({"job": i, "lr": 0.01})
    for it in range(1, 601):
        run.log_iteration(it, 10.0 / it + i)
        if it % 100 == 0:
            run.log_epoch(it // 100, {"epoch": it // 100, "val_loss": 1.0 / it})
    run.log_metrics({"final/score": i})
    run.finish()
""")


@pytest.mark.slow
def test_eight_concurrent_jobs_on_a_fresh_store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    exp_id = setup_experiment(uri, "sweep-x")
    assert setup_experiment(uri, "sweep-x") == exp_id  # found by name the second time
    procs = [subprocess.Popen([sys.executable, "-c", JOB, uri, exp_id, str(i)]) for i in range(8)]
    assert [p.wait(timeout=300) for p in procs] == [0] * 8

    client = MlflowClient(tracking_uri=uri)
    assert client.get_experiment(exp_id).artifact_location == (tmp_path / "mlartifacts" / "sweep-x").as_uri()
    runs = client.search_runs([exp_id], max_results=100)
    assert sorted(r.data.tags["seed"] for r in runs) == [str(i) for i in range(8)]
    for r in runs:
        assert r.info.status == "FINISHED"
        history = client.get_metric_history(r.info.run_id, "train_loss")
        assert sorted(m.step for m in history) == list(range(1, 601))
        assert len(client.get_metric_history(r.info.run_id, "epoch/val_loss")) == 6
        assert r.data.metrics["final/score"] == float(r.data.tags["seed"])
        assert r.data.params["job"] == r.data.tags["seed"]
    default = client.get_experiment_by_name("Default")
    if default is not None:
        assert client.search_runs([default.experiment_id]) == []


def test_env_var_overrides_config_and_relative_sqlite_becomes_absolute(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_uri("sqlite:///mlflow.db") == f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert resolve_uri("sqlite:///mlflow.db") == "http://127.0.0.1:5000"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert resolve_uri("sqlite:////abs/x.db") == "sqlite:////abs/x.db"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_no_server_at_the_uri_fails_at_once():
    port = closed_port()
    start = time.perf_counter()
    with pytest.raises(TrackingError) as err:
        check_uri(f"http://127.0.0.1:{port}")
    assert str(err.value) == (
        f"MLflow tracking server http://127.0.0.1:{port} is unreachable ([Errno 111] Connection refused, 5 s "
        "timeout); start it, or unset MLFLOW_TRACKING_URI to track in the local SQLite store"
    )
    assert time.perf_counter() - start < 2


def test_a_server_that_never_answers_fails_after_the_probe_timeout():
    with socket.socket() as listener:  # accepts connections (the kernel's backlog) and never replies
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        uri = f"http://127.0.0.1:{listener.getsockname()[1]}"
        start = time.perf_counter()
        with pytest.raises(TrackingError, match=rf"^MLflow tracking server {uri} is unreachable \(.*timed out"):
            check_uri(uri, timeout=1.0)
        assert time.perf_counter() - start < 5


class Forbidden(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # what MLflow >= 3.5 answers to a Host header outside --allowed-hosts
        self.send_response(403)
        self.end_headers()
        self.wfile.write(b"Invalid Host header - possible DNS rebinding attack detected")

    def log_message(self, *args):
        pass


def serving(handler):
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_server_refusing_our_host_name_says_how_to_start_it():
    server = serving(Forbidden)
    try:
        uri = f"http://localhost:{server.server_port}"
        with pytest.raises(TrackingError) as err:
            check_uri(uri)
        assert str(err.value) == (
            f"MLflow tracking server {uri} refused this client's Host header 'localhost' (HTTP 403): start the "
            "server with --allowed-hosts 'localhost:*' (see docs/cluster.md)"
        )
    finally:
        server.shutdown()
        server.server_close()


def test_a_database_uri_without_its_driver_names_the_package():
    with pytest.raises(TrackingError) as err:
        check_uri("postgresql://mlflow:secret@db.example.org/mlflow")  # SQLAlchemy's default driver: psycopg2
    assert str(err.value) == (
        "tracking URI postgresql://mlflow:***@db.example.org/mlflow needs the Python module 'psycopg2', which is not "
        "installed: pip install 'psycopg2-binary' (or name an installed driver, e.g. postgresql+psycopg://)"
    )
    check_uri("postgresql+psycopg://mlflow@db.example.org/mlflow")  # installed with captioning[server]


def test_the_server_launcher_checks_driver_and_database_in_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        server_main(["--backend-store-uri", "postgresql+psycopg2://u@127.0.0.1/db", "--artifacts-destination", "x"])
    assert str(exit_.value).startswith(
        "captioning-tracking-server: tracking URI postgresql+psycopg2://u@127.0.0.1/db needs the Python module "
        "'psycopg2', which is not installed: pip install 'psycopg2-binary'"
    )
    port = closed_port()
    with pytest.raises(SystemExit) as exit_:
        server_main(
            ["--backend-store-uri", f"postgresql+psycopg://u:pw@127.0.0.1:{port}/db", "--artifacts-destination", "x"]
        )
    assert str(exit_.value) == (
        f"captioning-tracking-server: --backend-store-uri postgresql+psycopg://u:***@127.0.0.1:{port}/db: a password "
        "on the command line is visible to every user (ps); put it in PGPASSWORD or ~/.pgpass, or pass the whole "
        "URI in MLFLOW_BACKEND_STORE_URI"
    )
    start = time.perf_counter()
    with pytest.raises(SystemExit) as exit_:
        server_main(
            ["--backend-store-uri", f"postgresql+psycopg://u@127.0.0.1:{port}/db", "--artifacts-destination", "x"]
        )
    message = str(exit_.value)
    assert message.startswith(
        f"captioning-tracking-server: --backend-store-uri postgresql+psycopg://u@127.0.0.1:{port}/db: "
        "cannot connect (connection failed:"
    ), message
    assert "\n" not in message and time.perf_counter() - start < 10


def test_the_launcher_refuses_a_readable_password_file_and_a_missing_admin_password(tmp_path, monkeypatch):
    from captioning.pipeline.server import parser, prepare

    monkeypatch.delenv("MLFLOW_AUTH_ADMIN_PASSWORD", raising=False)
    secret = tmp_path / "admin-password"
    secret.write_text("s3cret\n")
    secret.chmod(0o644)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    base = ["--backend-store-uri", store, "--artifacts-destination", str(tmp_path / "artifacts"), "--auth"]
    with pytest.raises(CaptioningError) as err:
        prepare(parser().parse_args(base), {})
    assert str(err.value) == (
        "--auth: the admin password is missing; set MLFLOW_AUTH_ADMIN_PASSWORD or pass --admin-password-file "
        "(a file of mode 0600)"
    )
    with pytest.raises(CaptioningError) as err:
        prepare(parser().parse_args([*base, "--admin-password-file", str(secret)]), {})
    assert str(err.value) == f"--admin-password-file {secret}: mode -rw-r--r-- lets others read it; chmod 600 {secret}"
    secret.chmod(0o600)
    cmd, env = prepare(parser().parse_args([*base, "--admin-password-file", str(secret)]), {})
    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"] == "s3cret" and "s3cret" not in " ".join(cmd)
    assert env["MLFLOW_BACKEND_STORE_URI"] == store and store not in cmd
    config = tmp_path / "basic_auth.ini"
    assert env["MLFLOW_AUTH_CONFIG_PATH"] == str(config) and oct(config.stat().st_mode & 0o777) == "0o600"
    assert f"database_uri = {store}\n" in config.read_text() and cmd[cmd.index("--app-name") + 1] == "basic-auth"
    with pytest.raises(CaptioningError, match="^--tls-certfile and --tls-keyfile: give both or neither$"):
        prepare(parser().parse_args([*base, "--admin-password-file", str(secret), "--tls-certfile", "c.pem"]), {})


def test_an_mlflow_failure_inside_a_job_is_one_line():
    from mlflow.exceptions import MlflowException

    from captioning.pipeline.jobs import _one_line

    err = MlflowException("API request to http://h:5000/api failed: Max retries exceeded\nwith url ...")
    assert _one_line(err) == "MLflow: API request to http://h:5000/api failed: Max retries exceeded"
    assert _one_line(KeyError("bug")) is None  # a bug keeps its traceback


def test_a_reopened_run_logs_no_metric_step_twice(tmp_path):
    """Steps flushed before an interruption and replayed after the resume are logged once."""
    from captioning.pipeline.tracking import MlflowRun

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    exp_id = setup_experiment(uri, "resume")
    run = MlflowRun(uri, exp_id, run_name="r", flush_every=10)
    for it in range(1, 38):  # 30 flushed, 7 lost in the buffer when the job dies
        run.log_iteration(it, 1.0 / it)
    run.log_epoch(1, {"val_loss": 2.0})
    resumed = MlflowRun(uri, run_id=run.run_id)  # the job restarts from an earlier checkpoint
    assert MlflowClient(uri).get_run(run.run_id).info.status == "RUNNING"
    for it in range(21, 61):
        resumed.log_iteration(it, 1.0 / it)
    resumed.log_epoch(1, {"val_loss": 2.5})
    resumed.log_epoch(2, {"val_loss": 1.5})
    resumed.finish()
    client = MlflowClient(uri)
    steps = sorted(m.step for m in client.get_metric_history(run.run_id, "train_loss"))
    assert steps == list(range(1, 61))
    assert [(m.step, m.value) for m in client.get_metric_history(run.run_id, "epoch/val_loss")] == [(1, 2.0), (2, 1.5)]


def test_a_failed_training_job_leaves_its_run_failed(small_dataset, tmp_path, monkeypatch):
    """A job that fails after training (here its model file cannot be written) ends its run FAILED, not RUNNING."""
    from captioning.pipeline.train import train_run

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    tracking = {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "experiment": "fail"}
    exp = {"name": "boom", "cell_type": "rnn", "wordvec_dim": 8, "hidden_dim": 16, "num_epochs": 1, "eval_images": 5}
    (tmp_path / "r/model.npz").mkdir(parents=True)  # in the way of the model file
    with pytest.raises(OSError):
        train_run(small_dataset, exp, 0, tracking, tmp_path / "r", progress=False)
    client = MlflowClient(tracking["tracking_uri"])
    runs = client.search_runs([client.get_experiment_by_name("fail").experiment_id], "tags.`captioning.role` = 'seed'")
    assert [r.info.status for r in runs] == ["FAILED"]
    assert not (tmp_path / "r/run.json").exists()
