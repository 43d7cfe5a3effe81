"""The Snakemake internals the workflow relies on, behind one function each (``tests/test_compat.py`` checks them).

Snakemake's public API has no call for these, so an upgrade that moves them
breaks here and in that test, in one place:

* :func:`executor_name`: which executor runs the jobs (``workflow.executor_plugin``);
* :func:`pending_jobs`: the jobs this invocation will run (``workflow.dag.needrun_jobs()``).

Both are meant for the Snakefile's ``onstart`` handler, where ``workflow`` is in scope.
"""

from __future__ import annotations

from dataclasses import dataclass

RESOURCES = ("mem_mb", "runtime", "slurm_partition", "slurm_account")  # what a job's request names


@dataclass(frozen=True)
class PendingJob:
    rule: str
    threads: int
    resources: dict  # RESOURCES -> value or None
    local: bool  # runs where snakemake runs (localrules), never on the cluster


def executor_name(workflow) -> str | None:
    """'local', 'slurm', ... (None before an executor is chosen)."""
    plugin = workflow.executor_plugin
    return None if plugin is None else plugin.name


def pending_jobs(workflow) -> list[PendingJob]:
    """The jobs this invocation will run, with their threads and resource requests."""
    return [
        PendingJob(job.rule.name, job.threads, {k: job.resources.get(k) for k in RESOURCES}, job.is_local)
        for job in workflow.dag.needrun_jobs()
    ]
