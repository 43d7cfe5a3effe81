"""The DAG knows what each job depends on: the code it runs, and every file it opens.

Edits land in a copy of the smoke run whose jobs import the copy's own ``captioning``
(tests/project.py), so the repository's code is never touched.
"""

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from project import ROOT, clean_env, snakemake

STEPS = {
    "synthetic_data", "pca", "gradcheck", "human_ceiling", "train", "score", "meteor", "figures", "collect", "register"
}  # fmt: skip


def planned(work) -> dict[str, int]:
    """{rule: jobs} that plain `snakemake` would run now (its dry run's job stats)."""
    out = snakemake(work, "-n").stdout
    if "Nothing to be done" in out:
        return {}
    rows = out.split("Job stats:")[1].split("total")[0].splitlines()[3:]
    return {rule: int(n) for rule, n in (row.split() for row in rows if row.strip()) if rule != "all"}


def edit(path: Path) -> None:
    """An edit a user makes: a line added at the end."""
    path.write_text(path.read_text() + "\n# edited\n")


def checkpoints(work) -> dict[str, str]:
    runs = work / "smoke/runs/synthetic/smoke"
    return {str(p.relative_to(runs)): hashlib.sha256(p.read_bytes()).hexdigest() for p in runs.rglob("model.npz")}


def trained(res) -> list[str]:
    """exp-seed of every training job a snakemake run started."""
    blocks = (res.stdout + res.stderr).split("rule train:")[1:]
    return sorted({f"{b.split('exp=')[1].split(',')[0]}-{b.split('seed=')[1].split()[0]}" for b in blocks})


ONE_PERCENT = ("df[j] = dct * cp[j] * f * (one - f)", "df[j] = dct * cp[j] * f * (one - f) * 1.01")


def test_a_one_percent_error_in_the_lstm_backward_stops_the_gate_and_reverting_it_retrains(smoke_copy):
    """(a) the forget gate's backward off by 1%: plain `snakemake` fails at the gate, shows its table, starts no
    training and leaves every checkpoint as it was; (b) reverted: the gate passes and the trainings that ran
    the edited kernels train again, to the same parameters."""
    work = smoke_copy
    sweep_path = work / "config/sweep_smoke.yaml"  # one training is enough to see it retrain: lstm seed 0
    sweep = yaml.safe_load(sweep_path.read_text())
    sweep["experiments"] = {"lstm": dict(sweep["experiments"]["lstm"], seeds=[0])}
    sweep_path.write_text(yaml.safe_dump(sweep))
    assert "train" not in planned(work)  # its settings are those it trained with
    snakemake(work)  # the results of the one-run sweep
    kernels = work / "captioning/kernels/elementwise.py"
    source = kernels.read_text()
    assert source.count(ONE_PERCENT[0]) == 1
    before = checkpoints(work)
    kernels.write_text(source.replace(*ONE_PERCENT))
    assert "gradcheck" in planned(work)
    res = snakemake(work, check=False)
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert "gradcheck: gradient check failed for lstm_step, lstm, CaptioningRNN[lstm]" in out
    assert [line.split()[-1] for line in out.splitlines() if line.startswith("lstm_step ")][0] == "FAILED"
    assert "rule train:" not in out and "rule score:" not in out  # nothing that runs the math starts
    assert checkpoints(work) == before
    assert not (
        work / "smoke/results/synthetic/smoke/gradcheck.tsv"
    ).exists()  # no passing table stands for the wrong math

    kernels.write_text(source)  # reverted: a newer file with the original math
    res = snakemake(work)
    assert (work / "smoke/results/synthetic/smoke/gradcheck.tsv").read_text().count("\tok") == 10
    assert trained(res) == ["lstm-0"]  # it ran the edited kernels
    assert checkpoints(work) == before  # bitwise the same parameters: the math is the original one
    assert planned(work) == {}


@pytest.mark.parametrize(
    ("edited", "reruns"),
    [
        ("captioning/metrics.py", {  # (c)
            "human_ceiling": 1, "score": 7, "meteor": 1, "figures": 7, "collect": 1, "register": 1,
        }),
        ("captioning/pipeline/report.py", {"collect": 1, "register": 1}),
        ("captioning/pipeline/meteor.py", {"meteor": 1, "collect": 1, "register": 1}),
        ("captioning/pipeline/plots.py", {"figures": 7, "collect": 1, "register": 1}),
        ("captioning/solver.py", {"train": 7, "score": 7, "meteor": 1, "figures": 7, "collect": 1, "register": 1}),
        ("captioning/model.py", {
            "gradcheck": 1, "train": 7, "score": 7, "meteor": 1, "figures": 7, "collect": 1, "register": 1,
        }),
        ("captioning/data/synthetic.py", {
            "synthetic_data": 1, "pca": 1, "human_ceiling": 1, "train": 7, "score": 7, "meteor": 1, "figures": 7,
            "collect": 1, "register": 1,
        }),
        ("captioning/pipeline/tracking.py", {}),  # where results are logged, not what they are
        ("README.md", {}),  # (d)
        ("docs/workflow.md", {}),
        ("tests/test_dag.py", {}),
    ],
)  # fmt: skip
def test_an_edit_reruns_exactly_the_jobs_that_run_the_edited_file(smoke_copy, edited, reruns):
    work = smoke_copy
    path = work / edited
    if not path.exists():  # the pages and tests: in a clone, not in the smoke run's copy of the workflow
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / edited, path)
        assert planned(work) == {}
    edit(path)
    assert planned(work) == reruns


def test_snakemake_touch_marks_a_cosmetic_edit_as_done(smoke_copy):
    """docs/workflow.md's way to say an edit changed nothing: `snakemake --touch`."""
    work = smoke_copy
    edit(work / "captioning/ngrams.py")
    assert planned(work)["train"] == 7
    snakemake(work, "--touch")
    assert planned(work) == {}


MLFLOW_STORE = ("smoke/mlflow.db", "smoke/mlartifacts/")  # config/smoke.yaml's tracking store
AUDIT = r"""
import json, os, runpy, sys

opened = []


def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        opened.append(os.path.abspath(os.fsdecode(args[0])))


sys.addaudithook(hook)
import h5py  # HDF5 opens its files in C, below the audit hook

_init = h5py.File.__init__


def init(self, name, *args, **kwargs):
    if isinstance(name, (str, bytes, os.PathLike)):
        opened.append(os.path.abspath(os.fsdecode(name)))
    _init(self, name, *args, **kwargs)


h5py.File.__init__ = init
job = runpy.run_path(sys.argv[1])["snakemake"]
declared = {k: [os.path.abspath(p) for p in getattr(job, k)] for k in ("input", "output", "log")}
json.dump({"rule": job.rule, **declared, "opened": opened}, open(sys.argv[2], "w"))
"""


def test_every_file_a_job_opens_is_declared(smoke, tmp_path):
    """Each step's job, as Snakemake ran it in the smoke run (its script, kept with --skip-script-cleanup), runs
    again under an audit hook in a copy of the run; every file it opens in the project is one of the rule's
    inputs, outputs or log (or the temporary file an output is written through). Imported code, Snakemake's
    own files and the MLflow store are not workflow files."""
    from project import copy_run

    work = copy_run(smoke.work, tmp_path / "project")
    scripts = {}
    for script in sorted((work / ".snakemake/scripts").glob("tmp*.py")):
        scripts.setdefault(script.name.split(".")[-2], script)  # tmpXXXX.<rule's script>.py: one job per step
    assert STEPS <= set(scripts), sorted(scripts)
    (tmp_path / "audit.py").write_text(AUDIT)
    undeclared = {}
    for name, script in sorted(scripts.items()):
        report = tmp_path / f"{name}.json"
        res = subprocess.run(
            [sys.executable, str(tmp_path / "audit.py"), str(script), str(report)],
            cwd=work,
            env=clean_env(work),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert res.returncode == 0, f"{name}: {res.stderr[-2000:]}"
        job = json.loads(report.read_text())
        declared = set(job["input"]) | set(job["output"]) | set(job["log"])
        written_through = {str(Path(p).parent / f".{Path(p).name}.") for p in job["output"]}
        for path in set(job["opened"]):
            rel = Path(path).relative_to(work) if Path(path).is_relative_to(work) else None
            if rel is None or rel.parts[0] in (".snakemake", "captioning") or str(rel).startswith(MLFLOW_STORE):
                continue  # outside the project, Snakemake's, imported code, the MLflow store
            if path in declared or any(path.startswith(prefix) for prefix in written_through):
                continue
            if not Path(path).exists():
                continue  # a temporary file, or a name relative to a directory descriptor (shutil's copytree)
            undeclared.setdefault(job["rule"], []).append(str(rel))
        assert job["opened"], name  # the hook saw the job's files
    assert undeclared == {}, undeclared
