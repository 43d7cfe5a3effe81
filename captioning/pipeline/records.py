"""The files one workflow step hands to the next, as typed records: this module alone reads and writes them.

* ``run.json``, :class:`RunRecord`: train -> score, register
* ``history.json``, :class:`History`: train -> collect, select
* ``scores.json``, :class:`Scores`: score -> collect, register
* ``image_scores.npz``, :class:`ImageScores`: score -> collect
* ``samples.json``, :class:`Samples`: score -> collect (and the run's MLflow artifacts)
* ``captions.json``, :class:`Captions`: score -> meteor
* ``meteor.npz``, :class:`MeteorScores`: meteor -> collect, register
* ``human_agreement.json``, :class:`HumanAgreement`: human_ceiling -> collect
* ``selection/<grid>.json``, :class:`GridChoice`: select -> the workflow (which point trains ``confirm_seeds``)
* ``.resume/state.json``, :class:`ResumeState`: train -> train (an interrupted run)

Each file carries its kind and :data:`FORMAT_VERSION`; a file of another kind or
version, or one that cannot be parsed, is a one-line :class:`RecordError` naming it.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..atomic import atomic_path, write_text
from ..errors import CaptioningError

FORMAT_VERSION = 1
DECODERS = ("greedy", "beam")  # the decoders the score step reports; beam only where beam_width > 1


class RecordError(CaptioningError, ValueError):
    """A hand-off file is missing, unreadable, or of another kind or format version."""


def _format(kind: str) -> str:
    return f"captioning-{kind}-{FORMAT_VERSION}"


@dataclass(frozen=True)
class _JsonRecord:
    KIND: ClassVar[str]
    INDENT: ClassVar[int | None] = None

    def write(self, path) -> None:
        """Write atomically: nothing half-written is ever left under ``path``."""
        write_text(Path(path), json.dumps({"format": _format(self.KIND), **asdict(self)}, indent=self.INDENT))

    @classmethod
    def read(cls, path):
        path = Path(path)
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise RecordError(f"{path}: {cls.KIND} record not found") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise RecordError(f"{path}: not a readable {cls.KIND} record ({err})") from None
        if not isinstance(raw, dict) or raw.get("format") != _format(cls.KIND):
            got = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
            raise RecordError(f"{path}: format {got!r}, expected {_format(cls.KIND)!r}")
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in raw]
        if missing:
            raise RecordError(f"{path}: {cls.KIND} record lacks the key '{missing[0]}'")
        return cls(**{n: raw[n] for n in names})


@dataclass(frozen=True)
class RunRecord(_JsonRecord):
    """A finished training run: where its MLflow run lives, and which experiment and seed it is."""

    KIND: ClassVar[str] = "run"

    run_id: str
    tracking_uri: str
    experiment_id: str
    experiment: str
    seed: int
    parent_run_id: str | None
    replaces: list  # the MLflow runs of this experiment and seed it superseded (deleted, restorable)


@dataclass(frozen=True)
class ResumeState(_JsonRecord):
    """What an interrupted training run left beside its checkpoint: its MLflow run and configuration."""

    KIND: ClassVar[str] = "resume"
    FILE: ClassVar[str] = "state.json"

    run_id: str
    tracking_uri: str
    fingerprint: str


@dataclass(frozen=True)
class History(_JsonRecord):
    """A training run's curves and summary (the solver's ``train()`` result)."""

    KIND: ClassVar[str] = "history"

    experiment: str
    seed: int
    loss_history: list
    epoch_history: list  # one metrics dict per epoch
    iterations_per_epoch: int
    summary: dict  # CaptioningSolver.train()'s summary
    numerics: dict  # captioning.provenance.numerics() of the machine that trained it

    @property
    def select_metric(self) -> str:
        return self.summary["select_metric"]

    @property
    def best_val(self) -> float:
        """The best val score of the selection metric (what selection compares)."""
        return self.summary[f"best_val_{self.select_metric}"]

    @property
    def best_epoch(self) -> int:
        return self.summary["best_epoch"]

    def val_at_best(self, metric: str) -> float:
        """The val ``metric`` of the epoch whose parameters the run kept (its best by its own selection metric)."""
        if metric == self.select_metric or self.best_epoch < 1:
            return self.best_val
        return self.epoch_history[self.best_epoch - 1][f"val_{metric}"]

    @property
    def seconds(self) -> float:
        return self.summary["seconds"]


@dataclass(frozen=True)
class Scores(_JsonRecord):
    """A run's corpus scores on the test split, per decoder, and the captioner it logged."""

    KIND: ClassVar[str] = "scores"
    INDENT: ClassVar[int | None] = 2

    experiment: str
    group: str
    seed: int
    cell_type: str
    features: str
    split: str
    n_images: int
    decoders: dict  # {decoder: {metric: value}}, DECODERS that ran
    random_reference_bleu: float  # the notebook's BLEU-1 of greedy captions, each against one random reference
    model_uri: str
    confirm: bool  # a confirmation seed: one only its grid's best point trains
    init_from: str | None  # a self-critical run's start (the experiment it fine-tuned)
    health: dict  # caption health of the greedy captions: evaluation.caption_health


@dataclass(frozen=True)
class Samples(_JsonRecord):
    """A run's captions of the first test images, beside their references."""

    KIND: ClassVar[str] = "samples"
    INDENT: ClassVar[int | None] = 2

    experiment: str
    seed: int
    samples: list  # [{image, gt: [str], greedy: str, beam: str | None}]


@dataclass(frozen=True)
class Captions(_JsonRecord):
    """A run's captions of every test image it was scored on, per decoder, in the order of ``images``."""

    KIND: ClassVar[str] = "captions"

    experiment: str
    seed: int
    images: list  # [int] test image indices
    captions: dict  # {decoder: [str]}
    labels: dict  # {decoder: how its metrics are named on MLflow: greedy, beam<k>}


@dataclass(frozen=True)
class MeteorScores:
    """Every run's METEOR statistics per test image (:data:`captioning.meteor.METEOR_STATS`), NaN where Java
    was missing: {(experiment, seed): {decoder: (M, C)}}, images in the order of ``images``."""

    images: np.ndarray  # (M,) test image indices
    runs: dict  # {(experiment, seed): {decoder: (M, C) float64}}
    columns: tuple  # (C,) names
    labels: dict  # {(experiment, seed): {decoder: how its metrics are named on MLflow}}

    def write(self, path) -> None:
        keys = [(exp, seed, d) for (exp, seed), by_decoder in self.runs.items() for d in by_decoder]
        labelled = [[exp, seed, d, self.labels[(exp, seed)][d]] for exp, seed, d in keys]
        header = {"format": _format("meteor"), "columns": list(self.columns), "runs": labelled}
        arrays = {f"s{k}": self.runs[(exp, seed)][d] for k, (exp, seed, d) in enumerate(keys)}
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, __header__=np.array(json.dumps(header)), images=self.images, **arrays)

    @classmethod
    def read(cls, path) -> MeteorScores:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as f:
                header = json.loads(str(f["__header__"]))
                arrays = {k: f[k] for k in f.files if k != "__header__"}
        except FileNotFoundError:
            raise RecordError(f"{path}: meteor record not found") from None
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
            raise RecordError(f"{path}: not a readable meteor record ({err})") from None
        if not isinstance(header, dict) or header.get("format") != _format("meteor"):
            got = header.get("format") if isinstance(header, dict) else type(header).__name__
            raise RecordError(f"{path}: format {got!r}, expected {_format('meteor')!r}")
        try:
            images, columns, runs, labels = arrays["images"], tuple(header["columns"]), {}, {}
            for k, (exp, seed, d, label) in enumerate(header["runs"]):
                runs.setdefault((exp, int(seed)), {})[d] = arrays[f"s{k}"]
                labels.setdefault((exp, int(seed)), {})[d] = label
        except (KeyError, TypeError, ValueError) as err:
            raise RecordError(
                f"{path}: not a readable meteor record (its runs do not match its arrays: {err!r})"
            ) from None
        for (exp, seed), by_decoder in runs.items():
            for d, s in by_decoder.items():
                if s.shape != (len(images), len(columns)):
                    raise RecordError(
                        f"{path}: {exp} seed {seed} {d} has shape {s.shape}, expected ({len(images)}, {len(columns)})"
                    )
        return cls(images, runs, columns, labels)


@dataclass(frozen=True)
class HumanAgreement(_JsonRecord):
    """The test references' leave-one-out agreement with each other (COCO's human baseline)."""

    KIND: ClassVar[str] = "human_agreement"
    INDENT: ClassVar[int | None] = 2

    split: str
    n_images: int
    scores: dict  # {metric: value}


@dataclass(frozen=True)
class GridChoice(_JsonRecord):
    """The grid point val picked, from the seeds every point trained: the one that trains ``confirm_seeds``."""

    KIND: ClassVar[str] = "grid_choice"
    INDENT: ClassVar[int | None] = 2

    group: str
    point: str
    val: dict  # {point: mean best val score over the shared seeds}


@dataclass(frozen=True)
class ImageScores:
    """The per-image statistics behind a run's scores, {decoder: (M, C)}, for intervals over images; ``columns``
    names the C statistics (:data:`captioning.metrics.SCORE_COLUMNS` when it was scored)."""

    experiment: str
    seed: int
    images: np.ndarray  # (M,) test image indices
    stats: dict  # {decoder: (M, C) float64}
    columns: tuple  # (C,) names

    def write(self, path) -> None:
        header = {"format": _format("image_scores"), "experiment": self.experiment, "seed": self.seed}
        header = json.dumps({**header, "columns": list(self.columns)})
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, __header__=np.array(header), images=self.images, **self.stats)

    @classmethod
    def read(cls, path) -> ImageScores:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as f:
                header = json.loads(str(f["__header__"]))
                images = f["images"]
                stats = {d: f[d] for d in DECODERS if d in f.files}
        except FileNotFoundError:
            raise RecordError(f"{path}: image_scores record not found") from None
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
            raise RecordError(f"{path}: not a readable image_scores record ({err})") from None
        if header.get("format") != _format("image_scores"):
            raise RecordError(f"{path}: format {header.get('format')!r}, expected {_format('image_scores')!r}")
        if "columns" not in header:
            raise RecordError(f"{path}: image_scores record lacks the key 'columns'")
        columns = tuple(header["columns"])
        for d, s in stats.items():
            if s.shape != (len(images), len(columns)):
                raise RecordError(f"{path}: {d} has shape {s.shape}, expected ({len(images)}, {len(columns)})")
        return cls(header["experiment"], int(header["seed"]), images, stats, columns)
