"""The shared tracking server with logins and TLS: MLflow's basic-auth app on a PostgreSQL store, on 127.0.0.1.

One server runs for the module: ``captioning-tracking-server --auth`` with a self-signed
certificate made by openssl, the admin password in a mode-0600 file and the database
password in PGPASSWORD. Without root or the Debian packages these tests skip with the
reason; with CI=true they fail.
"""

import os
import secrets
import stat
import subprocess
import sys
import time

import numpy as np
import pytest
import requests
import services
import yaml
from helpers import wait_for
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from project import clean_env, snakemake

from captioning.pipeline.tracking import TrackingError, check_uri, check_writable, setup_experiment

REASON = services.missing()
if REASON and os.environ.get("CI") == "true":
    raise RuntimeError(f"security tests cannot run: {REASON} (CI=true: they must run; .ci/run installs the packages)")
# One worker runs every test of the services group (the session's PostgreSQL, SLURM's configuration).
pytestmark = [
    pytest.mark.xdist_group("services"),
    pytest.mark.skipif(REASON is not None, reason=f"security tests: {REASON}"),
]

USERS = {"reader": secrets.token_urlsafe(12), "editor": secrets.token_urlsafe(12)}


@pytest.fixture(scope="session")
def secure(tmp_path_factory, postgres):
    root = tmp_path_factory.mktemp("secure")
    pg = postgres
    server = None
    try:
        tls = services.make_certificate(root)
        server = services.TrackingServer(
            root / "tracking", pg.create_database("secure"), pg, admin_password=secrets.token_urlsafe(16), tls=tls
        )
        server.start()
        admin = services.AuthAdmin(server)
        for user, password in USERS.items():
            admin.create_user(user, password)
        admin.grant("reader", "shared", "READ")
        admin.grant("editor", "smoke-synthetic", "EDIT")
        yield server, pg
    finally:
        if server is not None:
            server.stop()


def as_user(monkeypatch, server, user=None, password=None, trust=True):
    """This process's MLflow client settings: a login (or none) and the CA bundle (or none)."""
    for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_SERVER_CERT_PATH"):
        monkeypatch.delenv(key, raising=False)
    if user:
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password if password is not None else USERS[user])
    if trust:
        monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", str(server.tls[0]))
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")


def api(server, auth=None):
    return requests.get(
        f"{server.uri}/api/2.0/mlflow/experiments/search?max_results=5",
        auth=auth,
        verify=str(server.tls[0]),
        timeout=10,
    )


def test_anonymous_and_wrong_passwords_get_401(secure):
    server, _ = secure
    assert api(server).status_code == 401
    assert api(server, ("reader", "not-the-password")).status_code == 401
    assert api(server, ("nobody", USERS["reader"])).status_code == 401
    assert api(server, ("reader", USERS["reader"])).status_code == 200


def test_a_read_user_lists_runs_but_cannot_create_one(secure, monkeypatch):
    server, _ = secure
    as_user(monkeypatch, server, "admin", server.admin_password)
    admin = MlflowClient(server.uri)
    shared = admin.get_experiment_by_name("shared").experiment_id
    run = admin.create_run(shared, run_name="by-admin")
    as_user(monkeypatch, server, "reader")
    reader = MlflowClient(server.uri)
    assert [r.info.run_id for r in reader.search_runs([shared])] == [run.info.run_id]
    with pytest.raises(MlflowException) as err:
        reader.create_run(shared)
    assert err.value.error_code == "PERMISSION_DENIED"


def test_the_preflight_probe_names_the_login_variables_on_401(secure, monkeypatch):
    server, _ = secure
    for user, password, said in ((None, None, "are missing"), ("reader", "wrong", "were refused")):
        as_user(monkeypatch, server, user, password)
        start = time.perf_counter()
        with pytest.raises(TrackingError) as err:
            check_uri(server.uri)
        assert str(err.value) == (
            f"MLflow tracking server {server.uri} requires a login (HTTP 401) and the credentials {said}: "
            "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or ~/.mlflow/credentials)"
        )
        assert time.perf_counter() - start < 30  # one request, not MLflow's retries


def test_the_credentials_file_is_read_as_mlflow_reads_it(secure, monkeypatch, tmp_path):
    server, _ = secure
    as_user(monkeypatch, server)
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".mlflow").mkdir()
    (tmp_path / ".mlflow/credentials").write_text(
        f"[mlflow]\nmlflow_tracking_username = reader\nmlflow_tracking_password = {USERS['reader']}\n"
    )
    check_uri(server.uri)  # no error: the file's login is accepted


def test_a_user_without_edit_is_told_the_experiment_and_the_permission(secure, monkeypatch):
    server, _ = secure
    as_user(monkeypatch, server, "reader")
    experiment_id = setup_experiment(server.uri, "shared")  # reading is allowed
    with pytest.raises(TrackingError) as err:
        check_writable(MlflowClient(server.uri), server.uri, "shared", experiment_id)
    assert str(err.value) == (
        f"MLflow tracking server {server.uri}: user 'reader' lacks EDIT permission on experiment 'shared' "
        f"(id {experiment_id}); ask the server's admin to grant it (see docs/cluster.md, 'Security')"
    )


def test_a_client_that_does_not_trust_the_certificate_is_told_the_variable(secure, monkeypatch):
    server, _ = secure
    as_user(monkeypatch, server, "reader", trust=False)
    with pytest.raises(TrackingError) as err:
        check_uri(server.uri)
    assert str(err.value).startswith(f"MLflow tracking server {server.uri}: TLS certificate not trusted (")
    assert str(err.value).endswith("); set MLFLOW_TRACKING_SERVER_CERT_PATH to the server's certificate or CA bundle")
    as_user(monkeypatch, server, "reader")
    check_uri(server.uri)  # trusted: no error


def test_no_secret_on_any_command_line_and_the_auth_file_is_owner_only(secure):
    server, pg = secure
    pids = server.processes()
    assert len(pids) >= 2  # mlflow server (the launcher, exec'd) and its uvicorn workers
    for pid in pids:
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read().decode()
        assert pg.password not in cmdline and server.admin_password not in cmdline, pid
    launcher = open(f"/proc/{server.proc.pid}/cmdline", "rb").read().decode().split("\0")
    assert "--app-name" in launcher and "basic-auth" in launcher
    config = server.root / "basic_auth.ini"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert "default_permission = READ" in config.read_text()


def test_an_edit_users_smoke_dag_lands_every_run(secure, smoke_data_copy):
    server, _ = secure
    work = smoke_data_copy
    sweep_path = work / "config/sweep_smoke.yaml"
    sweep = yaml.safe_load(sweep_path.read_text())
    sweep["experiments"] = {"lstm": dict(sweep["experiments"]["lstm"], seeds=[0])}
    sweep_path.write_text(yaml.safe_dump(sweep))
    login = {
        "MLFLOW_TRACKING_URI": server.uri,
        "MLFLOW_TRACKING_SERVER_CERT_PATH": str(server.tls[0]),
        "MLFLOW_TRACKING_USERNAME": "editor",
    }
    refused = snakemake(work, env=clean_env(**login, MLFLOW_TRACKING_PASSWORD="wrong"), check=False)
    assert refused.returncode == 1 and "requires a login (HTTP 401) and the credentials were refused" in refused.stderr
    snakemake(work, env=clean_env(**login, MLFLOW_TRACKING_PASSWORD=USERS["editor"]))
    with pytest.MonkeyPatch.context() as mp:  # read back with the admin's login
        as_user(mp, server, "admin", server.admin_password)
        admin = MlflowClient(server.uri)
        exp = admin.get_experiment_by_name("smoke-synthetic")
        runs = admin.search_runs([exp.experiment_id], filter_string="tags.`captioning.role` = 'seed'")
    assert [(r.info.run_name, r.info.status) for r in runs] == [("lstm-seed0", "FINISHED")]
    assert "final/test_greedy_BLEU-4" in runs[0].data.metrics


def running(proc, predicate):
    """``predicate`` for :func:`wait_for`, failing at once with the output if ``proc`` has ended."""

    def check():
        if proc.poll() is not None:
            raise AssertionError(f"the workflow ended early ({proc.returncode}):\n{proc.stdout.read()[-3000:]}")
        return predicate()

    return check


def test_a_server_restart_mid_sweep_loses_nothing(secure, smoke_data_copy):
    """The server (uvicorn workers and all) crashes as soon as two training jobs have opened their runs, and
    starts again on the same store once both jobs have met the outage (their logs show a retried request):
    no job fails, every run ends FINISHED, every metric step is there exactly once."""
    server, _ = secure
    work = smoke_data_copy
    with open(work / "config/smoke.yaml", "a") as f:  # an experiment of its own, created by the editor
        f.write("mlflow:\n  tracking_uri: sqlite:///mlflow.db\n  experiment: smoke-restart\n")
    epochs = 60  # each epoch ends with a request: the outage falls inside both runs, whichever starts first
    sweep_path = work / "config/sweep_smoke.yaml"
    sweep = yaml.safe_load(sweep_path.read_text())
    long = dict(num_epochs=epochs, seeds=[0, 1], beam_width=1, eval_images=0)
    sweep["experiments"] = {"long": dict(sweep["experiments"]["lstm"], **long)}
    sweep_path.write_text(yaml.safe_dump(sweep))
    env = clean_env(
        work,
        MLFLOW_TRACKING_URI=server.uri,
        MLFLOW_TRACKING_SERVER_CERT_PATH=str(server.tls[0]),
        MLFLOW_TRACKING_USERNAME="editor",
        MLFLOW_TRACKING_PASSWORD=USERS["editor"],
    )
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "config/smoke.yaml"]
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        runs = [work / f"smoke/runs/synthetic/smoke/long/seed{s}/.resume/state.json" for s in (0, 1)]
        opened = running(proc, lambda: all(r.exists() for r in runs))
        wait_for(opened, 600, "both training jobs' MLflow runs", interval=0.01)
        server.kill()  # the whole process group: mlflow server and its uvicorn workers
        wait_for(lambda: not server.processes(), 30, "the server's processes to exit")
        logs = [work / f"smoke/logs/synthetic/smoke/train/long/seed{s}.log" for s in (0, 1)]
        met_outage = running(proc, lambda: all("request retried" in log.read_text() for log in logs))
        wait_for(met_outage, 120, "both jobs to meet the outage")
        met = time.monotonic()  # from here until the server answers, both jobs wait
        assert proc.poll() is None, "the workflow ended while the server was down"
        server.start()
        outage = time.monotonic() - met
        out, _ = proc.communicate(timeout=900)
    finally:
        services.stop(proc)
    assert proc.returncode == 0, out[-3000:]
    with pytest.MonkeyPatch.context() as mp:
        as_user(mp, server, "admin", server.admin_password)
        client = MlflowClient(server.uri)
        exp = client.get_experiment_by_name("smoke-restart")
        runs = client.search_runs([exp.experiment_id], filter_string="tags.`captioning.role` = 'seed'")
        assert sorted((r.info.run_name, r.info.status) for r in runs) == [
            ("long-seed0", "FINISHED"),
            ("long-seed1", "FINISHED"),
        ]
        for r in runs:
            steps = [m.step for m in client.get_metric_history(r.info.run_id, "train_loss")]
            assert sorted(steps) == list(range(1, epochs * 30 + 1)), r.info.run_name  # 1500 captions, batch 50
            stamps = sorted(m.timestamp for m in client.get_metric_history(r.info.run_id, "epoch/train_loss"))
            assert np.diff(stamps).max() >= 1000 * outage  # it waited out the outage, mid-run
            for key in [k for k in r.data.metrics if k.startswith("epoch/")]:
                assert sorted(m.step for m in client.get_metric_history(r.info.run_id, key)) == list(
                    range(1, epochs + 1)
                ), key
            assert "final/test_greedy_BLEU-4" in r.data.metrics  # the score job logged too
