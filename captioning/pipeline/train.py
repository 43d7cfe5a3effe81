"""The train step: one experiment and seed -> checkpoint, history, loss plot, MLflow run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .. import __version__
from ..atomic import write_text
from ..checkpoint import CheckpointError, TrainingCheckpoint
from ..data import layout
from ..data.coco import load_coco_data
from ..model import CaptioningRNN
from ..solver import CaptioningSolver
from .experiment import Experiment, blind
from .lineage import PARENT, ROLE, log_dataset, parent_run, standard_tags, supersede
from .plots import loss_curve
from .tracking import MlflowRun, Tracking, client_for, git_commit


def _resume_point(resume_dir: Path, fingerprint: str, tracking: Tracking):
    """(loaded checkpoint or None, MLflow run id or None) left by an interrupted run of this configuration.

    The run is reused only where it lives: on the tracking server in force now.
    """
    ckpt, meta = resume_dir / "checkpoint.npz", resume_dir / "run.json"
    if not meta.exists():
        return None, None
    info = json.loads(meta.read_text())
    if info.get("fingerprint") != fingerprint:
        print(f"ignoring {resume_dir}: it belongs to a different configuration")
        return None, None
    run_id = info["run_id"] if info.get("tracking_uri") == tracking.uri else None
    if not ckpt.exists():
        return None, run_id
    try:
        checkpoint = TrainingCheckpoint.load(ckpt)
    except CheckpointError as err:
        print(f"ignoring {err}")
        return None, run_id
    print(f"resuming from {ckpt} (epoch {checkpoint.state['epoch']})")
    return checkpoint, run_id


def _open_run(where: Tracking, exp: Experiment, seed: int, run_id, data_dir, dataset_source, n_captions):
    """The seed's MLflow run: a new child of the experiment's parent run (superseding older runs of this
    experiment and seed), or the interrupted run ``run_id`` reopened."""
    commit = git_commit()
    params = {
        **exp.training_config(),
        "experiment": exp.name,
        "group": exp.group,
        "seed": seed,
        "beam_width": exp.beam_width,
        "dataset": Path(data_dir).name,
        "dataset_id": layout.content_digest(data_dir, layout.TRAINING_SPLITS),
        "captioning_version": __version__,
        "git_commit": commit,
        "n_train_captions": n_captions,
    }
    if run_id is not None:  # a resumed run keeps the params it has: MLflow refuses a changed value (a new commit)
        run = MlflowRun(where.uri, run_id=run_id)
        logged = run.client.get_run(run_id).data.params
        run.log_params({k: v for k, v in params.items() if k not in logged})
        run.client.set_tag(run_id, "resumed_at_commit", commit)
        return run
    client = client_for(where.uri)
    mine = {ROLE: "seed", "experiment": exp.name, "seed": str(seed)}
    tags = {**mine, "group": exp.group, "cell_type": exp.cell_type, **standard_tags()}
    tags[PARENT] = parent_run(client, where.experiment_id, exp)
    run = MlflowRun(where.uri, where.experiment_id, run_name=f"{exp.name}-seed{seed}", tags=tags)
    run.log_params(params)
    log_dataset(client, run.run_id, f"{params['dataset']}-trainval", params["dataset_id"], dataset_source, "training")
    superseded = supersede(client, where.experiment_id, run.run_id, mine)
    if superseded:
        print(f"superseded the earlier run(s) {', '.join(superseded)} of {exp.name} seed {seed}")
    return run


def train_run(
    data_dir,
    experiment: dict,
    seed: int,
    tracking: dict,
    out_dir,
    progress: bool = True,
    dataset_source: str | None = None,
) -> str:
    """Train one experiment and seed into ``out_dir``; ``tracking`` is the config's ``mlflow`` section.

    The MLflow run gets the dataset as its input (``dataset_source``: the data's URL or,
    by default, its directory) and its experiment's parent run; the score step adds the
    model.  An interrupted run (Ctrl-C, a kill, ``scancel``) resumes from
    ``out_dir/.resume/`` and continues its MLflow run when that run is on the server in force.
    """
    dataset_source = dataset_source or str(Path(data_dir).resolve())
    exp = Experiment.from_params(experiment)
    out, resume_dir = Path(out_dir), Path(out_dir) / ".resume"
    resume_dir.mkdir(parents=True, exist_ok=True)
    where = Tracking.in_force(tracking)
    data = blind(load_coco_data(data_dir), exp.features, seed)
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
    run = _open_run(where, exp, seed, run_id, data_dir, dataset_source, len(data["train_captions"]))
    write_text(
        resume_dir / "run.json",
        json.dumps({"run_id": run.run_id, "tracking_uri": where.uri, "fingerprint": fingerprint}),
    )
    solver = CaptioningSolver(
        model,
        data,
        update_rule=exp.update_rule,
        optim_config={"learning_rate": exp.learning_rate},
        lr_decay=exp.lr_decay,
        batch_size=exp.batch_size,
        num_epochs=exp.num_epochs,
        print_every=0,
        verbose=True,
        progress=progress,
        grad_clip=exp.grad_clip,
        eval_images=exp.eval_images,
        patience=exp.patience,
        checkpoint_path=resume_dir / "checkpoint.npz",
        seed=seed,
        sinks=[run],
    )
    try:  # any failure from here on leaves the run FAILED, never RUNNING
        summary = solver.train(resume_from=ckpt)
        solver.save(out / "model.npz")  # final parameters are the best epoch's; 'best/' holds them too
        history = {
            "loss_history": solver.loss_history,
            "epoch_history": solver.state.epoch_history,
            "iterations_per_epoch": max(len(data["train_captions"]) // exp.batch_size, 1),
            "summary": summary,
        }
        write_text(out / "history.json", json.dumps(history))
        loss_curve(
            out / "loss.png",
            f"{exp.name} (seed {seed})",
            solver.loss_history,
            solver.state.epoch_history,
            history["iterations_per_epoch"],
        )
        run.log_metrics(
            {
                f"best_val_{solver.select_metric}": summary[f"best_val_{solver.select_metric}"],
                "train_seconds": summary["seconds"],
            }
        )
        run.log_artifact(out / "loss.png")
        run.log_artifact(out / "model.npz", "checkpoint")
    except BaseException:
        run.finish("FAILED")
        raise
    run.finish()
    record = {
        "run_id": run.run_id,
        "tracking_uri": where.uri,
        "experiment_id": where.experiment_id,
        "experiment": exp.name,
        "seed": seed,
        "parent_run_id": run.client.get_run(run.run_id).data.tags.get(PARENT),
    }
    write_text(out / "run.json", json.dumps(record))
    shutil.rmtree(resume_dir, ignore_errors=True)
    best = summary[f"best_val_{solver.select_metric}"]
    return (
        f"{exp.name} seed {seed}: {summary['epochs']} epochs, best val {solver.select_metric} {best:.3f}; "
        f"MLflow run {run.run_id} at {where.ui_hint()}"
    )
