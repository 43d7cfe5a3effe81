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
