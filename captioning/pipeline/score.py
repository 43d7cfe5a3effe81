"""The score step: decode the test split greedily and with beam search, score it per image, record samples.

Every caption goes to ``captions.json`` too, for the meteor step, which scores all runs' captions in
one METEOR process (:mod:`captioning.pipeline.meteor`).

Only this step and the human ceiling read the test split; training and selection never do. The
samples' captioned grid is drawn by the collect step, which alone reads the stored pixels.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from ..checkpoint import load_model
from ..data import layout
from ..data.dataset import Dataset, open_dataset
from ..data.references import eval_images, split_references
from ..evaluation import RANDOM_REFERENCE_BLEU, caption_health, decode_images, evaluate_model
from ..metrics import SCORE_COLUMNS, corpus_scores, image_stats
from .experiment import Experiment, blind
from .lineage import log_dataset
from .mlflow_model import log_captioner
from .records import DECODERS, Captions, ImageScores, RunRecord, Samples, Scores
from .tracking import OUTAGE_WAIT, MlflowRun, check_uri

SPLIT = layout.TEST_SPLIT


@dataclass(frozen=True)
class ScoreFiles:
    """What the score step writes for one run."""

    scores: Path  # scores.json (records.Scores)
    image_scores: Path  # image_scores.npz (records.ImageScores)
    samples: Path  # samples.json: the first images' references and captions
    captions: Path  # captions.json (records.Captions): every caption, for the meteor step


@dataclass(frozen=True)
class ScoreSettings:
    n_samples: int = 12  # images in samples.json (and in the collect step's grid)
    max_length: int | None = None  # steps a caption is decoded for (None: the test captions' length less <START>)
    max_images: int | None = None  # test images scored (None: all)


def decode_length(max_length: int | None, data: dict, split: str) -> int:
    """Steps a caption of ``split`` is decoded for: ``max_length``, or the split's caption length less <START>."""
    return max_length or data[f"{split}_captions"].shape[1] - 1


def _decoders(exp: Experiment) -> dict[str, dict]:
    """The decoders a run is scored with, and their settings: greedy, and beam search where beam_width > 1."""
    settings = {"greedy": {"method": "greedy"}, "beam": {"method": "beam", "beam_width": exp.beam_width}}
    return {d: settings[d] for d in DECODERS[: 2 if exp.beam_width > 1 else 1]}


def _compute(model, data, exp: Experiment, seed: int, images, settings: ScoreSettings):
    """Captions and per-image statistics of every decoder; the corpus scores; the samples shown."""
    refs = split_references(data, SPLIT, images)
    hyps, stats, corpus = {}, {}, {}
    for decoder, kwargs in _decoders(exp).items():
        hyps[decoder] = decode_images(model, data, SPLIT, images, max_length=settings.max_length, **kwargs)
        stats[decoder] = image_stats(refs, hyps[decoder])
        corpus[decoder] = corpus_scores(stats[decoder])
    reference_bleu = evaluate_model(
        model, data, batch_size=1000, seed=seed, splits=(SPLIT,), verbose=False, max_length=settings.max_length
    )[SPLIT]
    samples = [
        {"image": int(i), "gt": refs[int(i)], **{d: hyps.get(d, {}).get(int(i)) for d in DECODERS}}
        for i in images[: settings.n_samples]
    ]
    return hyps, stats, corpus, reference_bleu, samples, caption_health(hyps["greedy"], settings.max_length)


def _label(exp: Experiment, decoder: str) -> str:
    """How a decoder is named in metrics and messages: greedy, beam<k>."""
    return decoder if decoder == "greedy" else f"beam{exp.beam_width}"


def _log_scores(run: MlflowRun, exp: Experiment, corpus: dict, reference_bleu: float) -> None:
    final = {}
    for decoder, scores in corpus.items():
        final.update({f"final/{SPLIT}_{_label(exp, decoder)}_{k}": v for k, v in scores.items()})
    final[f"final/{SPLIT}_{RANDOM_REFERENCE_BLEU}"] = reference_bleu
    run.log_metrics(final)


def _log_data_and_samples(run: MlflowRun, ds: Dataset, dataset_source, files: ScoreFiles) -> None:
    """The test split as the run's input (context ``testing``), the samples as an artifact."""
    log_dataset(run.client, run.run_id, ds.name, ds.digest, dataset_source or str(ds.directory.resolve()), "testing")
    run.log_artifact(files.samples, "samples")


def _log_model(run: MlflowRun, exp: Experiment, ds: Dataset, model_path, max_length: int) -> str:
    """The captioner, decoding as the experiment does; returns its model URI."""
    decoding = {
        "decode_method": "beam" if exp.beam_width > 1 else "greedy",
        "decode_beam_width": exp.beam_width,
        "decode_max_length": max_length,
        "feature_mode": exp.features,
    }
    with tempfile.TemporaryDirectory() as tmp:
        return log_captioner(run.uri, run.run_id, model_path, ds.pca, decoding, tmp)


def score_run(
    data_dir,
    model_path,
    experiment: dict,
    run_json,
    files: ScoreFiles,
    settings: ScoreSettings = ScoreSettings(),
    dataset_source: str | None = None,
    confirm: bool = False,
) -> str:
    """Score one trained run (its ``run.json`` record names the seed and the MLflow run) on the test split.

    Writes ``files``; logs the ``final/test_*`` metrics and the captioner (a pyfunc model
    decoding as the experiment does) to the run, and the test split as an input (context
    ``testing``; ``dataset_source``: the data's URL or, by default, its directory).
    ``confirm``: the run is a confirmation seed of its grid's best point.
    """
    exp = Experiment.from_params(experiment)
    record = RunRecord.read(run_json)  # the training run, on the server where it was trained
    seed = record.seed
    ds = open_dataset(data_dir, splits=(SPLIT,))
    data = blind(ds.data, exp.features, seed)
    model, _ = load_model(model_path)
    images = eval_images(data, SPLIT, settings.max_images)
    settings = replace(settings, max_length=decode_length(settings.max_length, data, SPLIT))
    hyps, stats, corpus, reference_bleu, samples, health = _compute(model, data, exp, seed, images, settings)
    ImageScores(exp.name, seed, images, stats, SCORE_COLUMNS).write(files.image_scores)
    Samples(exp.name, seed, samples).write(files.samples)
    captions = {d: [h[int(i)] for i in images] for d, h in hyps.items()}
    labels = {d: _label(exp, d) for d in hyps}
    Captions(exp.name, seed, [int(i) for i in images], captions, labels).write(files.captions)
    check_uri(record.tracking_uri, wait=OUTAGE_WAIT)
    run = MlflowRun(record.tracking_uri, run_id=record.run_id, reopen=False)  # stays FINISHED
    _log_scores(run, exp, corpus, reference_bleu)
    _log_data_and_samples(run, ds, dataset_source, files)
    model_uri = _log_model(run, exp, ds, model_path, settings.max_length)
    Scores(
        experiment=exp.name,
        group=exp.group,
        seed=seed,
        cell_type=exp.cell_type,
        features=exp.features,
        split=SPLIT,
        n_images=int(len(images)),
        decoders=corpus,
        random_reference_bleu=reference_bleu,
        model_uri=model_uri,
        confirm=confirm,
        init_from=exp.init_from,
        health=health,
    ).write(files.scores)
    shown = "; ".join(
        f"{_label(exp, d)} BLEU-4 {s['BLEU-4']:.3f}, CIDEr-D {s['CIDEr-D']:.3f}" for d, s in corpus.items()
    )
    return f"{exp.name} seed {seed} on {len(images)} {SPLIT} images: {shown}"
