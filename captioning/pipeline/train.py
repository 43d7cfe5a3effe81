"""The train step: one experiment and seed -> checkpoint, history, MLflow run (its loss curve is drawn by collect).

:func:`train_run` builds the run (data, model, solver, MLflow run), trains,
writes the step's files and logs them; each part is a function of its own.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from ..checkpoint import CheckpointError, TrainingCheckpoint, load_model
from ..data.dataset import Dataset, open_dataset
from ..model import CaptioningRNN
from ..provenance import numerics
from ..scst import ScstConfig, ScstSolver
from ..solver import CaptioningSolver
from .experiment import Experiment, blind
from .lineage import PARENT, REPLACES, ROLE, log_dataset, parent_run, standard_tags, supersede
from .records import History, RecordError, ResumeState, RunRecord
from .tracking import MlflowRun, Tracking, client_for, git_commit

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.npz"  # in the run's .resume/ directory while it trains
INIT_RUN = "captioning.init_run_id"  # a self-critical run's tag: the run whose checkpoint it started from


def _resume_point(resume_dir: Path, fingerprint: str, tracking: Tracking):
    """(loaded checkpoint or None, MLflow run id or None) left by an interrupted run of this configuration.

    The run is reused only where it lives: on the tracking server in force now.
    """
    ckpt, meta = resume_dir / CHECKPOINT, resume_dir / ResumeState.FILE
    if not meta.exists():
        return None, None
    try:
        state = ResumeState.read(meta)
    except RecordError as err:
        log.info(f"ignoring {err}")
        return None, None
    if state.fingerprint != fingerprint:
        log.info(f"ignoring {resume_dir}: it belongs to a different configuration")
        return None, None
    run_id = state.run_id if state.tracking_uri == tracking.uri else None
    if not ckpt.exists():
        return None, run_id
    try:
        checkpoint = TrainingCheckpoint.load(ckpt)
    except CheckpointError as err:
        log.info(f"ignoring {err}")
        return None, run_id
    log.info(f"resuming from {ckpt} (epoch {checkpoint.state['epoch']})")
    return checkpoint, run_id


def _params(exp: Experiment, seed: int, ds: Dataset, commit: str, logged=()) -> dict:
    """The run's params, but those ``logged`` already (the dataset's digest is computed only if needed)."""
    params = {
        **exp.training_config(),
        "experiment": exp.name,
        "group": exp.group,
        "seed": seed,
        "beam_width": exp.beam_width,
        "dataset": ds.directory.name,
        "captioning_version": version("captioning"),
        "git_commit": commit,
        "n_train_captions": len(ds.data["train_captions"]),
    }
    if "dataset_id" not in logged:
        params["dataset_id"] = ds.digest
    return {k: v for k, v in params.items() if k not in logged}


def _open_run(where: Tracking, exp: Experiment, seed: int, run_id, ds: Dataset, dataset_source, init_run):
    """The MLflow run of this experiment and seed: a new child of the experiment's parent run (superseding
    older runs of this experiment and seed), or the interrupted run ``run_id`` reopened.  ``init_run``: the
    run whose checkpoint a self-critical run starts from (tag ``captioning.init_run_id``)."""
    commit = git_commit()
    if run_id is not None:  # a resumed run keeps the params it has: MLflow refuses a changed value (a new commit)
        run = MlflowRun(where.uri, run_id=run_id)
        run.log_params(_params(exp, seed, ds, commit, logged=run.client.get_run(run_id).data.params))
        run.client.set_tag(run_id, "resumed_at_commit", commit)
        return run
    client = client_for(where.uri)
    mine = {ROLE: "seed", "experiment": exp.name, "seed": str(seed)}
    tags = {**mine, "group": exp.group, "cell_type": exp.cell_type, **standard_tags()}
    tags[PARENT] = parent_run(client, where.experiment_id, exp)
    if init_run is not None:
        tags[INIT_RUN] = init_run
    run = MlflowRun(where.uri, where.experiment_id, run_name=f"{exp.name}-seed{seed}", tags=tags)
    run.log_params(_params(exp, seed, ds, commit))
    log_dataset(client, run.run_id, ds.name, ds.digest, dataset_source, "training")
    superseded = supersede(client, where.experiment_id, run.run_id, mine)
    if superseded:
        client.set_tag(run.run_id, REPLACES, ",".join(superseded))
        log.info(f"superseded the earlier run(s) {', '.join(superseded)} of {exp.name} seed {seed}")
    return run


@dataclass
class _Setup:
    """A training run, built: its solver, its MLflow run and the checkpoint it resumes from."""

    exp: Experiment
    seed: int
    solver: CaptioningSolver
    run: MlflowRun
    resume_from: TrainingCheckpoint | None
    resume_dir: Path


def _start_from(init_dir: Path, data: dict) -> tuple[CaptioningRNN, str]:
    """The trained model a self-critical run starts from, checked against the data; and its MLflow run id."""
    path = init_dir / "model.npz"
    model, ck = load_model(path)
    words = [data["idx_to_word"][i] for i in range(len(data["idx_to_word"]))]
    if ck.idx_to_word != words:
        raise CheckpointError(
            f"checkpoint {path} was trained with another vocabulary ({len(ck.idx_to_word)} words) than the "
            f"data's ({len(words)} words); retrain it on these data"
        )
    if model.input_dim != data["train_features"].shape[1]:
        raise CheckpointError(
            f"checkpoint {path} takes {model.input_dim} image features, the data's PCA gives "
            f"{data['train_features'].shape[1]}; retrain it with this pca.dim"
        )
    return model, RunRecord.read(init_dir / "run.json").run_id


def _build(data_dir, exp, seed, where: Tracking, out: Path, progress, dataset_source, init_dir) -> _Setup:
    resume_dir = out / ".resume"
    resume_dir.mkdir(parents=True, exist_ok=True)
    ds = open_dataset(data_dir)
    data = blind(ds.data, exp.features, seed)
    init_run = None
    if exp.objective == "cider":
        model, init_run = _start_from(Path(init_dir), data)
    else:
        model = CaptioningRNN(
            data["word_to_idx"],
            input_dim=data["train_features"].shape[1],
            wordvec_dim=exp.wordvec_dim,
            hidden_dim=exp.hidden_dim,
            cell_type=exp.cell_type,
            seed=seed,
        )
    fingerprint = exp.fingerprint(seed)
    ckpt, run_id = _resume_point(resume_dir, fingerprint, where)
    run = _open_run(where, exp, seed, run_id, ds, dataset_source, init_run)
    ResumeState(run.run_id, where.uri, fingerprint).write(resume_dir / ResumeState.FILE)
    edges = dict(print_every=0, verbose=True, progress=progress, checkpoint_path=resume_dir / CHECKPOINT, sinks=[run])
    if exp.objective == "cider":
        scst = ScstConfig(exp.samples, exp.baseline, max_length=data["train_captions"].shape[1] - 1)
        solver = ScstSolver(model, data, exp.solver_config(seed), scst, **edges)
    else:
        solver = CaptioningSolver(model, data, exp.solver_config(seed), **edges)
    return _Setup(exp, seed, solver, run, ckpt, resume_dir)


def _write_outputs(s: _Setup, summary: dict, out: Path) -> History:
    """model.npz and history.json of a trained run."""
    solver = s.solver
    solver.save(out / "model.npz")  # final parameters are the best epoch's; 'best/' holds them too
    history = History(
        experiment=s.exp.name,
        seed=s.seed,
        loss_history=solver.loss_history,
        epoch_history=solver.state.epoch_history,
        iterations_per_epoch=solver.iterations_per_epoch,
        summary=summary,
        numerics=numerics(),
    )
    history.write(out / "history.json")
    return history


def _log_outputs(run: MlflowRun, history: History, out: Path) -> None:
    run.set_tags({f"numerics.{k}": v for k, v in history.numerics.items()})  # this machine's, if it resumed here
    run.log_metrics({f"best_val_{history.select_metric}": history.best_val, "train_seconds": history.seconds})
    run.log_artifact(out / "model.npz", "checkpoint")


def train_run(
    data_dir,
    experiment: dict,
    seed: int,
    tracking: dict,
    out_dir,
    progress: bool = True,
    dataset_source: str | None = None,
    init_dir=None,
) -> str:
    """Train one experiment and seed into ``out_dir``; ``tracking`` is the config's ``mlflow`` section.

    The MLflow run gets the dataset as its input (``dataset_source``: the data's URL or,
    by default, its directory) and its experiment's parent run; the score step adds the
    model.  An interrupted run (Ctrl-C, a kill, ``scancel``) resumes from
    ``out_dir/.resume/`` and continues its MLflow run when that run is on the server in force.
    A self-critical experiment (objective ``cider``) starts from ``init_dir``: the run directory
    (``model.npz``, ``run.json``) of the experiment it fine-tunes, same seed.
    """
    dataset_source = dataset_source or str(Path(data_dir).resolve())
    exp, out = Experiment.from_params(experiment), Path(out_dir)
    where = Tracking.in_force(tracking)
    s = _build(data_dir, exp, seed, where, out, progress, dataset_source, init_dir)
    try:  # any failure from here on leaves the run FAILED, never RUNNING
        summary = s.solver.train(resume_from=s.resume_from)
        history = _write_outputs(s, summary, out)
        _log_outputs(s.run, history, out)
    except BaseException:
        s.run.finish("FAILED")
        raise
    s.run.finish()
    tags = s.run.client.get_run(s.run.run_id).data.tags
    replaces = [r for r in tags.get(REPLACES, "").split(",") if r]
    RunRecord(s.run.run_id, where.uri, where.experiment_id, exp.name, seed, tags.get(PARENT), replaces).write(
        out / "run.json"
    )
    shutil.rmtree(s.resume_dir, ignore_errors=True)
    return (
        f"{exp.name} seed {seed}: {summary['epochs']} epochs, best val {history.select_metric} (greedy) "
        f"{history.best_val:.3f}; MLflow run {s.run.run_id} at {where.ui_hint()}"
    )
