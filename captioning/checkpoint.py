"""Training checkpoints: one ``.npz`` holding arrays plus a JSON header, written atomically.

A :class:`TrainingCheckpoint` holds everything needed to continue bit for bit:
parameters, optimizer state, the RNG state, counters and histories, the best
parameters so far, the vocabulary and the model and solver configuration.  This
module alone knows how those map to arrays and header fields.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .errors import CaptioningError

FORMAT = "captioning-checkpoint-2"
HEADER_KEYS = ("model", "idx_to_word", "solver", "optim_scalars", "rng", "state")
MODEL_KEYS = ("input_dim", "wordvec_dim", "hidden_dim", "cell_type", "dtype")  # must match to resume


class CheckpointError(CaptioningError, ValueError):
    """A checkpoint is unreadable or belongs to a different model or vocabulary."""


@dataclass
class TrainingCheckpoint:
    model_config: dict  # CaptioningRNN.config()
    idx_to_word: list  # the vocabulary, in id order
    solver_config: dict
    params: dict  # name -> array
    best_params: dict | None  # the best epoch's parameters so far
    optim_configs: dict  # parameter name -> the update rule's config (scalars and state arrays)
    rng_state: dict  # numpy bit generator state of the minibatch order
    state: dict  # the solver's TrainState fields, loss_history excepted
    loss_history: np.ndarray  # (iterations,) float64
    source: str = "checkpoint"  # where it was loaded from, for messages; not saved

    def save(self, path) -> None:
        """Write atomically to ``path``: arrays in the ``.npz``, everything else in its JSON header."""
        arrays = {f"params/{k}": v for k, v in self.params.items()}
        arrays.update({f"best/{k}": v for k, v in (self.best_params or {}).items()})
        scalars = {}
        for name, cfg in self.optim_configs.items():
            for key, value in cfg.items():
                if isinstance(value, np.ndarray):
                    arrays[f"optim/{name}/{key}"] = value
                else:
                    scalars.setdefault(name, {})[key] = value
        arrays["loss_history"] = np.asarray(self.loss_history, dtype=np.float64)
        header = {
            "format": FORMAT,
            "model": self.model_config,
            "idx_to_word": self.idx_to_word,
            "solver": self.solver_config,
            "optim_scalars": scalars,
            "rng": self.rng_state,
            "state": self.state,
        }
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, __header__=np.array(json.dumps(header)), **arrays)

    @classmethod
    def load(cls, path) -> TrainingCheckpoint:
        header, arrays = _read(path)
        names = [k.removeprefix("params/") for k in arrays if k.startswith("params/")]
        missing = [k for k in HEADER_KEYS if k not in header] + [k for k in ("loss_history",) if k not in arrays]
        if missing or not names:
            raise CheckpointError(f"checkpoint {path} is incomplete: no {(missing or ['params/*'])[0]}")
        optim = {n: dict(header["optim_scalars"].get(n, {})) for n in names}
        for key, value in arrays.items():
            if key.startswith("optim/"):
                _, name, field = key.split("/", 2)
                if name not in optim:
                    raise CheckpointError(f"checkpoint {path}: optimizer state {key} has no parameter {name}")
                optim[name][field] = value
        best = {n: arrays[f"best/{n}"] for n in names} if f"best/{names[0]}" in arrays else None
        return cls(
            header["model"],
            header["idx_to_word"],
            header["solver"],
            {n: arrays[f"params/{n}"] for n in names},
            best,
            optim,
            header["rng"],
            header["state"],
            arrays["loss_history"],
            source=f"checkpoint {path}",
        )

    def check_compatible(self, model) -> None:
        """Refuse a checkpoint made for another vocabulary or model shape, or whose arrays do not fit the model."""
        if self.idx_to_word != [model.idx_to_word[i] for i in range(len(model.idx_to_word))]:
            raise CheckpointError(
                f"{self.source} was made for another vocabulary ({len(self.idx_to_word)} words) than the "
                f"model's ({model.vocab_size} words)"
            )
        ours = model.config()
        diff = [k for k in MODEL_KEYS if self.model_config.get(k) != ours[k]]
        if diff:
            detail = ", ".join(f"{k}={self.model_config.get(k)!r} (model has {ours[k]!r})" for k in diff)
            raise CheckpointError(f"{self.source} was made for another model: {detail}")
        groups = {"params": self.params, **({"best": self.best_params} if self.best_params else {})}
        for group, params in groups.items():
            if set(params) != set(model.params):
                name = sorted(set(model.params) ^ set(params))[0]
                raise CheckpointError(f"{self.source}: {group}/{name} is missing or not a parameter of the model")
            for name, expected in model.params.items():
                got = params[name]
                if got.shape != expected.shape or got.dtype != expected.dtype:
                    raise CheckpointError(
                        f"{self.source}: {group}/{name} is {got.dtype}{list(got.shape)}, "
                        f"expected {expected.dtype}{list(expected.shape)}"
                    )


def _read(path) -> tuple[dict, dict[str, np.ndarray]]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(str(z["__header__"]))
            arrays = {k: z[k] for k in z.files if k != "__header__"}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"checkpoint {path} is unreadable ({first})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"checkpoint {path} is unreadable (its header is not a JSON object)")
    if header.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} has format {header.get('format')!r}, expected {FORMAT!r}")
    return header, arrays


def load_model(path):
    """Rebuild a :class:`~captioning.model.CaptioningRNN` with the checkpoint's best parameters.

    Returns ``(model, checkpoint)``.
    """
    from .model import CaptioningRNN

    ck = TrainingCheckpoint.load(path)
    try:
        model = CaptioningRNN({w: i for i, w in enumerate(ck.idx_to_word)}, **ck.model_config)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{ck.source}: its model settings are invalid ({err})") from None
    ck.check_compatible(model)
    model.params = dict(ck.best_params or ck.params)
    return model, ck
