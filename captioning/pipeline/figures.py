"""The figures step: one run's loss curve and its captioned test images, drawn from its records and logged to
its MLflow run. Drawn apart from training and scoring, so an edit of a figure redraws without retraining."""

from __future__ import annotations

from ..data.dataset import load_images
from .plots import caption_grid, loss_curve
from .records import History, RunRecord, Samples
from .tracking import OUTAGE_WAIT, MlflowRun, check_uri


def draw_run(history_json, samples_json, run_json, loss_png, grid_png, images_h5=None) -> str:
    """``loss_png`` from the history, ``grid_png`` from the samples (on the stored test pixels ``images_h5``;
    None: COCO, whose images live behind URLs, shows captions only); both logged to the run."""
    history, samples, record = History.read(history_json), Samples.read(samples_json), RunRecord.read(run_json)
    name = f"{history.experiment} (seed {history.seed})"
    loss_curve(loss_png, name, history.loss_history, history.epoch_history, history.iterations_per_epoch)
    images = load_images(images_h5) if images_h5 is not None else None
    caption_grid(grid_png, f"{name} on test", samples.samples, images)
    check_uri(record.tracking_uri, wait=OUTAGE_WAIT)
    run = MlflowRun(record.tracking_uri, run_id=record.run_id, reopen=False)  # stays FINISHED
    run.log_artifact(loss_png)
    run.log_artifact(grid_png, "samples")
    return f"{name}: loss curve and {len(samples.samples)} captioned test images"
