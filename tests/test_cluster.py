"""The smoke workflow on a real one-node SLURM cluster, tracked on PostgreSQL-backed MLflow servers, all on 127.0.0.1.

`profiles/slurm` is used as shipped; only its two settings come from the environment
(CAPTIONING_SLURM_PARTITION=debug, an empty CAPTIONING_SLURM_ACCOUNT: no accounting).
Without root or the Debian packages these tests skip with the reason; with CI=true they fail.
"""

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import services
import yaml
from mlflow.tracking import MlflowClient
from project import clean_env, copy_project, copy_run, snakemake

REASON = services.missing()
if REASON and os.environ.get("CI") == "true":
    raise RuntimeError(f"cluster tests cannot run: {REASON} (CI=true: they must run; .ci/run installs the packages)")
# One worker runs every test of the services group (SLURM's /etc/slurm/slurm.conf, the session's PostgreSQL).
pytestmark = [
    pytest.mark.xdist_group("services"),
    pytest.mark.skipif(REASON is not None, reason=f"cluster tests: {REASON}"),
]

PROFILE = ("--profile", "profiles/slurm")
# profiles/slurm waits 20 s before a wave's first status check, a cluster's pace; a test's one-node
# cluster answers at once (the plugin then adds 10 s a round until a job ends, as it does anywhere).
FAST_STATUS = ("--slurm-init-seconds-before-status-checks", "1")
ROLE = "tags.`captioning.role`"
SEEDS = f"{ROLE} = 'seed'"  # the seed runs, not the experiments' parent runs
LOCAL = ("all", "collect", "figures", "register")  # rules that never go through sbatch
ADMIN_PASSWORD = secrets.token_urlsafe(16)
EDITOR = ("editor", secrets.token_urlsafe(12))  # EDIT on smoke-synthetic: the smoke DAG runs as this user


def on_slurm(work, *args, **kwargs):
    """``snakemake --profile profiles/slurm --configfile config/smoke.yaml ARGS``, as docs/cluster.md says
    (with the test's status-check delay)."""
    return snakemake(work, *PROFILE, *FAST_STATUS, *args, cores=None, **kwargs)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory, postgres):
    root = tmp_path_factory.mktemp("cluster")
    # four CPUs on two cores: a wave of four jobs, each one thread, costs one round of status checks
    slurm, pg = services.Slurm(root / "slurm", cpus=4), postgres
    servers = []
    try:
        start = time.perf_counter()
        slurm.start()
        bring_up = time.perf_counter() - start
        for name, admin_password in (("tracking_a", ADMIN_PASSWORD), ("tracking_b", None)):
            server = services.TrackingServer(root / name, pg.create_database(name), pg, admin_password=admin_password)
            server.start()
            servers.append(server)
        services.AuthAdmin(servers[0]).create_user(*EDITOR)
        services.AuthAdmin(servers[0]).grant(EDITOR[0], "smoke-synthetic", "EDIT")
        print(f"SLURM up in {bring_up:.1f} s")
        yield slurm, servers
    finally:
        for server in servers:
            server.stop()
        slurm.stop()


@pytest.fixture(autouse=True)
def admin_login(monkeypatch):
    """The tests read the auth-enabled server (tracking_a) as its admin; the other ignores the login."""
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)


def slurm_env(server, work=None, **extra):
    """The workflow's environment: on tracking_a as the EDIT user, whose login the jobs inherit."""
    settings = {
        "MLFLOW_TRACKING_URI": server.uri,
        "MLFLOW_TRACKING_USERNAME": EDITOR[0],
        "MLFLOW_TRACKING_PASSWORD": EDITOR[1],
        "CAPTIONING_SLURM_PARTITION": "debug",
        "CAPTIONING_SLURM_ACCOUNT": "",
    }
    return clean_env(work, **{**settings, **extra})


@pytest.fixture(scope="session")
def smoke_on_slurm(cluster, tmp_path_factory):
    slurm, (server, _) = cluster
    work = copy_project(tmp_path_factory.mktemp("project"))
    start = time.perf_counter()
    res = on_slurm(work, env=slurm_env(server))
    return work, time.perf_counter() - start, res


def submitted_rules(res) -> list[str]:
    """The rule of each job the slurm plugin reports as submitted."""
    lines = (res.stdout + res.stderr).splitlines()
    return [line.split("slurm_logs/rule_")[1].split("/")[0] for line in lines if "submitted with SLURM jobid" in line]


def jobs_in(slurm, work) -> list[dict]:
    return [j for j in slurm.finished_jobs() if j.get("WorkDir") == str(work)]


def test_every_job_but_the_local_rules_went_through_sbatch(cluster, smoke_on_slurm):
    slurm, _ = cluster
    work, seconds, res = smoke_on_slurm
    plan = on_slurm(work, "-n", "--forceall", env=slurm_env(cluster[1][0]))
    counts = dict(
        line.split() for line in plan.stdout.split("Job stats:")[1].split("total")[0].splitlines()[3:] if line.strip()
    )
    remote = sum(int(n) for rule, n in counts.items() if rule not in LOCAL)
    assert remote == 19  # synthetic_data, pca, gradcheck, human_ceiling, 7 x train, 7 x score, meteor
    finished = jobs_in(slurm, work)
    assert len(finished) == remote, finished
    assert {j["JobState"] for j in finished} == {"COMPLETED"} and {j["Partition"] for j in finished} == {"debug"}
    submitted = submitted_rules(res)
    assert sorted(submitted) == sorted(r for r in counts for _ in range(int(counts[r])) if r not in LOCAL)
    assert (work / "smoke/results/synthetic/smoke/summary.csv").exists()
    print(f"smoke workflow on SLURM: {len(finished)} sbatch jobs, {seconds:.0f} s")


def test_slurm_writes_the_same_summary_bytes_as_the_local_run(smoke, smoke_on_slurm):
    """Bitwise reproducible on one machine: the session's local smoke run and its run through sbatch,
    each from scratch with the same seeds, write the same bytes."""
    local, on_slurm = (
        smoke.work / "smoke/results/synthetic/smoke/summary.md",
        smoke_on_slurm[0] / "smoke/results/synthetic/smoke/summary.md",
    )
    assert on_slurm.read_bytes() == local.read_bytes()


def test_all_runs_are_on_the_server_finished_with_metrics_and_artifacts(cluster, smoke_on_slurm):
    _, (server, _) = cluster
    client = MlflowClient(tracking_uri=server.uri)
    exp = client.get_experiment_by_name("smoke-synthetic")
    parents = client.search_runs([exp.experiment_id], filter_string=f"{ROLE} = 'experiment'")
    assert sorted(r.info.run_name for r in parents) == ["lstm", "lstm_blind", "lstm_scst", "rnn-h32", "rnn-h48"]
    runs = client.search_runs([exp.experiment_id], filter_string=SEEDS)
    assert sorted(r.info.run_name for r in runs) == [
        "lstm-seed0",
        "lstm-seed1",
        "lstm_blind-seed0",
        "lstm_scst-seed0",
        "lstm_scst-seed1",
        "rnn-h32-seed0",
        "rnn-h48-seed0",
    ]
    for r in runs:
        assert r.info.status == "FINISHED"
        assert r.info.artifact_uri.startswith("mlflow-artifacts:/")  # proxied: no shared directory needed
        assert {"final/test_greedy_BLEU-4", "epoch/val_BLEU-4", "train_loss"} <= set(r.data.metrics)
        with tempfile.TemporaryDirectory() as tmp:
            path = client.download_artifacts(r.info.run_id, "checkpoint/model.npz", tmp)
            assert np.load(path)["params/Wh"].shape[0] == int(r.data.params["hidden_dim"])


@pytest.fixture
def slurm_copy(smoke_on_slurm, tmp_path):
    """A private copy of the smoke run on SLURM, for a test that changes it."""
    return copy_run(smoke_on_slurm[0], tmp_path / "project")


EPOCHS = 16  # of the cancelled training: cancelled once it has a checkpoint, its retry too


def test_a_cancelled_training_job_resumes_to_identical_parameters(cluster, slurm_copy):
    slurm, (server, _) = cluster
    work = slurm_copy
    with open(work / "config/smoke.yaml", "a") as f:  # its runs in an MLflow experiment of their own
        f.write("mlflow:\n  tracking_uri: sqlite:///mlflow.db\n  experiment: smoke-cancel\n")
    sweep_path = work / "config/sweep_smoke.yaml"
    original = sweep_path.read_text()
    sweep = yaml.safe_load(original)
    long = dict(sweep["experiments"]["lstm"], num_epochs=EPOCHS, seeds=[0], beam_width=1, eval_images=0)
    sweep["experiments"] = {"long": long}
    sweep_path.write_text(yaml.safe_dump(sweep))
    env = slurm_env(server, work)
    cmd = [sys.executable, "-m", "snakemake", "--configfile", "config/smoke.yaml", *PROFILE, *FAST_STATUS]
    runs = work / "smoke/runs/synthetic/smoke"
    try:
        proc = subprocess.Popen(
            cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        checkpoint = runs / "long/seed0/.resume/checkpoint.npz"
        cancelled = []
        try:  # cancel the job mid-training, and its retry (profiles/slurm: retries: 1) too
            deadline = time.monotonic() + 600
            while proc.poll() is None and time.monotonic() < deadline:
                queue = subprocess.run(
                    ["squeue", "-h", "-t", "RUNNING", "-o", "%i %k"], capture_output=True, text=True
                ).stdout
                for job in [line.split()[0] for line in queue.splitlines() if "wildcards_long_0" in line]:
                    if job not in cancelled and checkpoint.exists():
                        subprocess.run(["scancel", job], check=True)
                        cancelled.append(job)
                time.sleep(0.1)
            out, _ = proc.communicate(timeout=60)
        finally:
            services.stop(proc)
        assert len(cancelled) == 2, out[-2000:]
        assert proc.returncode != 0, out[-2000:]
        assert not (runs / "long/seed0/model.npz").exists()
        on_slurm(work, env=env)  # the same command again
        log = (work / "smoke/logs/synthetic/smoke/train/long/seed0.log").read_text()
        assert "resuming from" in log
        sweep["experiments"]["long_ref"] = long  # the same training, never interrupted (here, not through sbatch)
        sweep_path.write_text(yaml.safe_dump(sweep))
        snakemake(work, env=env)
        a, b = np.load(runs / "long/seed0/model.npz"), np.load(runs / "long_ref/seed0/model.npz")
        assert [k for k in a.files if k.startswith("params/")] == [k for k in b.files if k.startswith("params/")]
        for key in [k for k in a.files if k.startswith(("params/", "best/"))]:
            np.testing.assert_array_equal(a[key], b[key])
        client = MlflowClient(tracking_uri=server.uri)
        found = client.search_runs(
            [client.get_experiment_by_name("smoke-cancel").experiment_id],
            filter_string=f"tags.experiment = 'long' and {SEEDS}",
        )
        assert len(found) == 1 and found[0].info.status == "FINISHED"  # the interrupted run, continued
        assert "resumed_at_commit" in found[0].data.tags
        steps = [m.step for m in client.get_metric_history(found[0].info.run_id, "train_loss")]
        assert sorted(set(steps)) == list(range(1, EPOCHS * 30 + 1))
    finally:
        sweep_path.write_text(original)


def test_a_new_tracking_server_gets_only_new_runs_and_nothing_retrains(cluster, slurm_copy):
    _, (first, second) = cluster
    work = slurm_copy
    env = slurm_env(second)
    assert "Nothing to be done" in on_slurm(work, "-n", env=env).stdout
    sweep_path = work / "config/sweep_smoke.yaml"
    original = sweep_path.read_text()
    sweep = yaml.safe_load(original)
    sweep["experiments"]["lstm"]["seeds"] = [0, 1, 2]
    sweep["experiments"]["lstm_scst"]["seeds"] = [0, 1]  # its default would be every seed of lstm
    sweep_path.write_text(yaml.safe_dump(sweep))
    try:
        res = on_slurm(work, env=env)
        assert sorted(submitted_rules(res)) == ["meteor", "score", "train"]  # lstm seed 2, and METEOR
        new = MlflowClient(tracking_uri=second.uri)
        runs = new.search_runs([new.get_experiment_by_name("smoke-synthetic").experiment_id], filter_string=SEEDS)
        assert [r.info.run_name for r in runs] == ["lstm-seed2"] and runs[0].info.status == "FINISHED"
        old = MlflowClient(tracking_uri=first.uri)
        assert "lstm-seed2" not in {
            r.info.run_name
            for r in old.search_runs([old.get_experiment_by_name("smoke-synthetic").experiment_id], SEEDS)
        }
        record = json.loads((work / "smoke/runs/synthetic/smoke/lstm/seed2/run.json").read_text())
        assert record["tracking_uri"] == second.uri
    finally:
        sweep_path.write_text(original)


@pytest.mark.parametrize(
    "extra, args, expected",
    [
        (
            {"CAPTIONING_SLURM_PARTITION": "gpu-nope"},
            (),
            r"preflight: SLURM refuses rule \w+'s jobs \(invalid partition specified: gpu-nope ",
        ),
        (
            {},
            ("--set-threads", "train=8"),
            r"preflight: SLURM refuses rule train's jobs "
            r"\(allocation failure: Requested node configuration is not available\)",
        ),
    ],
)
def test_a_request_the_cluster_cannot_meet_fails_at_once_in_one_line(cluster, tmp_path, extra, args, expected):
    _, (server, _) = cluster
    work = copy_project(tmp_path / "project")
    start = time.perf_counter()
    res = on_slurm(work, *args, env=slurm_env(server, **extra), check=False)
    assert res.returncode == 1
    assert re.match(expected, [line for line in res.stderr.splitlines() if line.startswith("preflight:")][0])
    assert time.perf_counter() - start < 60
    assert not (work / ".snakemake/slurm_logs").exists()  # nothing was submitted


def test_an_unset_partition_is_named_in_one_line(cluster, tmp_path):
    _, (server, _) = cluster
    work = copy_project(tmp_path / "project")
    env = {k: v for k, v in slurm_env(server).items() if k != "CAPTIONING_SLURM_PARTITION"}
    res = on_slurm(work, env=env, check=False)
    assert res.returncode == 1
    assert (
        "preflight: profiles/slurm: CAPTIONING_SLURM_PARTITION is not set; export it as the partition to run in "
        "(`sinfo -s` lists them)"
    ) in res.stderr.splitlines()


def test_the_launchers_allowed_hosts_admit_this_machines_name_and_refuse_others(cluster):
    _, (_, server) = cluster  # the server without logins: 200 means the Host header passed
    url = f"{server.uri}/api/2.0/mlflow/experiments/search?max_results=1"

    def status(host):
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers={"Host": host}), timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as err:
            return err.code

    assert status(f"{socket.gethostname()}:{server.port}") == 200  # how compute nodes reach it
    assert status("mlflow.example.org") == 403  # MLflow's DNS-rebinding protection stays on


def test_concurrent_jobs_create_an_experiment_once_on_the_server(cluster):
    _, (server, _) = cluster
    code = (
        "import sys; from captioning.pipeline.tracking import setup_experiment; print(setup_experiment(*sys.argv[1:]))"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, server.uri, "race"], stdout=subprocess.PIPE, text=True)
        for _ in range(8)
    ]
    ids = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0] * 8
    assert len(set(ids)) == 1 and ids[0] == MlflowClient(server.uri).get_experiment_by_name("race").experiment_id
