"""MLflow tracking: one store and experiment created upstream; 8 concurrent jobs log complete runs."""

import subprocess
import sys
import textwrap

from mlflow.tracking import MlflowClient

from captioning.pipeline.tracking import read_tracking, resolve_uri, setup_tracking

JOB = textwrap.dedent("""
    import sys
    from captioning.pipeline.tracking import MlflowRun, read_tracking
    i = int(sys.argv[2])
    run = MlflowRun(read_tracking(sys.argv[1]), run_name=f"job{i}", tags={"experiment": "concurrency", "seed": str(i)})
    run.log_params({"job": i, "lr": 0.01})
    for it in range(1, 601):
        run.log_iteration(it, 10.0 / it + i)
        if it % 100 == 0:
            run.log_epoch(it // 100, {"epoch": it // 100, "val_loss": 1.0 / it})
    run.log_metrics({"final/score": i})
    run.finish()
""")


def test_eight_concurrent_jobs_on_a_fresh_store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    setup_tracking(uri, "sweep-x", tmp_path / "mlflow.json", artifact_root=str(tmp_path / "artifacts"))
    info = read_tracking(tmp_path / "mlflow.json")
    assert info["tracking_uri"] == uri and info["experiment_name"] == "sweep-x"
    # idempotent: the second setup finds the same experiment
    setup_tracking(uri, "sweep-x", tmp_path / "again.json")
    assert read_tracking(tmp_path / "again.json")["experiment_id"] == info["experiment_id"]

    procs = [subprocess.Popen([sys.executable, "-c", JOB, str(tmp_path / "mlflow.json"), str(i)]) for i in range(8)]
    assert [p.wait(timeout=300) for p in procs] == [0] * 8

    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([info["experiment_id"]], max_results=100)
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
