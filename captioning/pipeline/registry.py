"""The register step: seed aggregates on each experiment's parent run, each run's figures and METEOR, and the
model registry's aliases.

* Each experiment's parent run gets the test scores over its seeds (mean, std over
  seeds, 95% interval over the seeds and test images), its val selection score, and
  its paired comparisons with their power (tagged with the experiment each compares with).
* Each experiment's best seed by val is a version of the registered model
  ``<mlflow experiment>-<experiment>`` with the alias ``best``; the sweep's best
  experiment by val is a version of ``<mlflow experiment>`` with the alias
  ``champion``.  A rerun moves the aliases and reuses the version a run already
  has, so versions never pile up.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd

from ..atomic import write_text
from ..data.layout import TEST_SPLIT
from ..meteor import METEOR, meteor_from_sums
from ..metrics import METRIC_NAMES
from .mlflow_compat import has_error_code, tracking_uri
from .records import DECODERS, MeteorScores, RunRecord, Scores
from .selection import Selection
from .tables import COMPARED, COMPARISONS
from .tracking import Tracking, client_for

BEST, CHAMPION = "best", "champion"
COMPARISON_STATS = ("", "_lo", "_hi", "_p", "_mde", "_seeds_needed")


def aggregates(row: pd.Series) -> dict:
    """A summary.csv row as parent-run metrics: test_<decoder>_<metric>[_std|_lo|_hi], val_<metric>, seeds, and
    its comparisons vs_<best|blind|init>_<metric>[_lo|_hi|_p|_mde|_seeds_needed] (finite values only: an
    unreachable seed count, ∞, is left out)."""
    out = {f"val_{row['select_metric']}": row["val_select"], "seeds": row["seeds"]}
    for d in DECODERS:
        for m in METRIC_NAMES:
            for suffix in ("", "_std", "_lo", "_hi"):
                key = f"{d}_{m}{suffix}"
                if key in row and not pd.isna(row[key]):
                    out[f"test_{key}"] = float(row[key])
    for name in COMPARISONS:
        for m in COMPARED:
            for suffix in COMPARISON_STATS:
                key = f"vs_{name}_{m}{suffix}"
                if key in row and np.isfinite(row[key]):
                    out[key] = float(row[key])
    return out


def comparison_tags(row: pd.Series) -> dict:
    """{captioning.vs_<name>: the experiment a parent run's vs_<name>_ metrics compare it with}."""
    against = {"best": row.get("vs_best"), "blind": row.get("vs_blind"), "init": row.get("init_from")}
    return {f"captioning.vs_{k}": v for k, v in against.items() if isinstance(v, str) and v}


def _log_changed(client, run_id: str, metrics: dict, step: int) -> None:
    """Log only what differs from the run's latest values: a rerun with nothing new logs nothing."""
    from mlflow.entities import Metric

    have = client.get_run(run_id).data.metrics
    now = int(time.time() * 1000)
    new = [Metric(k, float(v), now, step) for k, v in metrics.items() if have.get(k) != float(v)]
    if new:
        client.log_batch(run_id, metrics=new)


def register_version(client, name: str, record: RunRecord, model_uri: str, alias: str, description: str) -> str:
    """The version of ``name`` holding ``record``'s model ``model_uri`` (created once), with ``alias`` moved to it."""
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name, description=description)
    except MlflowException as err:
        if not has_error_code(err, "RESOURCE_ALREADY_EXISTS"):  # another job created it first
            raise
    existing = [
        v
        for v in client.search_model_versions(f"name = '{name}' and run_id = '{record.run_id}'")
        if v.source == model_uri  # a rescored run (new decoding settings) has a new model
    ]
    if existing:
        version = max(existing, key=lambda v: int(v.version))
    else:
        with tracking_uri(client.tracking_uri):  # MLflow resolves a models:/ source through the global URI
            version = client.create_model_version(
                name,
                source=model_uri,
                run_id=record.run_id,
                model_id=model_uri.removeprefix("models:/"),
                tags={"experiment": record.experiment, "seed": str(record.seed)},
            )
    client.set_registered_model_alias(name, alias, version.version)
    return str(version.version)


def run_meteor(meteor: MeteorScores, experiment: str, seed: int) -> dict:
    """A run's METEOR as its MLflow metrics, ``final/test_<decoder>_METEOR`` (unknown without Java: none)."""
    out = {}
    for decoder, rows in meteor.runs[(experiment, seed)].items():
        value = float(meteor_from_sums(rows.sum(axis=0)))
        if np.isfinite(value):
            out[f"final/{TEST_SPLIT}_{meteor.labels[(experiment, seed)][decoder]}_{METEOR}"] = value
    return out


def register_sweep(
    summary_csv, runs_csv, run_files, score_files, figure_files, meteor_file, tracking: dict, out_json
) -> str:
    """Aggregates to the parent runs; to each run, its figures and METEOR (``meteor_file``, the meteor step's);
    ``best`` per experiment and the sweep's ``champion``; a record in ``out_json``. ``figure_files``: each
    run's (loss.png, grid.png), in ``run_files``' order.

    Only runs on the tracking server in force are registered there (a run trained on another
    server stays where it is, and the record says so).
    """
    where = Tracking.in_force(tracking)
    client = client_for(where.uri)
    table, runs = pd.read_csv(summary_csv), pd.read_csv(runs_csv)
    meteor = MeteorScores.read(meteor_file)
    records = {}
    for run_file, (loss_png, grid_png) in zip(run_files, figure_files, strict=True):
        record = RunRecord.read(run_file)  # where the run lives
        records[(record.experiment, record.seed)] = record
        if record.tracking_uri == where.uri:  # its figures, drawn by the figures step, and its METEOR
            client.log_artifact(record.run_id, str(loss_png))
            client.log_artifact(record.run_id, str(grid_png), "samples")
            _log_changed(client, record.run_id, run_meteor(meteor, record.experiment, record.seed), step=0)
    models = {}
    for score_file in score_files:
        scores = Scores.read(score_file)  # the model its scoring logged
        models[(scores.experiment, scores.seed)] = scores.model_uri
    out: dict = {"tracking_uri": where.uri, "experiment": where.experiment_name, "models": {}, "elsewhere": []}
    best_seed = {}
    for _, row in table.iterrows():
        exp = row["experiment"]
        seeds = runs[runs["experiment"] == exp]
        mine = {int(s): records[(exp, int(s))] for s in seeds["seed"]}
        elsewhere = {s for s, r in mine.items() if r.tracking_uri != where.uri}
        out["elsewhere"] += [f"{exp} seed {s}" for s in sorted(elsewhere)]
        for parent in {r.parent_run_id for s, r in mine.items() if s not in elsewhere}:
            _log_changed(client, parent, aggregates(row), step=0)  # single values, not a curve over seeds
            tags = client.get_run(parent).data.tags
            for key, value in comparison_tags(row).items():
                if tags.get(key) != value:
                    client.set_tag(parent, key, value)
            child = client.get_run(next(r.run_id for s, r in mine.items() if s not in elsewhere))
            client.log_inputs(parent, datasets=child.inputs.dataset_inputs)  # the data its seeds used
        seed = int(seeds.loc[seeds["val_select"].idxmax(), "seed"])
        if seed in elsewhere:
            continue
        best_seed[exp] = (mine[seed], models[(exp, seed)])
        name = f"{where.experiment_name}-{exp}"
        version = register_version(client, name, *best_seed[exp], BEST, f"{exp}: its best seed by val")
        out["models"][exp] = {"model": name, "version": version, "alias": BEST, "seed": seed}
    champ = Selection.by_val(runs).champion
    if champ in best_seed:  # the sweep's best by val, when its run lives on this server
        name = where.experiment_name
        version = register_version(client, name, *best_seed[champ], CHAMPION, "the sweep's best experiment by val")
        out["champion"] = {"model": name, "version": version, "alias": CHAMPION, "experiment": champ}
    write_text(out_json, json.dumps(out, indent=2))
    champion = out.get("champion") or {}
    return (
        f"registered {len(out['models'])} experiments' best runs in {where.experiment_name}; "
        f"champion: {champion.get('experiment', 'none')} (models:/{champion.get('model', '-')}@{CHAMPION})"
    )
