"""The Snakemake workflow end to end on config/smoke.yaml, in a temporary copy of the project."""

import csv
import dataclasses
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from mlflow.tracking import MlflowClient
from project import ROOT, clean_env, copy_project, snakemake

from captioning.evaluation import RANDOM_REFERENCE_BLEU
from captioning.pipeline.records import GridChoice, History, ImageScores
from captioning.provenance import describe

PNG = b"\x89PNG\r\n\x1a\n"


EXPERIMENTS = ["lstm", "lstm_blind", "lstm_scst", "rnn-h32", "rnn-h48"]  # config/sweep_smoke.yaml, grid expanded
RUNS = [("lstm", "0"), ("lstm", "1"), ("lstm_blind", "0"), ("lstm_scst", "0"), ("lstm_scst", "1"), ("rnn-h32", "0")]
RUNS += [("rnn-h48", "0")]


def test_smoke_run_writes_the_test_summary_with_intervals(smoke):
    work, seconds = smoke
    results = work / "smoke/results/synthetic/smoke"
    runs = list(csv.DictReader((results / "runs.csv").open()))
    assert sorted((r["experiment"], r["seed"]) for r in runs) == RUNS
    for r in runs:
        for m in ("greedy_BLEU-1", "greedy_BLEU-4", "greedy_CIDEr-D", RANDOM_REFERENCE_BLEU):
            assert 0.0 <= float(r[m]) <= (10.0 if "CIDEr" in m else 1.0)
        scores = json.loads(
            (work / f"smoke/runs/synthetic/smoke/{r['experiment']}/seed{r['seed']}/scores.json").read_text()
        )
        assert (scores["split"], scores["n_images"]) == ("test", 60)  # smoke.yaml's n_test
        h = History.read(work / f"smoke/runs/synthetic/smoke/{r['experiment']}/seed{r['seed']}/history.json")
        assert float(r["val_select"]) == pytest.approx(h.val_at_best("BLEU-4"), rel=1e-5)
        assert h.select_metric == ("CIDEr-D" if r["experiment"] == "lstm_scst" else "BLEU-4")
    table = {r["experiment"]: r for r in csv.DictReader((results / "summary.csv").open())}
    assert sorted(table) == EXPERIMENTS
    for exp, row in table.items():
        mine = [r for r in runs if r["experiment"] == exp]
        for m in ("greedy_BLEU-1", "greedy_BLEU-4", "greedy_CIDEr-D"):
            # the interval's estimate, from the per-image statistics, is the mean of the runs' corpus scores
            assert float(row[m]) == pytest.approx(np.mean([float(r[m]) for r in mine]), rel=1e-4)
            assert float(row[f"{m}_lo"]) < float(row[m]) < float(row[f"{m}_hi"])
    # the grid's best point is chosen by val, whatever test says
    rnn = {e: np.mean([float(r["val_select"]) for r in runs if r["experiment"] == e]) for e in ("rnn-h32", "rnn-h48")}
    best_rnn = max(rnn, key=rnn.get)
    assert {e: table[e]["best_in_group"] for e in rnn} == {e: str(e == best_rnn) for e in rnn}
    # the comparisons start from the best cross-entropy experiment (the fine-tuned one is compared with its start)
    seeing = {e: float(table[e]["val_select"]) for e in table if table[e]["features"] == "image"}
    best = max((e for e in seeing if not table[e]["init_from"]), key=seeing.get)
    for exp, row in table.items():
        # a fine-tuning of the best is compared with it once: seed for seed, in its own table
        assert row["vs_best"] == ("" if best in (exp, row["init_from"]) else best)
        assert row["vs_blind"] == ("" if exp == "lstm_blind" else "lstm_blind")
        if row["vs_best"]:
            lo, d, hi = (float(row[f"vs_best_BLEU-4{k}"]) for k in ("_lo", "", "_hi"))
            assert lo <= d <= hi and 0 < float(row["vs_best_BLEU-4_p"]) <= 1
            assert d == pytest.approx(float(row["greedy_BLEU-4"]) - float(table[best]["greedy_BLEU-4"]), abs=1e-5)
    md = (results / "summary.md").read_text()
    assert md.startswith("# Results on the test split\n\n60 test images, never read by training or selection.")
    assert f"| rnn | **{best_rnn}** ★ | rnn | image | 1 † |" in md  # † fewer than 3 seeds
    assert "| lstm | 2 † | " in md.split("## Training noise and test-image noise")[1]
    assert ": no claim: " in md.split("## Headline")[1]  # nothing has 3 seeds
    numerics = describe(
        json.loads((work / "smoke/runs/synthetic/smoke/lstm/seed0/history.json").read_text())["numerics"]
    )
    assert f"* {numerics}: 7 of 7 runs" in md.split("## Numerics")[1]
    tuned = md.split("## Self-critical fine-tuning")[1].split("## Caption health")[0]
    assert "| lstm_scst | lstm | 2 † | " in tuned and "no claim" in tuned
    d = float(table["lstm_scst"]["vs_init_CIDEr-D"])  # seed s minus seed s: the difference of the means
    assert d == pytest.approx(
        float(table["lstm_scst"]["greedy_CIDEr-D"]) - float(table["lstm"]["greedy_CIDEr-D"]), abs=1e-5
    )
    health = md.split("## Caption health")[1].split("## Paired comparisons")[0]
    assert all(f"| {e} | " in health for e in EXPERIMENTS)
    assert "| human agreement | (leave-one-out) |" in md and "## Paired comparisons" in md
    other = "rnn" if table[best]["cell_type"] == "lstm" else "lstm"
    assert f"* {table[best]['cell_type'].upper()} vs {other.upper()}: `{best}` minus `" in md
    human = json.loads((work / "smoke/runs/synthetic/smoke/human_agreement.json").read_text())
    assert (human["split"], human["n_images"]) == ("test", 60)
    assert (work / "smoke/results/synthetic/smoke/gradcheck.tsv").read_text().count("\tok") == 10
    print(f"smoke workflow took {seconds:.0f} s")


def test_each_comparison_says_what_it_could_detect(smoke):
    """The self-critical comparison (2 seeds, paired) carries its minimum detectable effect, equal to a plain
    NumPy estimate from the runs' per-image CIDEr-D (the seeds' differences, and the test images' variance of a
    mean); a comparison with one seed on a side has none; both reach summary.md and the MLflow parent run."""
    work = smoke.work
    results, runs = work / "smoke/results/synthetic/smoke", work / "smoke/runs/synthetic/smoke"
    row = {r["experiment"]: r for r in csv.DictReader((results / "summary.csv").open())}["lstm_scst"]

    def cider(exp: str, seed: int) -> np.ndarray:  # each test image's CIDEr-D, greedy captions
        record = ImageScores.read(runs / f"{exp}/seed{seed}/image_scores.npz")
        return record.stats["greedy"][:, record.columns.index("CIDEr-D")]

    a, b = np.stack([cider("lstm_scst", s) for s in (0, 1)]), np.stack([cider("lstm", s) for s in (0, 1)])
    per_seed = a.mean(axis=1) - b.mean(axis=1)
    per_image = (a - b).mean(axis=0)
    mde = 2.8016 * np.sqrt(per_image.var() / per_image.size + per_seed.var(ddof=1) / 2)
    assert float(row["vs_init_CIDEr-D_mde"]) == pytest.approx(mde, rel=0.08)  # a bootstrap of 1,000 resamples
    need = float(row["vs_init_CIDEr-D_seeds_needed"])
    assert need == float("inf") or need >= 3
    md = (results / "summary.md").read_text()
    tuned = md.split("## Self-critical fine-tuning")[1].split("## Caption health")[0]
    assert "| CIDEr-D: detectable Δ | CIDEr-D: seeds a side for the Δ seen |" in tuned
    assert f" | {float(row['vs_init_CIDEr-D_mde']):.3f} | " in tuned
    blind = md.split("## Paired comparisons")[1].split("## Headline")[0]
    assert re.search(r"\| lstm \| lstm_blind \| 2 † vs 1 † \| .* \| – \| – \|", blind)  # one seed: unmeasured
    client = MlflowClient(tracking_uri=f"sqlite:///{work / 'smoke/mlflow.db'}")
    parent = client.get_run(json.loads((runs / "lstm_scst/seed0/run.json").read_text())["parent_run_id"])
    assert parent.data.metrics["vs_init_CIDEr-D_mde"] == pytest.approx(float(row["vs_init_CIDEr-D_mde"]), rel=1e-5)
    assert parent.data.tags["captioning.vs_init"] == "lstm"


def test_meteor_of_every_run_matches_pycocoevalcap_on_its_captions(smoke_copy):
    """The smoke config turns METEOR off (its columns read –); turned on, only the meteor job and the results
    rerun, one jar for the sweep: each run's METEOR in runs.csv and on its MLflow run equals pycocoevalcap's on
    the captions it wrote, and summary.md shows it with its interval (.ci/run installs Java; without it the
    column reads –, as test_meteor.py checks)."""
    from pycocoevalcap.meteor.meteor import Meteor

    from captioning.data.dataset import open_dataset
    from captioning.data.references import split_references

    if shutil.which("java") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("METEOR needs Java (CI=true: .ci/run installs it)")
        pytest.skip("METEOR needs Java (apt-get install default-jre-headless)")
    work = smoke_copy
    results, runs = work / "smoke/results/synthetic/smoke", work / "smoke/runs/synthetic/smoke"
    off = next(r for r in csv.DictReader((results / "summary.csv").open()) if r["experiment"] == "lstm")
    lines = (results / "summary.md").read_text().splitlines()
    head = next(line for line in lines if line.startswith("| group | experiment |")).split(" | ")
    lstm_row = next(line for line in lines if line.startswith("| lstm | lstm | lstm | image |")).split(" | ")
    assert off["greedy_METEOR"] == "" and lstm_row[head.index("greedy METEOR [95% CI]")] == "–"
    config = work / "config/smoke.yaml"
    config.write_text(config.read_text().replace("meteor: false", "meteor: true"))
    res = snakemake(work)
    ran = (res.stdout + res.stderr).split("Job stats:")[1].split("total")[0].splitlines()[3:]
    assert {row.split()[0] for row in ran if row.strip()} == {"meteor", "collect", "register", "all"}
    data = open_dataset(work / "smoke/data/synthetic", splits=("test",)).data
    client = MlflowClient(tracking_uri=f"sqlite:///{work / 'smoke/mlflow.db'}")
    jar = Meteor()
    table = {(r["experiment"], r["seed"]): r for r in csv.DictReader((results / "runs.csv").open())}
    for exp, seed in [("lstm", "1"), ("rnn-h32", "0")]:
        captions = json.loads((runs / f"{exp}/seed{seed}/captions.json").read_text())
        refs = split_references(data, "test", np.array(captions["images"]))
        hyps = {i: [c] for i, c in zip(captions["images"], captions["captions"]["greedy"], strict=True)}
        want, _ = jar.compute_score(refs, hyps)
        assert float(table[(exp, seed)]["greedy_METEOR"]) == pytest.approx(want, rel=1e-5)
        run_id = json.loads((runs / f"{exp}/seed{seed}/run.json").read_text())["run_id"]
        assert client.get_run(run_id).data.metrics["final/test_greedy_METEOR"] == pytest.approx(want, rel=1e-9)
    md = (results / "summary.md").read_text()
    assert "| greedy METEOR [95% CI] |" in md and "METEOR is Meteor 1.5" in md
    row = next(line for line in md.splitlines() if line.startswith("| lstm | lstm | lstm | image | 2 † |"))
    lstm = float(
        next(r for r in csv.DictReader((results / "summary.csv").open()) if r["experiment"] == "lstm")["greedy_METEOR"]
    )
    assert f"| {lstm:.3f} [" in row


def test_smoke_run_writes_non_empty_pngs(smoke):
    work = smoke.work
    pngs = (
        ["loss_comparison.png", "test_metrics.png", "seed_scores.png"]
        + [f"{d}/{e}.png" for d in ("loss_curves", "grids") for e in EXPERIMENTS]
        + ["scst/lstm_scst.png"]
    )
    for name in pngs:
        data = (work / "smoke/results/synthetic/smoke" / name).read_bytes()
        assert data[:8] == PNG and len(data) > 5000, name
    assert not (work / "smoke/results/synthetic/smoke/val_metrics.png").exists()


def test_the_test_split_reaches_scoring_only(smoke_copy):
    """Touching the test split's files reruns scoring, the human ceiling and collect, never a training job."""
    work = smoke_copy
    data = work / "smoke/data/synthetic"
    test_files = sorted(p.name for p in data.glob("test2014*"))
    assert test_files == [
        "test2014_captions.h5",
        "test2014_images.h5",
        "test2014_urls.txt",
        "test2014_vgg16_fc7.h5",
        "test2014_vgg16_fc7_pca.h5",
    ]
    try:
        for name in test_files:
            os.utime(data / name)  # touched now: newer than the copied run's outputs
        plan = snakemake(work, "-n", "--quiet", "rules").stdout
        jobs = {line.split()[0] for line in plan.splitlines() if line.strip() and line.split()[-1].isdigit()}
        assert {"score", "human_ceiling", "collect"} <= jobs and "train" not in jobs and "pca" not in jobs
    finally:
        snakemake(work, "--touch")  # mark everything up to date again
    assert "Nothing to be done" in snakemake(work, "-n").stdout


def test_smoke_run_is_tracked_in_mlflow(smoke):
    work = smoke.work
    client = MlflowClient(tracking_uri=f"sqlite:///{work / 'smoke/mlflow.db'}")
    exp = client.get_experiment_by_name("smoke-synthetic")
    record = json.loads((work / "smoke/runs/synthetic/smoke/lstm/seed0/run.json").read_text())
    assert record["tracking_uri"] == f"sqlite:///{work / 'smoke/mlflow.db'}"
    assert exp.experiment_id == record["experiment_id"]
    # its own store: the project's mlflow.db and mlartifacts/ are never touched
    assert not (work / "mlflow.db").exists() and not (work / "mlartifacts").exists()
    assert exp.artifact_location == (work / "smoke/mlartifacts/smoke-synthetic").as_uri()
    runs = client.search_runs([exp.experiment_id], filter_string="tags.`captioning.role` = 'seed'")
    assert sorted((r.data.tags["experiment"], r.data.tags["seed"]) for r in runs) == RUNS
    for r in runs:
        history = json.loads(
            (
                work / f"smoke/runs/synthetic/smoke/{r.data.tags['experiment']}/seed{r.data.tags['seed']}/history.json"
            ).read_text()
        )
        losses = client.get_metric_history(r.info.run_id, "train_loss")
        assert [m.step for m in sorted(losses, key=lambda m: m.step)] == list(
            range(1, len(history["loss_history"]) + 1)
        )
        epochs = 1 if r.data.tags["experiment"] == "lstm_scst" else 2  # sweep_smoke.yaml's num_epochs
        assert len(client.get_metric_history(r.info.run_id, "epoch/val_BLEU-4")) == epochs
        if r.data.tags["experiment"] == "lstm_scst":  # self-critical: its start, its settings, its reward curve
            start = json.loads(
                (work / f"smoke/runs/synthetic/smoke/lstm/seed{r.data.tags['seed']}/run.json").read_text()
            )
            assert r.data.tags["captioning.init_run_id"] == start["run_id"]
            assert {k: r.data.params[k] for k in ("objective", "init_from", "samples", "baseline")} == {
                "objective": "cider",
                "init_from": "lstm",
                "samples": "3",
                "baseline": "mean",
            }
            assert len(client.get_metric_history(r.info.run_id, "epoch/train_reward")) == 1
        assert {"final/test_greedy_BLEU-4", f"final/test_{RANDOM_REFERENCE_BLEU}"} <= set(r.data.metrics)
        assert not any(k.startswith("final/") and "test" not in k for k in r.data.metrics)
        scored = client.get_metric_history(r.info.run_id, "final/test_greedy_BLEU-4")[0].timestamp
        assert r.info.status == "FINISHED" and scored >= r.info.end_time  # scoring kept the training run's end
        assert {"cell_type", "learning_rate", "hidden_dim", "group", "dataset_id", "git_commit", "seed"} <= set(
            r.data.params
        )
        assert r.data.params["group"] == r.data.tags["experiment"].split("-")[0]  # a grid point's block
        if r.data.tags["experiment"].startswith("rnn-h"):
            assert r.data.params["hidden_dim"] == r.data.tags["experiment"].removeprefix("rnn-h")
        assert r.data.tags["cell_type"] == r.data.params["cell_type"]
        assert {f"numerics.{k}": v for k, v in history["numerics"].items()} == {
            k: v for k, v in r.data.tags.items() if k.startswith("numerics.")
        }  # the CPU, BLAS and versions that trained it
        artifacts = {a.path for a in client.list_artifacts(r.info.run_id)} | {
            a.path for d in ("checkpoint", "samples") for a in client.list_artifacts(r.info.run_id, d)
        }
        assert {"loss.png", "checkpoint/model.npz", "samples/samples.json", "samples/grid.png"} <= artifacts
    default = client.get_experiment_by_name("Default")
    assert default is None or client.search_runs([default.experiment_id]) == []


def test_benchmarks_show_no_oversubscription(smoke):
    work = smoke.work
    tsvs = list((work / "smoke/benchmarks/synthetic").rglob("*.tsv"))
    assert len(tsvs) == 28  # one per job but `all`, beside the smoke run's logs
    assert len(list((work / "smoke/logs/synthetic").rglob("*.log"))) == 28
    threads = yaml.safe_load((work / "config/config.yaml").read_text())["threads"]
    assert threads == {"train": 1, "data": 2, "default": 1}
    for tsv in tsvs:
        row = list(csv.DictReader(tsv.open(), delimiter="\t"))[0]
        rel = tsv.relative_to(work / "smoke/benchmarks/synthetic")  # data.tsv, pca.tsv; smoke/<rule>...: the sweep's
        rule = (rel.parts[1] if rel.parts[0] == "smoke" else rel.parts[0]).removesuffix(".tsv")
        allowed = threads.get({"synthetic_data": "data"}.get(rule, rule), threads["default"])
        if float(row["s"]) > 2:  # too short to measure
            assert float(row["cpu_time"]) / float(row["s"]) < allowed * (1.0 + 0.15), (tsv, allowed)


def test_second_run_does_nothing_and_sweep_edits_rerun_only_what_changed(smoke_copy):
    work = smoke_copy
    assert "Nothing to be done" in snakemake(work, "-n").stdout
    sweep_path = work / "config/sweep_smoke.yaml"
    original = sweep_path.read_text()
    sweep = yaml.safe_load(original)
    sweep["experiments"]["rnn_wide"] = dict(sweep["experiments"]["lstm"], hidden_dim=48, seeds=[0])
    sweep["experiments"]["lstm"]["seeds"] = [0, 1, 2]
    sweep["experiments"]["rnn"]["grid"]["hidden_dim"] = [32, 48, 64]  # a new grid value: one new point
    sweep_path.write_text(yaml.safe_dump(sweep))  # also reorders every key
    out = snakemake(work, "-n", "--quiet", "rules").stdout
    assert "train" in out
    plan = snakemake(work, "-n").stdout
    trained = sorted({line.split("wildcards: ")[1] for line in plan.splitlines() if "wildcards: exp=" in line})
    # lstm_scst fine-tunes every seed of lstm: the new seed too
    assert trained == ["exp=lstm, seed=2", "exp=lstm_scst, seed=2", "exp=rnn-h64, seed=0", "exp=rnn_wide, seed=0"]
    sweep["experiments"].pop("rnn_wide")
    sweep["experiments"]["rnn"]["grid"]["hidden_dim"] = [32, 48]
    sweep["experiments"]["lstm"]["seeds"] = [0, 1]
    sweep["experiments"]["lstm"]["learning_rate"] = 0.02
    sweep_path.write_text(yaml.safe_dump(sweep))
    plan = snakemake(work, "-n").stdout
    trained = sorted({line.split("wildcards: ")[1] for line in plan.splitlines() if "wildcards: exp=" in line})
    assert trained == ["exp=lstm, seed=0", "exp=lstm, seed=1", "exp=lstm_scst, seed=0", "exp=lstm_scst, seed=1"]
    sweep["experiments"]["lstm"]["learning_rate"] = 0.01
    sweep["experiments"]["lstm_scst"]["learning_rate"] = 2.0e-3  # the fine-tuning alone: only it retrains
    sweep_path.write_text(yaml.safe_dump(sweep))
    plan = snakemake(work, "-n").stdout
    trained = sorted({line.split("wildcards: ")[1] for line in plan.splitlines() if "wildcards: exp=" in line})
    assert trained == ["exp=lstm_scst, seed=0", "exp=lstm_scst, seed=1"]
    sweep["experiments"]["lstm_scst"]["learning_rate"] = 1.0e-3
    sweep["experiments"]["lstm"]["learning_rate"] = 0.01
    sweep["experiments"]["lstm"]["beam_width"] = 3  # decoding only: rescore, do not retrain
    sweep_path.write_text(yaml.safe_dump(sweep))
    plan = snakemake(work, "-n").stdout
    jobs = sorted(
        {
            (block.split("\n")[0].strip(), block.split("wildcards: ")[1].split("\n")[0])
            for block in plan.split("rule ")[1:]
            if "wildcards: exp=" in block
        }
    )
    rescored = [(step, f"exp=lstm, seed={seed}") for step in ("figures:", "score:") for seed in (0, 1)]
    assert jobs == rescored  # the captions change, so do their grids
    sweep_path.write_text(original)
    assert "Nothing to be done" in snakemake(work, "-n").stdout


def test_config_typo_gives_one_line_naming_the_key(smoke_copy):
    work = smoke_copy
    sweep_path = work / "config/sweep_smoke.yaml"
    original = sweep_path.read_text()
    try:
        sweep_path.write_text(original.replace("learning_rate: 1.0e-2", "lerning_rate: 1.0e-2", 1))
        res = snakemake(work, "-n", check=False)
        assert res.returncode != 0
        line = (
            "config/sweep_smoke.yaml: experiments.rnn: "
            "Unevaluated properties are not allowed ('lerning_rate' was unexpected)"
        )
        assert line in res.stderr + res.stdout
        sweep_path.write_text(original.replace("num_epochs: 2", "num_epochs: two", 1))
        res = snakemake(work, "-n", check=False)
        assert (
            "config/sweep_smoke.yaml: experiments.rnn.num_epochs: 'two' is not of type 'integer'"
            in res.stderr + res.stdout
        )
    finally:
        sweep_path.write_text(original)


def test_changing_tracking_settings_retrains_nothing(smoke_copy, tmp_path):
    work = smoke_copy
    other = clean_env(MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'elsewhere.db'}")
    assert "Nothing to be done" in snakemake(work, "-n", env=other).stdout
    assert "Nothing to be done" in snakemake(work, "-n", "--config", "mlflow={'experiment': 'renamed'}").stdout


def test_unreachable_tracking_server_fails_in_seconds_with_one_line(smoke_copy):
    work = smoke_copy
    sweep_path = work / "config/sweep_smoke.yaml"
    original = sweep_path.read_text()
    sweep = yaml.safe_load(original)
    sweep["experiments"]["lstm"]["seeds"] = [0, 1, 2]  # something to run
    sweep_path.write_text(yaml.safe_dump(sweep))
    try:
        start = time.perf_counter()
        res = snakemake(work, env=clean_env(MLFLOW_TRACKING_URI="http://127.0.0.1:9"), check=False)
        seconds = time.perf_counter() - start
    finally:
        sweep_path.write_text(original)
    assert res.returncode == 1
    line = (
        "preflight: MLflow tracking server http://127.0.0.1:9 is unreachable ([Errno 111] Connection refused, "
        "5 s timeout); start it, or unset MLFLOW_TRACKING_URI to track in the local SQLite store"
    )
    assert line in res.stderr.splitlines()
    assert seconds < 60, seconds  # not MLflow's minutes of retries
    assert not (work / "smoke/runs/synthetic/smoke/lstm/seed2").exists()


KILLED_EPOCHS = 8  # of the killed training: it is killed at its first checkpoint


@pytest.mark.parametrize("objective", ["xe", "cider"])
def test_killed_workflow_resumes_training_with_unlock_and_the_same_command(smoke_copy, objective):
    """kill -9 of the whole process group, then `snakemake --unlock` and the same plain command.

    For ``cider``, the killed job is a self-critical run fine-tuning the smoke run's lstm seed 0.
    """
    work = smoke_copy
    sweep_path = work / "config/sweep_smoke.yaml"
    original = sweep_path.read_text()
    sweep = yaml.safe_load(original)
    experiments = sweep["experiments"]
    long = dict(num_epochs=KILLED_EPOCHS, seeds=[0], beam_width=1, eval_images=0)
    if objective == "xe":
        sweep["experiments"] = {"long": dict(experiments["lstm"], **long)}
    else:  # lstm seed 0 is already trained: only the SCST run is new
        sweep["experiments"] = {"lstm": experiments["lstm"], "long": dict(experiments["lstm_scst"], **long)}
    sweep_path.write_text(yaml.safe_dump(sweep))
    run_dir = work / "smoke/runs/synthetic/smoke/long/seed0"
    ckpt = run_dir / ".resume/checkpoint.npz"
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "config/smoke.yaml"]
    proc = subprocess.Popen(
        cmd, cwd=work, env=clean_env(work), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.time() + 300
        while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert ckpt.exists(), "training never wrote a checkpoint"
        os.killpg(proc.pid, signal.SIGKILL)  # at the first checkpoint
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    try:
        assert not (run_dir / "model.npz").exists() and ckpt.exists()
        locked = snakemake(work, check=False)
        assert locked.returncode != 0 and "--unlock" in locked.stdout + locked.stderr
        snakemake(work, "--unlock")
        snakemake(work)  # the same plain command: profiles/default reruns the incomplete job
        log = (work / "smoke/logs/synthetic/smoke/train/long/seed0.log").read_text()
        assert "resuming from" in log
        epoch = int(log.split("resuming from")[1].split("(epoch ")[1].split(")")[0])
        assert epoch >= 1
        history = json.loads((run_dir / "history.json").read_text())
        per_epoch = 300 // 50 if objective == "cider" else 1500 // 50  # 300 images (x 5 captions for xe), batch 50
        assert len(history["loss_history"]) == KILLED_EPOCHS * per_epoch
        client = MlflowClient(tracking_uri=f"sqlite:///{work / 'smoke/mlflow.db'}")
        run_id = json.loads((run_dir / "run.json").read_text())["run_id"]
        assert (
            client.get_run(run_id).info.status == "FINISHED" and "resumed_at_commit" in client.get_run(run_id).data.tags
        )
        steps = sorted(m.step for m in client.get_metric_history(run_id, "train_loss"))
        assert steps == list(range(1, KILLED_EPOCHS * per_epoch + 1))  # the resumed run logged no step twice
        per_epoch_keys = [k for k in client.get_run(run_id).data.metrics if k.startswith("epoch/")]
        assert per_epoch_keys and ("epoch/train_reward" in per_epoch_keys) == (objective == "cider")
        for key in per_epoch_keys:
            assert sorted(m.step for m in client.get_metric_history(run_id, key)) == list(
                range(1, KILLED_EPOCHS + 1)
            ), key
    finally:
        sweep_path.write_text(original)


def trained(res) -> list[tuple[str, int]]:
    """(experiment, seed) of every training job a snakemake run executed."""
    blocks = (res.stdout + res.stderr).split("rule train:")[1:]
    return sorted({(b.split("exp=")[1].split(",")[0], int(b.split("seed=")[1].split()[0])) for b in blocks})


def test_confirm_seeds_train_only_for_the_point_val_picks_and_follow_a_new_pick(smoke_copy):
    work = smoke_copy
    runs = work / "smoke/runs/synthetic/smoke"
    sweep_path = work / "config/sweep_smoke.yaml"
    sweep = yaml.safe_load(sweep_path.read_text())
    sweep["experiments"]["rnn"]["confirm_seeds"] = [1]
    sweep_path.write_text(yaml.safe_dump(sweep))
    val = {p: History.read(runs / p / "seed0/history.json").best_val for p in ("rnn-h32", "rnn-h48")}
    picked, other = sorted(val, key=val.get, reverse=True)
    assert trained(snakemake(work)) == [(picked, 1)]  # nothing else trains
    assert GridChoice.read(runs / "selection/rnn.json").point == picked
    rows = {
        (r["experiment"], r["seed"], r["confirm"])
        for r in csv.DictReader((work / "smoke/results/synthetic/smoke/runs.csv").open())
    }
    assert (picked, "1", "True") in rows and not any(e == other and s == "1" for e, s, _ in rows)
    first_confirmation = (runs / picked / "seed1/model.npz").stat().st_mtime_ns
    assert "Nothing to be done" in snakemake(work, "-n").stdout

    # val now prefers the other point: only its confirmation seed trains
    h = History.read(runs / other / "seed0/history.json")
    dataclasses.replace(h, summary={**h.summary, f"best_val_{h.select_metric}": 0.99}).write(
        runs / other / "seed0/history.json"
    )
    assert trained(snakemake(work)) == [(other, 1)]
    assert GridChoice.read(runs / "selection/rnn.json").point == other
    assert (runs / picked / "seed1/model.npz").stat().st_mtime_ns == first_confirmation  # kept, not retrained
    rows = {
        (r["experiment"], r["seed"]) for r in csv.DictReader((work / "smoke/results/synthetic/smoke/runs.csv").open())
    }
    assert {(other, "0"), (other, "1"), (picked, "0")} <= rows and (picked, "1") not in rows
    md = (work / "smoke/results/synthetic/smoke/summary.md").read_text()
    assert f"| rnn | **{other}** ★ | rnn | image | 2 † |" in md


LIBRARY_WARNINGS = re.compile(r"\bWARNING\b|\w+Warning\b")  # a logger's WARNING, or warnings.warn's category
ALLOWED_WARNINGS: dict[str, str] = {}  # {a pattern a log line may match: why it stays}: none today


def test_the_smoke_runs_logs_hold_no_warning_from_a_library(smoke):
    """Every job's log: a warning from MLflow, NumPy, pandas or any other library we call is a bug to fix (or an
    entry of ALLOWED_WARNINGS, with the reason)."""
    logs = sorted((smoke.work / "smoke/logs").rglob("*.log"))
    assert len(logs) == 28
    found = [
        f"{log.relative_to(smoke.work)}: {line.strip()[:200]}"
        for log in logs
        for line in log.read_text().splitlines()
        if LIBRARY_WARNINGS.search(line) and not any(re.search(p, line) for p in ALLOWED_WARNINGS)
    ]
    assert found == []


def files_under(root) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


def test_two_sweeps_with_a_block_of_the_same_name_keep_their_files_apart(smoke_copy):
    """The smoke sweep's finished run stands for a user's default run; a second sweep file with a block named
    `lstm` (config/sweep_mine.yaml) runs in the same project: every file of the first stays byte-identical, the
    two sit side by side in runs/ and results/, and both are in MLflow."""
    work = smoke_copy
    store = ("mlflow.db", "mlartifacts")  # the MLflow store is shared, each sweep an experiment of its own
    before = {k: v for k, v in files_under(work / "smoke").items() if not k.startswith(store)}
    sweep = yaml.safe_load((work / "config/sweep_smoke.yaml").read_text())
    mine = {"name": "mine", "experiments": {"lstm": dict(sweep["experiments"]["lstm"], hidden_dim=16, seeds=[0])}}
    (work / "config/sweep_mine.yaml").write_text(yaml.safe_dump(mine))
    res = snakemake(work, "--config", "sweep=config/sweep_mine.yaml")
    assert trained(res) == [("lstm", 0)]
    after = files_under(work / "smoke")
    assert {k: after[k] for k in before} == before  # the first sweep's files, data included, untouched
    new = sorted({Path(k).parts[:3] for k in set(after) - set(before) if not k.startswith(store)})
    assert new == [("benchmarks", "synthetic", "mine"), ("logs", "synthetic", "mine")] + [
        ("results", "synthetic", "mine"),
        ("runs", "synthetic", "mine"),
    ]
    for sweep_name, hidden in (("smoke", 32), ("mine", 16)):
        model = np.load(work / f"smoke/runs/synthetic/{sweep_name}/lstm/seed0/model.npz")
        assert model["params/Wh"].shape[0] == hidden
    assert "| lstm | 2 † |" in (work / "smoke/results/synthetic/smoke/summary.md").read_text()
    assert "| lstm | 1 † |" in (work / "smoke/results/synthetic/mine/summary.md").read_text()
    client = MlflowClient(tracking_uri=f"sqlite:///{work / 'smoke/mlflow.db'}")
    for name, seeds in (("smoke-synthetic", ["0", "1"]), ("mine-synthetic", ["0"])):
        exp = client.get_experiment_by_name(name)
        runs = client.search_runs([exp.experiment_id], "tags.experiment = 'lstm' and tags.`captioning.role` = 'seed'")
        assert sorted(r.data.tags["seed"] for r in runs) == seeds


def planned_outputs(work, *args) -> set[str]:
    plan = snakemake(work, "-n", *args, cores=None).stdout  # the project's own config: config/config.yaml
    return {
        f.strip()
        for line in plan.splitlines()
        if line.strip().startswith("output:")
        for f in line.split(":")[1].split(",")
    }


def test_the_readmes_second_sweep_plans_no_file_of_the_default_one(tmp_path):
    """`snakemake --cores 8 --config sweep=config/sweep_smoke.yaml` beside the default sweep, as README shows:
    the two plans share the dataset's files and nothing else."""
    work = copy_project(tmp_path / "project")
    default = planned_outputs(work, "--cores", "8", "--configfile", "config/config.yaml")
    other = planned_outputs(
        work, "--cores", "8", "--configfile", "config/config.yaml", "--config", "sweep=config/sweep_smoke.yaml"
    )
    makefile = (ROOT / "Makefile").read_text()
    results = next(line.split(":=")[1].strip() for line in makefile.splitlines() if line.startswith("RESULTS :="))
    assert f"{results}/summary.md" in default  # `make reproduce` writes the report beside the default run's results
    # both plans hold the memory benchmark, the same jobs on the same files (done once, kept by both)
    memory = ("data/memory/", "runs/memory/lstm-vs-rnn/", "results/memory/lstm-vs-rnn/")
    benchmark = {f for f in default if f.startswith(memory)}
    assert benchmark and {f for f in other if f.startswith(memory)} == benchmark
    shared = (default & other) - benchmark
    assert shared and all(f.startswith("data/synthetic/") for f in shared)
    own = ("runs/synthetic/synthetic-shapes/", "results/synthetic/synthetic-shapes/")
    assert all(f.startswith(("data/synthetic/", *own, *memory)) for f in default)
    other_own = ("runs/synthetic/smoke/", "results/synthetic/smoke/")
    assert all(f.startswith(("data/synthetic/", *other_own, *memory)) for f in other)


@pytest.mark.slow
def test_a_dataset_of_ones_own_is_taken_as_it_is(smoke_data, tmp_path):
    """`--config dataset=mine`: no rule makes it; without its files, one line says where they go; with them (the
    smoke data, copied), the plan starts at PCA and trains the sweep into runs/mine/<sweep>/."""
    work = copy_project(tmp_path / "project")
    res = snakemake(work, "-n", "--config", "dataset=mine", check=False)
    assert res.returncode == 1
    assert (
        "dataset mine: missing file smoke/data/mine/coco2014_vocab.json: the workflow generates synthetic and "
        "downloads coco; put the files of dataset 'mine' in the cs231n layout under smoke/data/mine/ "
        "(docs/extending.md)"
    ) in (res.stdout + res.stderr).splitlines()
    shutil.copytree(smoke_data / "smoke/data/synthetic", work / "smoke/data/mine")
    plan = planned_outputs(work, "--cores", "2", "--config", "dataset=mine")
    assert "smoke/runs/mine/smoke/lstm/seed0/model.npz" in plan
    assert not any(f.startswith("smoke/data/mine/") and "_pca" not in f for f in plan)  # the data is yours
