"""MLflow as its users expect, on the smoke workflow's fresh store: parent and child runs, lineage, the
registry, superseded runs, and the champion model through pyfunc, `mlflow models serve` and REST."""

import csv
import getpass
import hashlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import h5py
import mlflow
import numpy as np
import pytest
import yaml
from helpers import answers, free_port, stop, wait_for
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient
from project import clean_env, snakemake

from captioning.checkpoint import load_model
from captioning.data import layout
from captioning.data.pca import PCA
from captioning.sampling import DECODE_BATCH, decode
from captioning.vocab import decode_captions

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = "smoke-synthetic"  # <sweep>-<dataset>
EXPERIMENTS = ["lstm", "lstm_blind", "lstm_scst", "rnn-h32", "rnn-h48"]
ROLE = "tags.`captioning.role`"


def uri_of(work) -> str:
    return f"sqlite:///{work / 'smoke/mlflow.db'}"


def runs(client, role: str, view=ViewType.ACTIVE_ONLY) -> list:
    exp = client.get_experiment_by_name(EXPERIMENT)
    return client.search_runs([exp.experiment_id], f"{ROLE} = '{role}'", run_view_type=view, max_results=1000)


def table(path) -> list[dict]:
    return list(csv.DictReader(open(path)))


def best_seed_runs(work) -> dict:
    """{experiment: run id of its best seed by val}, from runs.csv and the runs' records."""
    rows = table(work / "smoke/results/synthetic/smoke/runs.csv")
    out = {}
    for exp in EXPERIMENTS:
        mine = [r for r in rows if r["experiment"] == exp]
        seed = max(mine, key=lambda r: float(r["val_select"]))["seed"]
        out[exp] = json.loads((work / f"smoke/runs/synthetic/smoke/{exp}/seed{seed}/run.json").read_text())["run_id"]
    return out


def started(cmd, env):
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )


def post_error(url: str, text: str) -> tuple[int, dict]:
    """POST ``text`` as JSON, expecting an HTTP error: (status, the error's JSON body)."""
    req = urllib.request.Request(url, text.encode(), {"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=60)
    return info.value.code, json.loads(info.value.read())


def post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def test_seeds_are_children_of_one_finished_parent_per_experiment(smoke):
    work = smoke.work
    client = MlflowClient(uri_of(work))
    parents = {r.info.run_name: r for r in runs(client, "experiment")}
    assert sorted(parents) == EXPERIMENTS
    seeds = runs(client, "seed")
    assert len(seeds) == 7
    for r in seeds:
        assert r.data.tags["mlflow.parentRunId"] == parents[r.data.tags["experiment"]].info.run_id
    every = client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id], run_view_type=ViewType.ALL)
    assert {r.info.status for r in every} == {"FINISHED"}  # no run is left RUNNING
    summary = {r["experiment"]: r for r in table(work / "smoke/results/synthetic/smoke/summary.csv")}
    for name, parent in parents.items():
        m, row = parent.data.metrics, summary[name]
        assert m["seeds"] == float(row["seeds"]) and m["val_BLEU-4"] == pytest.approx(float(row["val_select"]))
        for key in ("greedy_BLEU-4", "greedy_BLEU-4_lo", "greedy_BLEU-4_hi", "greedy_CIDEr-D"):
            assert m[f"test_{key}"] == pytest.approx(float(row[key]), rel=1e-5)
        assert parent.data.params["hidden_dim"] == ("48" if name == "rnn-h48" else "32")
    assert parents["lstm"].data.metrics["test_greedy_BLEU-4_std"] == pytest.approx(
        float(summary["lstm"]["greedy_BLEU-4_std"]), rel=1e-5
    )


def test_runs_carry_source_user_and_datasets(smoke):
    work = smoke.work
    client = MlflowClient(uri_of(work))
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    data = work / "smoke/data/synthetic"

    def digest(splits):
        h = hashlib.sha256()
        for name in layout.split_files(splits, pca=True):
            h.update((data / name).read_bytes())
        return h.hexdigest()[:16]

    for r in runs(client, "seed"):
        tags = r.data.tags
        assert tags["mlflow.source.git.commit"] == (commit or "unknown")
        assert tags["mlflow.user"] == getpass.getuser() and tags["mlflow.source.name"] == "workflow/scripts/train.py"
        inputs = {i.tags[0].value: i.dataset for i in r.inputs.dataset_inputs}
        assert sorted(inputs) == ["testing", "training"]
        assert (inputs["training"].name, inputs["training"].digest) == ("synthetic-trainval", digest(["train", "val"]))
        assert (inputs["testing"].name, inputs["testing"].digest) == ("synthetic-test", digest(["test"]))
        assert json.loads(inputs["training"].source) == {"uri": str(data.resolve())}


def test_registry_holds_the_best_seed_of_each_experiment_and_the_champion(smoke_copy):
    work = smoke_copy
    client = MlflowClient(uri_of(work))
    best = best_seed_runs(work)
    for exp, run_id in best.items():
        version = client.get_model_version_by_alias(f"{EXPERIMENT}-{exp}", "best")
        assert version.run_id == run_id
        assert len(client.search_model_versions(f"name = '{EXPERIMENT}-{exp}'")) == 1
    summary = [r for r in table(work / "smoke/results/synthetic/smoke/summary.csv") if r["features"] == "image"]
    champion = max(summary, key=lambda r: float(r["val_select"]))["experiment"]
    assert client.get_model_version_by_alias(EXPERIMENT, "champion").run_id == best[champion]
    record = json.loads((work / "smoke/results/synthetic/smoke/registry.json").read_text())
    assert record["champion"]["experiment"] == champion
    snakemake(work, "--forcerun", "register")  # a rerun moves nothing and adds no version
    assert json.loads((work / "smoke/results/synthetic/smoke/registry.json").read_text()) == record
    for exp in EXPERIMENTS:
        assert len(client.search_model_versions(f"name = '{EXPERIMENT}-{exp}'")) == 1
    assert len(client.search_model_versions(f"name = '{EXPERIMENT}'")) == 1


def raw_test_features(work, n=6) -> np.ndarray:
    with h5py.File(work / "smoke/data/synthetic" / layout.features_file("test", pca=False)) as f:
        return f["features"][:n]


def reference_captions(work, run_id: str, raw: np.ndarray) -> list[str]:
    """The champion's captions the long way: its checkpoint, the PCA stored with the data, the decoder."""
    rows = [r for r in table(work / "smoke/results/synthetic/smoke/runs.csv")]
    for r in rows:
        path = work / f"smoke/runs/synthetic/smoke/{r['experiment']}/seed{r['seed']}"
        if json.loads((path / "run.json").read_text())["run_id"] == run_id:
            break
    model, _ = load_model(path / "model.npz")
    sweep = yaml.safe_load((work / "config/sweep_smoke.yaml").read_text())["experiments"]
    beam = sweep[r["experiment"].split("-")[0]].get("beam_width", 3)
    with h5py.File(work / "smoke/data/synthetic" / layout.features_file("train", pca=True)) as f:
        pca = PCA.from_group(f["pca"])
    tokens = decode(model, pca.transform(raw), method="beam" if beam > 1 else "greedy", beam_width=beam, max_length=16)
    return decode_captions(tokens, [model.idx_to_word[i] for i in range(len(model.idx_to_word))], plain=True)


def test_the_champion_captions_raw_features_through_pyfunc(smoke, monkeypatch):
    work = smoke.work
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri_of(work))
    model = mlflow.pyfunc.load_model(f"models:/{EXPERIMENT}@champion")
    raw = raw_test_features(work)
    width = raw.shape[1]
    assert str(model.metadata.get_input_schema()) == f"[Tensor('float32', (-1, {width}))]"  # raw features in
    assert str(model.metadata.get_output_schema()) == "[string (required)]"  # a caption per row out
    assert model.metadata.metadata["input"] == f"raw image features, float32, shape (N, {width})"
    captions = model.predict(raw)
    run_id = MlflowClient(uri_of(work)).get_model_version_by_alias(EXPERIMENT, "champion").run_id
    assert captions == reference_captions(work, run_id, raw)
    assert all(isinstance(c, str) and c for c in captions)
    with pytest.raises(Exception, match=rf"Shape of input \(\d+, 100\) does not match expected shape \(-1, {width}\)"):
        model.predict(raw[:, :100])
    with pytest.raises(Exception, match=r"Failed to enforce schema of data '\[\['a'"):
        model.predict([["a"] * width])
    assert model.predict(np.zeros((0, width), dtype=np.float32)) == []  # an empty batch, no captions
    with pytest.raises(Exception, match=rf"Shape of input \(3, 0\) does not match expected shape \(-1, {width}\)"):
        model.predict(np.zeros((3, 0), dtype=np.float32))  # rows without features are not an empty batch
    bad = raw.copy()
    bad[1, 3] = np.nan
    with pytest.raises(Exception, match=r"Captioner.predict: row 1 holds NaN or infinite features"):
        model.predict(bad)  # a signature cannot say "finite": predict does


def test_mlflow_models_serve_answers_a_rest_request(smoke):
    work = smoke.work
    port = free_port()
    # the environment activated, as a user runs it: MLflow starts `uvicorn` from PATH
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = clean_env(MLFLOW_TRACKING_URI=uri_of(work), PATH=path)
    cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{EXPERIMENT}@champion"]
    proc = started([*cmd, "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)], env)
    try:
        wait_for(answers(f"http://127.0.0.1:{port}/ping", proc), 180, "mlflow models serve")
        url = f"http://127.0.0.1:{port}/invocations"
        raw = raw_test_features(work)
        answer = post(url, {"inputs": raw.tolist()})
        # more rows than one decoding chunk holds: decoded in chunks, each row as on its own
        reps = -(-(2 * DECODE_BATCH + 1) // len(raw))
        large = post(url, {"instances": np.tile(raw, (reps, 1)).tolist()})
        empty = [post_error(url, json.dumps(body)) for body in ({"inputs": []}, {"instances": []})]
        refused = {}
        for row, value in ((2, float("nan")), (1, float("inf")), (4, float("-inf"))):
            bad = raw.tolist()
            bad[row][7] = value
            refused[row] = post_error(url, json.dumps({"inputs": bad}))
        narrow = post_error(url, json.dumps({"inputs": raw[:, :100].tolist()}))
        words = post_error(url, json.dumps({"inputs": [["a"] * raw.shape[1]]}))
    finally:
        stop(proc)
    run_id = MlflowClient(uri_of(work)).get_model_version_by_alias(EXPERIMENT, "champion").run_id
    assert answer["predictions"] == reference_captions(work, run_id, raw)
    assert len(large["predictions"]) == reps * len(raw) > 2 * DECODE_BATCH
    assert large["predictions"] == answer["predictions"] * reps
    for status, body in empty:  # MLflow's scoring server reads `[]` as shape (0,): its schema check refuses it
        assert status == 400 and "Failed to enforce schema of data '[]'" in body["message"]
    for row, (status, body) in refused.items():  # never an HTTP 200 with an empty caption
        assert status == 400 and body["error_code"] == "INVALID_PARAMETER_VALUE"
        assert (
            f"Captioner.predict: row {row} holds NaN or infinite features; every feature must be finite"
            in body["message"]
        )
    assert narrow[0] == words[0] == 400  # MLflow's schema check, before predict
    assert (
        f"Shape of input ({len(raw)}, 100) does not match expected shape (-1, {raw.shape[1]})" in narrow[1]["message"]
    )
    assert "could not convert string to float: 'a'" in words[1]["message"]


def test_the_tracking_server_rest_api_shows_parents_children_datasets_and_aliases(smoke):
    """Read back through `mlflow server`'s REST API, as the UI does."""
    work = smoke.work
    port = free_port()
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri_of(work), "--workers", "1"]
    proc = started([*cmd, "--host", "127.0.0.1", "--port", str(port)], clean_env())
    api = f"http://127.0.0.1:{port}/api/2.0/mlflow"
    try:
        wait_for(answers(f"http://127.0.0.1:{port}/health", proc), 180, "mlflow server")
        with urllib.request.urlopen(f"{api}/experiments/get-by-name?experiment_name={EXPERIMENT}") as r:
            exp_id = json.loads(r.read())["experiment"]["experiment_id"]
        seeds = post(f"{api}/runs/search", {"experiment_ids": [exp_id], "filter": f"{ROLE} = 'seed'"})["runs"]
        parents = post(f"{api}/runs/search", {"experiment_ids": [exp_id], "filter": f"{ROLE} = 'experiment'"})["runs"]
        with urllib.request.urlopen(f"{api}/registered-models/alias?name={EXPERIMENT}&alias=champion") as r:
            champion = json.loads(r.read())["model_version"]
    finally:
        stop(proc)
    parent_ids = {p["info"]["run_id"] for p in parents}
    assert sorted(p["info"]["run_name"] for p in parents) == EXPERIMENTS
    assert len(seeds) == 7
    for run in seeds:
        tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
        assert tags["mlflow.parentRunId"] in parent_ids and run["info"]["status"] == "FINISHED"
        contexts = sorted(i["tags"][0]["value"] for i in run["inputs"]["dataset_inputs"])
        assert contexts == ["testing", "training"]
    assert champion["run_id"] in {r["info"]["run_id"] for r in seeds} and "champion" in champion["aliases"]


def test_a_changed_experiment_supersedes_its_runs_and_moves_the_alias(smoke_copy):
    """The changed experiment is the self-critical one: two seeds, nothing downstream of it retrains."""
    work = smoke_copy
    changed = "lstm_scst"
    client = MlflowClient(uri_of(work))
    before = {r.data.tags["seed"]: r.info.run_id for r in runs(client, "seed") if r.data.tags["experiment"] == changed}
    old_parent = next(r.info.run_id for r in runs(client, "experiment") if r.info.run_name == changed)
    sweep_path = work / "config/sweep_smoke.yaml"
    original = sweep_path.read_text()
    sweep = yaml.safe_load(original)
    sweep["experiments"][changed]["learning_rate"] = 0.02
    sweep_path.write_text(yaml.safe_dump(sweep))
    try:
        snakemake(work)
        active = runs(client, "seed")
        after = {r.data.tags["seed"]: r.info.run_id for r in active if r.data.tags["experiment"] == changed}
        assert len(active) == 7 and set(after.values()).isdisjoint(before.values())  # one current run per seed
        for seed, old in before.items():
            gone = client.get_run(old)
            assert gone.info.lifecycle_stage == "deleted" and gone.data.tags["captioning.superseded_by"] == after[seed]
            assert gone.info.status == "FINISHED"
        parents = {r.info.run_name: r for r in runs(client, "experiment")}
        assert sorted(parents) == EXPERIMENTS and parents[changed].info.run_id != old_parent
        assert parents[changed].data.params["learning_rate"] == "0.02"
        assert client.get_run(old_parent).info.lifecycle_stage == "deleted"
        assert {r.data.tags["mlflow.parentRunId"] for r in active if r.data.tags["experiment"] == changed} == {
            parents[changed].info.run_id
        }
        moved = client.get_model_version_by_alias(f"{EXPERIMENT}-{changed}", "best")
        assert moved.run_id == best_seed_runs(work)[changed] and moved.run_id in after.values()
        assert len(client.search_model_versions(f"name = '{EXPERIMENT}-{changed}'")) == 2  # the old run's version stays
    finally:
        sweep_path.write_text(original)
        snakemake(work)  # back to the original configuration (retrained, bitwise as before)
    assert "Nothing to be done" in snakemake(work, "-n").stdout


RACER = """
import sys
from mlflow.tracking import MlflowClient
from captioning.pipeline.lineage import log_dataset
uri, run_id = sys.argv[1], sys.argv[2]
client = MlflowClient(uri)
client.get_run(run_id)  # connected and migrated before the start line
print("ready", flush=True)
sys.stdin.readline()  # the start line: every process is ready
for d in range(40):
    log_dataset(client, run_id, "synthetic-trainval", f"digest{d}", "/data/synthetic", "training")
"""


@pytest.mark.slow
def test_jobs_logging_the_same_dataset_at_once_all_succeed(tmp_path):
    """Training jobs start together and each logs the sweep's dataset: MLflow creates the experiment's
    dataset row check-then-insert, so all but one lose a race on the store's unique key (seen in a
    5-job workflow run). Eight real processes, one SQLite store, 40 datasets each from one start line
    (released once all eight are connected): without the retry in log_dataset some process lost a race
    in 3 of 4 runs here."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp = client.create_experiment("race")
    run_ids = [client.create_run(exp).info.run_id for _ in range(8)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, uri, r],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in run_ids
    ]
    try:
        assert [p.stdout.readline().strip() for p in procs] == ["ready"] * 8
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        errors = [p.communicate(timeout=120)[1] for p in procs]
    finally:
        for p in procs:
            p.kill()  # a no-op for those that ended
    assert [p.returncode for p in procs] == [0] * 8, "\n".join(e[-600:] for e in errors)
    for r in run_ids:
        inputs = client.get_run(r).inputs.dataset_inputs
        assert sorted(i.dataset.digest for i in inputs) == sorted(f"digest{d}" for d in range(40))
    import sqlite3

    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        assert db.execute("select count(*) from datasets").fetchone()[0] == 40
