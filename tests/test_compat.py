"""The MLflow and Snakemake internals we rely on still work as we use them: an upgrade that breaks one fails here."""

import os
import subprocess
import sys
import textwrap

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from captioning.pipeline.mlflow_compat import dataset_input, has_error_code, tracking_uri


def test_a_dataset_input_logs_and_reads_back(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.create_run(client.create_experiment("compat"))
    client.log_inputs(run.info.run_id, datasets=[dataset_input("shapes-test", "abc123", str(tmp_path), "testing")])
    client.log_inputs(
        run.info.run_id, datasets=[dataset_input("coco", "def456", "http://127.0.0.1:9/c.zip", "training")]
    )
    inputs = client.get_run(run.info.run_id).inputs.dataset_inputs
    got = {(i.dataset.name, i.dataset.digest, i.dataset.source_type, i.tags[0].value) for i in inputs}
    assert got == {("shapes-test", "abc123", "local", "testing"), ("coco", "def456", "http", "training")}
    assert {i.dataset.name: i.dataset.source for i in inputs}["coco"] == '{"url": "http://127.0.0.1:9/c.zip"}'


def test_the_tracking_uri_is_set_for_the_block_only(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    before = mlflow.get_tracking_uri()
    inside = f"sqlite:///{tmp_path / 'other.db'}"
    with tracking_uri(inside):
        assert mlflow.get_tracking_uri() == inside
    assert mlflow.get_tracking_uri() == before and "MLFLOW_TRACKING_URI" not in os.environ
    with pytest.raises(RuntimeError), tracking_uri(inside):
        raise RuntimeError
    assert mlflow.get_tracking_uri() == before and "MLFLOW_TRACKING_URI" not in os.environ
    # nothing stays pinned: the environment variable still decides, as it did before the block
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'later.db'}")
    assert mlflow.get_tracking_uri() == f"sqlite:///{tmp_path / 'later.db'}"
    with tracking_uri(inside):
        pass
    assert os.environ["MLFLOW_TRACKING_URI"] == f"sqlite:///{tmp_path / 'later.db'}"


def test_error_codes_are_read_from_real_mlflow_errors(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client.create_experiment("twice")
    with pytest.raises(Exception) as info:
        client.create_experiment("twice")
    assert has_error_code(info.value, "RESOURCE_ALREADY_EXISTS")
    assert not has_error_code(info.value, "BAD_REQUEST")
    assert not has_error_code(ValueError("RESOURCE_ALREADY_EXISTS"), "RESOURCE_ALREADY_EXISTS")


SNAKEFILE = textwrap.dedent("""
    from captioning.pipeline.snakemake_compat import executor_name, pending_jobs

    onstart:
        print("EXECUTOR", executor_name(workflow))
        for job in sorted(pending_jobs(workflow), key=lambda j: j.rule):
            print("JOB", job.rule, job.threads, job.resources["mem_mb"], job.resources["runtime"], job.local)

    localrules: b

    rule all:
        input: "a.txt", "b.txt"

    rule a:
        output: "a.txt"
        threads: 2
        resources: mem_mb=123, runtime=7
        shell: "touch {output}"

    rule b:
        output: "b.txt"
        shell: "touch {output}"
""")


@pytest.mark.slow
def test_snakemake_reports_its_executor_and_pending_jobs(tmp_path):
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    res = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr[-2000:]
    lines = [line for line in res.stdout.splitlines() if line.startswith(("EXECUTOR", "JOB"))]
    # with the local executor every job is local; the cluster tests see rule a sent to SLURM
    assert lines == ["EXECUTOR local", "JOB a 2 123 7 True", "JOB all 1 None None True", "JOB b 1 None None True"]
