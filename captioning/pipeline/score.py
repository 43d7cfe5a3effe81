"""The score step: decode the test split greedily and with beam search, score it per image, record samples.

Only this step and the human ceiling read the test split; training and selection never do.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import h5py
import numpy as np

from ..atomic import atomic_path, write_text
from ..checkpoint import load_model
from ..data import layout
from ..data.coco import load_coco_data
from ..evaluation import RANDOM_CAPTION_BLEU, decode_images, eval_images, evaluate_model, split_references
from ..metrics import BLEU_STATS, corpus_scores, human_agreement, image_stats
from .experiment import Experiment, blind
from .lineage import log_dataset
from .mlflow_model import log_captioner, read_pca
from .plots import caption_grid
from .tracking import MlflowRun, check_uri, read_run

DECODERS = ("greedy", "beam")  # the decoders the score step reports; beam only where beam_width > 1
SPLIT = layout.TEST_SPLIT


def load_images(data_dir, split: str):
    """The split's stored pixels (synthetic data), or None (COCO: images live behind URLs)."""
    path = Path(data_dir) / layout.images_file(split)
    if not path.exists():
        return None
    with h5py.File(path, "r") as f:
        return f["images"][()]


def write_image_scores(path, images: np.ndarray, stats: dict[str, np.ndarray]) -> None:
    """The per-image statistics behind the scores, {decoder: (M, N_STATS)}, for intervals over images."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, images=images, columns=np.array([*BLEU_STATS, "CIDEr-D"]), **stats)


def read_image_scores(path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    with np.load(path) as f:
        return f["images"], {d: f[d] for d in DECODERS if d in f.files}


def score_run(
    data_dir,
    model_path,
    experiment: dict,
    seed: int,
    run_json,
    out_scores,
    out_image_scores,
    out_samples,
    out_grid,
    n_samples: int = 12,
    max_length: int = 16,
    max_images: int | None = None,
    dataset_source: str | None = None,
) -> str:
    """Score one trained run on the test split; log the ``final/test_*`` metrics and the captioner
    (a pyfunc model decoding as the experiment does) to its MLflow run.

    The run also records the test split as an input (context ``testing``; ``dataset_source``:
    the data's URL or, by default, its directory).
    """
    exp = Experiment.from_params(experiment)
    data = blind(load_coco_data(data_dir, splits=(SPLIT,)), exp.features, seed)
    model, _ = load_model(model_path)
    images = eval_images(data, SPLIT, max_images)
    refs = split_references(data, SPLIT, images)
    results = {
        "experiment": exp.name,
        "group": exp.group,
        "seed": seed,
        "cell_type": exp.cell_type,
        "features": exp.features,
        "split": SPLIT,
        "n_images": int(len(images)),
    }
    settings = {"greedy": {"method": "greedy"}, "beam": {"method": "beam", "beam_width": exp.beam_width}}
    hyps, stats = {}, {}
    for decoder in DECODERS[: 2 if exp.beam_width > 1 else 1]:
        hyps[decoder] = decode_images(model, data, SPLIT, images, max_length=max_length, **settings[decoder])
        stats[decoder] = image_stats(refs, hyps[decoder])
        results[decoder] = corpus_scores(stats[decoder])
    results[RANDOM_CAPTION_BLEU] = evaluate_model(
        model, data, batch_size=1000, seed=seed, splits=(SPLIT,), verbose=False
    )[SPLIT]
    samples = [
        {"image": int(i), "gt": refs[int(i)], **{d: hyps.get(d, {}).get(int(i)) for d in DECODERS}}
        for i in images[:n_samples]
    ]
    write_image_scores(out_image_scores, images, stats)
    write_text(out_samples, json.dumps(samples, indent=2))
    caption_grid(out_grid, f"{exp.name} (seed {seed}) on {SPLIT}", samples, load_images(data_dir, SPLIT))
    info = read_run(run_json)  # the training run, on the server where it was trained
    check_uri(info["tracking_uri"])
    run = MlflowRun(info["tracking_uri"], run_id=info["run_id"], reopen=False)  # stays FINISHED
    final = {}
    for decoder in stats:
        label = decoder if decoder == "greedy" else f"beam{exp.beam_width}"
        final.update({f"final/{SPLIT}_{label}_{k}": v for k, v in results[decoder].items()})
    final[f"final/{SPLIT}_{RANDOM_CAPTION_BLEU}"] = results[RANDOM_CAPTION_BLEU]
    run.log_metrics(final)
    name = f"{Path(data_dir).name}-{SPLIT}"
    digest = layout.content_digest(data_dir, [SPLIT])
    log_dataset(run.client, run.run_id, name, digest, dataset_source or str(Path(data_dir).resolve()), "testing")
    run.log_artifact(out_samples, "samples")
    run.log_artifact(out_grid, "samples")
    decoding = {
        "decode_method": "beam" if exp.beam_width > 1 else "greedy",
        "decode_beam_width": exp.beam_width,
        "decode_max_length": max_length,
        "feature_mode": exp.features,
    }
    with tempfile.TemporaryDirectory() as tmp:
        results["model_uri"] = log_captioner(run.uri, run.run_id, model_path, read_pca(data_dir), decoding, tmp)
    write_text(out_scores, json.dumps(results, indent=2))
    best = results.get("beam", results["greedy"])
    return (
        f"{exp.name} seed {seed}: {SPLIT} BLEU-4 {best['BLEU-4']:.3f}, CIDEr-D {best['CIDEr-D']:.3f} "
        f"({len(images)} images)"
    )


def human_ceiling(data_dir, out_json, max_images: int | None = None) -> str:
    """Leave-one-out agreement of the test references with each other (COCO's human baseline)."""
    data = load_coco_data(data_dir, splits=(SPLIT,))
    refs = split_references(data, SPLIT, eval_images(data, SPLIT, max_images))
    refs = {i: r for i, r in refs.items() if len(r) >= 2}
    scores = human_agreement(refs)
    write_text(out_json, json.dumps({"split": SPLIT, "n_images": len(refs), **scores}, indent=2))
    b4, cider = scores["BLEU-4"], scores["CIDEr-D"]
    return f"human agreement on {len(refs)} {SPLIT} images: BLEU-4 {b4:.3f}, CIDEr-D {cider:.3f}"
