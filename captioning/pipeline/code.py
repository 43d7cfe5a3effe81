"""The code a workflow step runs, as files: Snakemake watches them like any other input.

A step's code is its module and every module of this package that it imports,
directly or through other modules (``import`` statements anywhere in a module,
inside functions too), found by reading the sources, not by importing them.
Editing one of those files makes the step's outputs stale, and ``snakemake``
reruns the step and what depends on it; editing any other file reruns nothing.

Two kinds of import do not count:

* a package's ``__init__.py`` counts only where a name is taken from it (``from
  captioning import X``); importing ``captioning.pipeline.train`` runs
  ``captioning/__init__.py`` too, but only to re-export the notebook's names;
* the modules of :data:`INFRASTRUCTURE` decide how a step reports, fails, writes
  its files atomically or talks to MLflow, never what it computes: an edit of
  them reruns nothing, as a change of tracking server retrains nothing.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = "captioning"
PACKAGE_DIR = Path(__file__).resolve().parents[1]

INFRASTRUCTURE = frozenset(
    {
        "captioning.errors",  # the exceptions and their one-line messages
        "captioning.atomic",  # writing a file under a temporary name, then renaming it
        "captioning._validate",  # argument checks: a wrong argument fails, a right one computes the same
        "captioning.threads",  # thread limits of a job's process
        "captioning.pipeline.jobs",  # the job runner: log file, signals, one-line errors
        "captioning.pipeline.tracking",  # the MLflow client, its retries and the tracking server in force
        "captioning.pipeline.lineage",  # MLflow tags, parent runs, datasets
        "captioning.pipeline.mlflow_compat",  # MLflow's private API
        "captioning.pipeline.preflight",  # checks before the first job
        "captioning.pipeline.snakemake_compat",  # Snakemake's private API
        "captioning.pipeline.server",  # the tracking-server launcher
    }
)


def module_file(module: str) -> Path | None:
    """The source file of ``module`` (a package's ``__init__.py``), or None if it is not in this package."""
    if module != PACKAGE and not module.startswith(PACKAGE + "."):
        return None
    path = PACKAGE_DIR.parent.joinpath(*module.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return path.with_suffix(".py") if path.with_suffix(".py").is_file() else None


def _absolute(module: str, node: ast.ImportFrom) -> str:
    """The module an ``from ... import`` statement of ``module`` names, its dots resolved."""
    if not node.level:
        return node.module
    is_package = module_file(module).name == "__init__.py"
    parts = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
    return ".".join(parts + ([node.module] if node.module else []))


@functools.cache
def imports(module: str) -> frozenset[str]:
    """The modules of this package that ``module``'s source imports, anywhere in it."""
    tree = ast.parse(module_file(module).read_text(), filename=str(module_file(module)))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, node)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if module_file(sub) is not None else base)  # a submodule, or a name of base
    return frozenset(m for m in found if module_file(m) is not None)


def source_files(module: str) -> list[Path]:
    """The files of ``module`` and of everything of this package it imports, :data:`INFRASTRUCTURE` aside."""
    if module_file(module) is None:
        raise ValueError(f"source_files: {module!r} is not a module of the {PACKAGE} package")
    seen, todo = set(), [module]
    while todo:
        m = todo.pop()
        if m in seen or m in INFRASTRUCTURE:
            continue
        seen.add(m)
        todo.extend(imports(m))
    return sorted(module_file(m) for m in seen)
