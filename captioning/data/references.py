"""A split's references, and the images an evaluation scores: what scoring needs of a dataset besides features.

Shapes: n captions, m images.
"""

from __future__ import annotations

import numpy as np

from ..vocab import decode_captions


def split_references(data: dict, split: str, images=None) -> dict[int, list[str]]:
    """{image index: [reference sentences]} for the split's images (all of them, or ``images``)."""
    idxs = data[f"{split}_image_idxs"]
    keep = np.isin(idxs, images) if images is not None else np.ones(len(idxs), dtype=bool)
    refs: dict[int, list[str]] = {int(i): [] for i in (np.unique(idxs[keep]) if images is None else images)}
    for i, sentence in zip(
        idxs[keep], decode_captions(data[f"{split}_captions"][keep], data["idx_to_word"], plain=True), strict=True
    ):
        refs[int(i)].append(sentence)
    return refs


def eval_images(data: dict, split: str, max_images: int | None) -> np.ndarray:
    """The first ``max_images`` images of a split that have captions (all when None)."""
    images = np.unique(data[f"{split}_image_idxs"])
    return images if max_images is None else images[:max_images]
