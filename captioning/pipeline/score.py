"""The score step: decode val with greedy and beam search, score, and record samples; and the human ceiling."""

from __future__ import annotations

import json
from pathlib import Path

import h5py

from ..atomic import write_text
from ..checkpoint import load_model
from ..data import layout
from ..data.coco import load_coco_data
from ..evaluation import RANDOM_CAPTION_BLEU, eval_images, evaluate, evaluate_model, split_references
from ..metrics import human_agreement
from .experiment import Experiment, blind
from .plots import caption_grid
from .tracking import MlflowRun, check_uri, read_run


def load_images(data_dir, split: str):
    """The split's stored pixels (synthetic data), or None (COCO: images live behind URLs)."""
    path = Path(data_dir) / layout.images_file(split)
    if not path.exists():
        return None
    with h5py.File(path, "r") as f:
        return f["images"][()]


def score_run(
    data_dir,
    model_path,
    experiment: dict,
    seed: int,
    run_json,
    out_scores,
    out_samples,
    out_grid,
    n_samples: int = 12,
    max_length: int = 16,
    max_images: int | None = None,
) -> str:
    exp = Experiment.from_dict(experiment["name"], {k: v for k, v in experiment.items() if k != "name"})
    data = blind(load_coco_data(data_dir), exp.features, seed)
    model, _ = load_model(model_path)
    images = eval_images(data, "val", max_images)
    results = {
        "experiment": exp.name,
        "seed": seed,
        "cell_type": exp.cell_type,
        "features": exp.features,
        "n_images": int(len(images)),
    }
    results["greedy"], greedy = evaluate(model, data, "val", images, method="greedy", max_length=max_length)
    beam = None
    if exp.beam_width > 1:
        results["beam"], beam = evaluate(
            model, data, "val", images, method="beam", beam_width=exp.beam_width, max_length=max_length
        )
    results[RANDOM_CAPTION_BLEU] = evaluate_model(
        model, data, batch_size=1000, seed=seed, splits=("val",), verbose=False
    )["val"]
    refs = split_references(data, "val", images[:n_samples])
    samples = [
        {"image": int(i), "gt": refs[int(i)], "greedy": greedy[int(i)], "beam": beam[int(i)] if beam else None}
        for i in images[:n_samples]
    ]
    write_text(out_scores, json.dumps(results, indent=2))
    write_text(out_samples, json.dumps(samples, indent=2))
    caption_grid(out_grid, f"{exp.name} (seed {seed}) on val", samples, load_images(data_dir, "val"))
    info = read_run(run_json)  # the training run, on the server where it was trained
    check_uri(info["tracking_uri"])
    run = MlflowRun(info["tracking_uri"], run_id=info["run_id"], reopen=False)  # stays FINISHED
    final = {f"final/greedy_{k}": v for k, v in results["greedy"].items()}
    if beam:
        final.update({f"final/beam{exp.beam_width}_{k}": v for k, v in results["beam"].items()})
    final[f"final/{RANDOM_CAPTION_BLEU}"] = results[RANDOM_CAPTION_BLEU]
    run.log_metrics(final)
    run.log_artifact(out_samples, "samples")
    run.log_artifact(out_grid, "samples")
    best = results.get("beam", results["greedy"])
    return f"{exp.name} seed {seed}: val BLEU-4 {best['BLEU-4']:.3f}, CIDEr-D {best['CIDEr-D']:.3f}"


def human_ceiling(data_dir, out_json, max_images: int | None = None) -> str:
    """Leave-one-out agreement of the val references with each other (COCO's human baseline)."""
    data = load_coco_data(data_dir)
    refs = split_references(data, "val", eval_images(data, "val", max_images))
    refs = {i: r for i, r in refs.items() if len(r) >= 2}
    scores = human_agreement(refs)
    write_text(out_json, json.dumps({"n_images": len(refs), **scores}, indent=2))
    return f"human agreement on {len(refs)} val images: BLEU-4 {scores['BLEU-4']:.3f}, CIDEr-D {scores['CIDEr-D']:.3f}"
