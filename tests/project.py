"""A temporary copy of the project, and Snakemake run in it as a user would.

A copy is a clone: its workflow and its own ``captioning`` package, which its jobs import
(``PYTHONPATH``, as an editable install of a clone would), so a test may edit the copy's code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
PROJECT_FILES = ("Snakefile", "config", "workflow", "profiles", "captioning")


def copy_project(dest: Path) -> Path:
    """The project's files into ``dest``, modification times kept (Numba's kernel cache stays valid)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dest / name)
    if (ROOT / ".git").is_dir():  # a clone's commit, for the runs' git_commit param (git reads a .git file)
        (dest / ".git").write_text(f"gitdir: {ROOT / '.git'}\n")
    return dest


def clean_env(work=None, **extra) -> dict:
    """The environment without tracking or cluster settings from outside the test, plus ``extra``; with
    ``work``, the project copy whose ``captioning`` package its Python processes import."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI" and not k.startswith("CAPTIONING_")}
    if work is not None:
        env["PYTHONPATH"] = str(work)
    env.update(extra)
    return env


def snakemake(workdir, *args, env=None, check=True, timeout=900, cores=2):
    """``snakemake [--cores N] --configfile config/smoke.yaml ARGS`` in ``workdir``, importing its package."""
    cmd = [sys.executable, "-m", "snakemake", *(["--cores", str(cores)] if cores else [])]
    cmd += ["--configfile=config/smoke.yaml"]  # one value: a target may follow
    env = {**(env or clean_env()), "PYTHONPATH": str(workdir)}
    res = subprocess.run([*cmd, *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)
    if check and res.returncode:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    return res


def copy_run(src: Path, dest: Path) -> Path:
    """A copy of a project the workflow ran in, as independent of it as a second clone would be.

    The MLflow store and the JSON records hold absolute paths (the store's URI, its
    artifact locations): they are moved to the copy.  Modification times are kept,
    so Snakemake sees the copy exactly as up to date as the original.
    """
    import sqlite3

    shutil.copytree(src, dest, symlinks=True)
    old, new = str(src), str(dest)
    for path in dest.rglob("*.json"):
        text = path.read_text()
        if old in text:
            stat = path.stat()
            path.write_text(text.replace(old, new))
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    for store in [dest / "mlflow.db", dest / "smoke/mlflow.db"]:
        if not store.exists():
            continue
        with sqlite3.connect(store) as db:
            for (table,) in db.execute("select name from sqlite_master where type = 'table'").fetchall():
                for column in db.execute(f"pragma table_info('{table}')").fetchall():
                    if "CHAR" in column[2].upper() or "TEXT" in column[2].upper():
                        db.execute(f'update "{table}" set "{column[1]}" = replace("{column[1]}", ?, ?)', (old, new))
    return dest


def copy_data(src: Path, dest: Path) -> Path:
    """A fresh copy of the project with only ``src``'s smoke data directory (mtimes kept: up to date)."""
    copy_project(dest)
    shutil.copytree(src / "smoke/data", dest / "smoke/data")
    return dest


def smoke_data(work: Path) -> None:
    """The smoke config's dataset and PCA features, and nothing else, in a fresh copy of the project."""
    copy_project(work)
    snakemake(work, "pca")


def once(tmp_path_factory, worker_id: str, name: str, build) -> Path:
    """``build(directory)`` once per test session, whichever pytest-xdist worker asks first; the directory.

    The workers share the session's base temporary directory; a file lock makes the others wait
    for the first, and a failed build fails every worker that asks with the first one's error.
    """
    from filelock import FileLock

    if worker_id == "master":  # no xdist: this process is the session
        root = tmp_path_factory.getbasetemp()
    else:
        root = tmp_path_factory.getbasetemp().parent
    out, done, failed = root / name, root / f"{name}.done", root / f"{name}.failed"
    with FileLock(root / f"{name}.lock"):
        if failed.exists():
            raise AssertionError(f"{name}, built once for the session, failed:\n{failed.read_text()}")
        if not done.exists():
            try:
                build(out)
            except BaseException:
                failed.write_text(traceback.format_exc()[-5000:])
                raise
            done.touch()
    return out


def claim(tmp_path_factory, worker_id: str, group: str) -> None:
    """Record that this pytest-xdist worker runs the tests of ``group``; fail if another one already does."""
    from filelock import FileLock

    if worker_id == "master":
        return
    root = tmp_path_factory.getbasetemp().parent
    owner = root / f"{group}.worker"
    with FileLock(root / f"{group}.worker.lock"):
        if owner.exists() and owner.read_text() != worker_id:
            raise RuntimeError(
                f"the {group!r} tests run on workers {owner.read_text()} and {worker_id}: pytest-xdist's "
                "--dist loadgroup did not keep the xdist_group together (pytest-xdist#1386: pytest 9.2 breaks it)"
            )
        owner.write_text(worker_id)


class SmokeRun(NamedTuple):
    """The session's smoke workflow run: its project directory and the seconds it took."""

    work: Path
    seconds: float

    @classmethod
    def read(cls, work: Path) -> SmokeRun:
        return cls(work, json.loads((work / ".smoke-run.json").read_text())["seconds"])


def smoke_run(work: Path) -> None:
    """The smoke workflow from scratch in a fresh copy of the project (:func:`once`'s ``build``); each job's
    script stays in .snakemake/scripts/ (tests/test_dag.py runs them again)."""
    copy_project(work)
    start = time.perf_counter()
    snakemake(work, "--skip-script-cleanup")
    (work / ".smoke-run.json").write_text(json.dumps({"seconds": time.perf_counter() - start}))
