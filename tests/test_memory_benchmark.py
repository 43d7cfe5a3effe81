"""The memory benchmark in the default DAG: planned beside the sweep, trained into its own directories and
MLflow experiment, its grid's checkpoint and confirmation seeds working inside the module."""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import pytest
from project import clean_env, copy_project, snakemake

from captioning.data import layout
from captioning.data.coco import decode_captions

pytestmark = pytest.mark.slow


def dry_run(work, *args) -> str:
    cmd = [sys.executable, "-m", "snakemake", "-n", *args]
    res = subprocess.run(cmd, cwd=work, env=clean_env(work), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return res.stdout


def test_the_default_dag_plans_the_memory_benchmark_beside_the_sweep_and_the_config_turns_it_off(tmp_path):
    work = copy_project(tmp_path / "project")
    plan = dry_run(work)
    assert "rule memory_train:" in plan and "rule train:" in plan
    assert "data/memory/coco2014_captions.h5" in plan and "runs/memory/lstm-vs-rnn/rnn-h256/seed0/model.npz" in plan
    assert "runs/synthetic/synthetic-shapes/rnn-lr0.003-h256/seed0/model.npz" in plan
    alone = dry_run(work, "--config", "memory_benchmark=False")
    assert "rule memory_" not in alone and "/memory/" not in alone
    benchmark = dry_run(work, "--config", "dataset=memory")  # the benchmark as the DAG's own sweep, once
    assert "rule train:" in benchmark and "rule memory_train:" not in benchmark
    assert "runs/memory/lstm-vs-rnn/rnn-h256/seed0/model.npz" in benchmark


def test_the_memory_benchmark_trains_in_the_same_dag_into_its_own_files_and_experiment(smoke_copy):
    from mlflow import MlflowClient

    work = smoke_copy
    sweep_results = work / "smoke/results/synthetic/smoke"
    before = {p.name: p.read_bytes() for p in sweep_results.iterdir() if p.is_file()}
    res = snakemake(work, "--config", "memory_benchmark=config/sweep_memory_smoke.yaml")
    ran = {line.split()[-1].rstrip(")") for line in res.stderr.splitlines() if "(Rule: " in line}
    assert ran and all(rule.startswith("memory_") or rule == "all" for rule in ran), ran
    assert {p.name: p.read_bytes() for p in sweep_results.iterdir() if p.is_file()} == before

    data = work / "smoke/data/memory"
    words = layout.read_vocab(data / layout.VOCAB_FILE, "test")[0]
    with h5py.File(data / layout.captions_file("train")) as f:
        first = decode_captions(f["train_captions"][:5], words, plain=True)
    assert all(" , from left to right : " in c for c in first), first

    runs = work / "smoke/runs/memory/smoke-memory"
    pick = json.loads((runs / "selection/rnn.json").read_text())["point"]
    assert pick in ("rnn-h32", "rnn-h48")
    assert (runs / pick / "seed1/model.npz").is_file()  # the checkpoint's pick trained its confirmation seed
    summary = (work / "smoke/results/memory/smoke-memory/summary.md").read_text()
    # either side may win val on the smoke data: the headline compares the two, the better first
    lines = (f"* LSTM vs RNN: `lstm` minus `{pick}` (the best RNN by val)", f"* RNN vs LSTM: `{pick}` minus `lstm`")
    assert any(f"{line}" in summary for line in lines), summary
    assert "2 vs 2 seeds: Δ BLEU-4" in summary

    client = MlflowClient(f"sqlite:///{work / 'smoke/mlflow.db'}")
    exp = client.get_experiment_by_name("smoke-memory-memory")
    seeds = client.search_runs([exp.experiment_id], filter_string="tags.`captioning.role` = 'seed'")
    assert sorted((r.data.tags["experiment"], r.data.params["seed"]) for r in seeds) == sorted(
        [("rnn-h32", "0"), ("rnn-h48", "0"), (pick, "1"), ("lstm", "0"), ("lstm", "1")]
    )
    assert all(r.info.status == "FINISHED" for r in seeds)
    again = snakemake(work, "-n", "--config", "memory_benchmark=config/sweep_memory_smoke.yaml")
    assert "Nothing to be done" in again.stdout


def test_the_memory_module_runs_the_same_rules_where_snakemake_runs():
    """A module's localrules keep their own names: the Snakefile names the memory benchmark's, the same ones."""
    import re

    from project import ROOT

    sweep = (ROOT / "workflow/sweep.smk").read_text()
    names = re.findall(r"\w+", re.search(r"^localrules:\n((?: {4}\w+,\n)+)", sweep, re.M)[1])
    snakefile = (ROOT / "Snakefile").read_text()
    memory = re.search(r" {4}localrules:\n((?: {8}memory_\w+,\n)+)", snakefile)[1]
    assert names and re.findall(r"memory_(\w+)", memory) == names
