"""Where a run sits in MLflow: its experiment's parent run, the runs it supersedes, its source and its data.

* Each experiment of the sweep has a **parent run** (tag ``captioning.role=experiment``)
  per training configuration; its seeds are children (``mlflow.parentRunId``), so
  the UI compares experiments directly. Parents are created once, upstream (the
  workflow's ``onstart``), and are FINISHED from the start: the aggregates of
  their seeds are added later without changing that.
* A run **superseded** by a new run of the same experiment and seed (or a parent
  by a changed configuration) gets the tag ``captioning.superseded_by`` and is moved
  to MLflow's *Deleted* state, so the default view shows one current run per
  experiment and seed. ``mlflow runs restore --run-id <id>`` brings one back
  (and ``mlflow gc`` would purge them for good).
* **Standard tags** (``mlflow.source.*``, ``mlflow.user``), which only MLflow's fluent
  API sets by itself, and the **dataset** as a run input (name, content digest, source).
"""

from __future__ import annotations

import getpass

from .experiment import Experiment
from .mlflow_compat import dataset_input, has_error_code
from .tracking import git_commit

ROLE = "captioning.role"  # "experiment" (a parent) or "seed"
CONFIG = "captioning.config"  # a parent's training-configuration id
SUPERSEDED_BY = "captioning.superseded_by"
REPLACES = "captioning.replaces"  # a seed run's: the runs of its experiment and seed it superseded, comma-separated
PARENT = "mlflow.parentRunId"
SOURCE = "workflow/scripts/train.py"  # what produced the runs, for mlflow.source.name


def standard_tags(source: str = SOURCE) -> dict:
    """The tags MLflow's UI reads for the Source and User columns."""
    return {
        "mlflow.source.name": source,
        "mlflow.source.type": "JOB",
        "mlflow.source.git.commit": git_commit(),
        "mlflow.user": getpass.getuser(),
    }


def _filter(tags: dict) -> str:
    return " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())


def find_runs(client, experiment_id: str, tags: dict) -> list:
    """Active runs of the experiment carrying all ``tags``, newest first."""
    return client.search_runs(
        [experiment_id], filter_string=_filter(tags), order_by=["attributes.start_time DESC"], max_results=1000
    )


def supersede(client, experiment_id: str, current: str, tags: dict) -> list[str]:
    """Mark every other active run carrying ``tags`` as superseded by ``current`` and move it to Deleted."""
    old = [r.info.run_id for r in find_runs(client, experiment_id, tags) if r.info.run_id != current]
    for run_id in old:
        client.set_tag(run_id, SUPERSEDED_BY, current)
        client.delete_run(run_id)
    return old


def parent_run(client, experiment_id: str, exp: Experiment) -> str:
    """The id of ``exp``'s parent run for its current training configuration, created if missing."""
    config = exp.config_id()
    mine = {ROLE: "experiment", "experiment": exp.name}
    found = find_runs(client, experiment_id, {**mine, CONFIG: config})
    if found:
        return found[0].info.run_id
    tags = {**mine, CONFIG: config, "group": exp.group, "cell_type": exp.cell_type, **standard_tags()}
    run = client.create_run(experiment_id, run_name=exp.name, tags=tags)
    from mlflow.entities import Param

    params = {**exp.training_config(), "group": exp.group, "seeds": ",".join(map(str, exp.seeds))}
    client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in params.items()])
    client.set_terminated(run.info.run_id, "FINISHED")
    supersede(client, experiment_id, run.info.run_id, mine)
    return run.info.run_id


def log_dataset(client, run_id: str, name: str, digest: str, source: str, context: str) -> None:
    """Record the data a run used as its input: ``name``, content ``digest`` and ``source`` (a path or URL)."""
    inputs = [dataset_input(name, digest, source, context)]
    try:
        client.log_inputs(run_id, datasets=inputs)
    except Exception as err:
        # Jobs starting together race to create the experiment's one row for this dataset, and
        # MLflow's check-then-insert lets the loser fail on the store's unique key, which it
        # reports as BAD_REQUEST; the row exists now, so the second attempt only links it to the
        # run (a request that is bad for another reason fails again, and raises).
        if not has_error_code(err, "BAD_REQUEST"):
            raise
        client.log_inputs(run_id, datasets=inputs)
