"""A temporary copy of the project's workflow, and Snakemake run in it as a user would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ("Snakefile", "config", "workflow", "profiles")


def copy_project(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / name)
    return dest


def clean_env(**extra) -> dict:
    """The environment without tracking or cluster settings from outside the test, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI" and not k.startswith("CAPTIONING_")}
    env.update(extra)
    return env


def snakemake(workdir, *args, env=None, check=True, timeout=900, cores=2):
    """``snakemake [--cores N] --configfile config/smoke.yaml ARGS`` in ``workdir``."""
    cmd = [sys.executable, "-m", "snakemake", *(["--cores", str(cores)] if cores else [])]
    cmd += ["--configfile", "config/smoke.yaml"]
    res = subprocess.run(
        [*cmd, *args], cwd=workdir, env=env or clean_env(), capture_output=True, text=True, timeout=timeout
    )
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
