"""Checks before any job runs (the Snakefile's ``onstart``): fail in seconds, in one line, not after a queue wait.

* Tracking: the server in force is reachable and the experiment exists (created
  once here, upstream of every job; jobs then find it by name).
* SLURM: every distinct request the cluster will see (partition, account, CPUs,
  memory, wall time) is tried with ``sbatch --test-only``, which submits nothing.
  A request no node can meet would otherwise sit in the queue for ever (reason
  ``PartitionConfig``) while Snakemake waits without a word.
"""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass

from ..errors import CaptioningError
from .lineage import parent_run
from .tracking import Tracking, check_writable, client_for


class SlurmRequestError(CaptioningError):
    """The cluster refuses a job request: the message names the rule and the setting to change."""


@dataclass(frozen=True)
class SlurmRequest:
    """What one rule's jobs ask SLURM for (the slurm executor plugin's resources)."""

    rule: str
    cpus: int
    mem_mb: int | None
    runtime: int | None  # minutes
    partition: str | None
    account: str | None

    def test_command(self) -> list[str]:
        cmd = ["sbatch", "--test-only", "--ntasks=1", f"--cpus-per-task={self.cpus}"]
        cmd += [f"--mem={self.mem_mb}"] if self.mem_mb else []
        cmd += [f"--time={self.runtime}"] if self.runtime else []
        cmd += [f"--partition={self.partition}"] if self.partition else []
        cmd += [f"--account={self.account}"] if self.account else []
        return [*cmd, "--wrap=true"]


def start_tracking(settings: dict, experiments=()) -> str:
    """Create the store, the experiment of the config's ``mlflow`` section and a parent run per
    experiment of the sweep at the server in force, once, before any job."""
    where = Tracking.in_force(settings, wait=0)  # fail at once: nothing has started yet
    client = client_for(where.uri)
    check_writable(client, where.uri, where.experiment_name, where.experiment_id)
    for exp in experiments:
        parent_run(client, where.experiment_id, exp)
    return (
        f"MLflow: experiment '{where.experiment_name}' (id {where.experiment_id}) at {where.uri}, "
        f"{len(experiments)} parent runs"
    )


# The profile's settings, read from the environment (profiles/slurm/config.yaml).
PROFILE_VARIABLES = {"partition": "CAPTIONING_SLURM_PARTITION", "account": "CAPTIONING_SLURM_ACCOUNT"}
PROFILE_HINTS = {
    "partition": "the partition to run in (`sinfo -s` lists them)",
    "account": "your SLURM account, or as an empty string on a cluster without accounting",
}


def check_slurm_requests(requests, timeout: float = 30.0) -> str:
    """Try each distinct request with ``sbatch --test-only``; raise :class:`SlurmRequestError` on the first refusal."""
    distinct = {}
    for r in sorted(requests, key=lambda r: r.rule):
        for field, variable in PROFILE_VARIABLES.items():
            if str(getattr(r, field) or "").startswith(f"${variable}"):
                raise SlurmRequestError(f"profiles/slurm: {variable} is not set; export it as {PROFILE_HINTS[field]}")
        distinct.setdefault((r.cpus, r.mem_mb, r.runtime, r.partition, r.account), r)
    for r in distinct.values():
        cmd = r.test_command()
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except FileNotFoundError:
            raise SlurmRequestError("sbatch not found: run the SLURM profile on a host with the SLURM client") from None
        except subprocess.TimeoutExpired:
            raise SlurmRequestError(f"`{shlex.join(cmd)}` got no answer in {timeout:.0f} s: is slurmctld up?") from None
        if res.returncode:
            said = " ".join(line.removeprefix("sbatch: error: ") for line in res.stderr.strip().splitlines()[-2:])
            raise SlurmRequestError(
                f"SLURM refuses rule {r.rule}'s jobs ({said}); `{shlex.join(cmd)}` failed. Check "
                f"{' and '.join(PROFILE_VARIABLES.values())} (profiles/slurm), or lower the rule's threads "
                "(config threads.*) or memory (--set-resources)"
            )
    return f"SLURM: {len(distinct)} distinct job requests accepted by sbatch --test-only"
