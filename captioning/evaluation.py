"""Turning a model and a split into scores: references, decoding, BLEU-1..4, CIDEr-D.

Shapes: n captions, m images, L caption tokens.
"""

from __future__ import annotations

import numpy as np

from .metrics import score_captions
from .sampling import decode

SPECIAL = {"<NULL>", "<START>", "<END>", "<UNK>"}


def caption_strings(captions, idx_to_word) -> list[str]:
    """(n, L) token ids -> plain sentences: special tokens dropped, cut at ``<END>``."""
    out = []
    for row in np.asarray(captions):
        words = []
        for token in row:
            w = idx_to_word[int(token)]
            if w == "<END>":
                break
            if w not in SPECIAL:
                words.append(w)
        out.append(" ".join(words))
    return out


def split_references(data: dict, split: str, images=None) -> dict[int, list[str]]:
    """{image index: [reference sentences]} for the split's images (all of them, or ``images``)."""
    idxs = data[f"{split}_image_idxs"]
    keep = np.isin(idxs, images) if images is not None else np.ones(len(idxs), dtype=bool)
    refs: dict[int, list[str]] = {int(i): [] for i in (np.unique(idxs[keep]) if images is None else images)}
    for i, sentence in zip(idxs[keep], caption_strings(data[f"{split}_captions"][keep], data["idx_to_word"])):
        refs[int(i)].append(sentence)
    return refs


def eval_images(data: dict, split: str, max_images: int | None) -> np.ndarray:
    """The first ``max_images`` images of a split that have captions (all when None)."""
    images = np.unique(data[f"{split}_image_idxs"])
    return images if max_images is None else images[:max_images]


def evaluate(model, data: dict, split: str = "val", images=None, features=None, batch_size: int = 500,
             **decode_args) -> tuple[dict, dict[int, str]]:
    """Decode ``images`` of ``split`` and score them against all their references.

    ``features`` overrides the split's image features (e.g. zeros for an image-blind
    baseline).  Returns the scores and the decoded {image: sentence}.
    """
    images = eval_images(data, split, None) if images is None else np.asarray(images)
    refs = split_references(data, split, images)
    feats = data[f"{split}_features"][images] if features is None else features
    hyps: dict[int, str] = {}
    for start in range(0, len(images), batch_size):
        tokens = decode(model, feats[start : start + batch_size], **decode_args)
        for i, sentence in zip(images[start : start + batch_size], caption_strings(tokens, data["idx_to_word"])):
            hyps[int(i)] = sentence
    return score_captions(refs, hyps), hyps


def mean_loss(model, captions: np.ndarray, features: np.ndarray, batch_size: int = 512) -> float:
    """Average per-caption loss (the training objective) over a fixed set of captions."""
    total = 0.0
    for start in range(0, len(captions), batch_size):
        batch = captions[start : start + batch_size]
        total += model.nll(features[start : start + batch_size], batch) * len(batch)
    return total / max(len(captions), 1)
