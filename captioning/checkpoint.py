"""Training checkpoints: one ``.npz`` holding arrays plus a JSON header, written atomically.

A checkpoint holds everything needed to continue bit-for-bit: parameters,
optimizer state, the RNG state, counters, histories, the best parameters so
far, the vocabulary and the model and solver configuration.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .errors import CaptioningError

FORMAT = "captioning-checkpoint-1"


class CheckpointError(CaptioningError, ValueError):
    """A checkpoint is unreadable or belongs to a different model or vocabulary."""


def save(path, header: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` and the JSON-serialisable ``header`` to ``path`` atomically."""
    header = dict(header, format=FORMAT)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, __header__=np.array(json.dumps(header)), **arrays)


def load(path) -> tuple[dict, dict[str, np.ndarray]]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(str(z["__header__"]))
            arrays = {k: z[k] for k in z.files if k != "__header__"}
    except (OSError, ValueError, KeyError) as err:
        raise CheckpointError(f"checkpoint {path} is unreadable ({err})") from None
    if header.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} has format {header.get('format')!r}, expected {FORMAT!r}")
    return header, arrays


def check_compatible(path, header: dict, model) -> None:
    """Refuse a checkpoint made for another vocabulary or model shape."""
    vocab = header["idx_to_word"]
    if vocab != [model.idx_to_word[i] for i in range(len(model.idx_to_word))]:
        raise CheckpointError(
            f"checkpoint {path} was made for another vocabulary ({len(vocab)} words) than the model's "
            f"({model.vocab_size} words)"
        )
    ours = model.config()
    theirs = header["model"]
    diff = [k for k in ("input_dim", "wordvec_dim", "hidden_dim", "cell_type", "dtype") if theirs.get(k) != ours[k]]
    if diff:
        detail = ", ".join(f"{k}={theirs.get(k)!r} (model has {ours[k]!r})" for k in diff)
        raise CheckpointError(f"checkpoint {path} was made for another model: {detail}")


def load_model(path):
    """Rebuild a :class:`~captioning.model.CaptioningRNN` with the checkpoint's best parameters."""
    from .model import CaptioningRNN

    header, arrays = load(path)
    word_to_idx = {w: i for i, w in enumerate(header["idx_to_word"])}
    model = CaptioningRNN(word_to_idx, **header["model"])
    prefix = "best/" if any(k.startswith("best/") for k in arrays) else "params/"
    for name in model.params:
        model.params[name] = arrays[prefix + name]
    return model, header
