"""The figures step: one run's loss curve and its captioned test images, drawn from its records.

Drawn apart from training and scoring, so an edit of a figure redraws without retraining; the
register step logs them to the run in MLflow.
"""

from __future__ import annotations

from ..data.dataset import load_images
from .plots import caption_grid, loss_curve
from .records import History, Samples


def draw_run(history_json, samples_json, loss_png, grid_png, images_h5=None) -> str:
    """``loss_png`` from the history, ``grid_png`` from the samples (on the stored test pixels ``images_h5``;
    None: COCO, whose images live behind URLs, shows captions only)."""
    history, samples = History.read(history_json), Samples.read(samples_json)
    name = f"{history.experiment} (seed {history.seed})"
    loss_curve(loss_png, name, history.loss_history, history.epoch_history, history.iterations_per_epoch)
    images = load_images(images_h5) if images_h5 is not None else None
    caption_grid(grid_png, f"{name} on test", samples.samples, images)
    return f"{name}: loss curve and {len(samples.samples)} captioned test images"
