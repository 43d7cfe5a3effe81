"""The notebook's COCO loaders: ``load_coco_data``, ``sample_coco_minibatch``, ``decode_captions``.

Shapes: n captions of T + 1 = 17 tokens; m images; F feature size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from ..vocab import decode_captions
from . import layout
from .pca import PCA

__all__ = ["decode_captions", "load_coco_data", "sample_coco_minibatch"]


def load_coco_data(
    base_dir="data/synthetic", max_train=None, pca_features=True, seed=0, splits=layout.TRAINING_SPLITS
) -> dict:
    """Load a dataset in the cs231n layout (see :mod:`captioning.data.layout`).

    Returns the notebook's dict: ``{split}_captions`` int32 (n, 17), ``{split}_image_idxs``
    int32 (n,), ``{split}_features`` float32 (m, F), ``{split}_urls`` str (m,),
    ``idx_to_word`` and ``word_to_idx``, for each of ``splits`` (by default train
    and val, as the notebook's loader; only ``splits=("test",)`` reads the test files).
    ``max_train`` keeps that many training captions, drawn without replacement
    with ``seed`` (an int or a Generator).  Every inconsistency raises
    :class:`~captioning.errors.DataError` naming the file.
    """
    data, _ = read_splits(base_dir, splits, pca_features, "load_coco_data")
    if max_train is not None and "train" in splits:
        n = len(data["train_captions"])
        if not isinstance(max_train, (int, np.integer)) or not 0 < max_train <= n:
            raise DataError(f"load_coco_data: max_train must be an integer in [1, {n}], got {max_train!r}")
        keep = np.sort(np.random.default_rng(seed).choice(n, size=int(max_train), replace=False))
        data["train_captions"] = data["train_captions"][keep]
        data["train_image_idxs"] = data["train_image_idxs"][keep]
    return data


def read_splits(base_dir, splits, pca_features: bool, fn: str) -> tuple[dict, PCA | None]:
    """The notebook's dict of ``splits`` (see :func:`load_coco_data`) and, with ``pca_features``, the PCA
    stored beside the features (read in the same pass: each file is opened once)."""
    base = Path(base_dir)
    if not base.is_dir():
        raise DataError(f"{fn}: dataset directory {base} does not exist")
    unknown = [s for s in splits if s not in layout.SPLITS]
    if unknown or not splits:
        raise DataError(f"{fn}: splits must be a non-empty subset of {layout.SPLITS}, got {tuple(splits)!r}")
    data: dict = {}
    pca = None
    for split in splits:
        cap_path = base / layout.captions_file(split)
        data.update(layout.read_h5(cap_path, [f"{split}_captions", f"{split}_image_idxs"], fn))
    idx_to_word, word_to_idx = layout.read_vocab(base / layout.VOCAB_FILE, fn)
    V = len(idx_to_word)
    for split in splits:
        cap_path = base / layout.captions_file(split)
        feat_path = base / layout.features_file(split, pca_features)
        with layout.open_h5(feat_path, fn) as f:
            feats = layout.read_datasets(f, feat_path, ["features"], fn)["features"]
            if pca_features and pca is None:
                pca = _read_pca(f, feat_path, fn)
        if feats.ndim != 2 or feats.dtype.kind != "f":
            raise DataError(
                f"{fn}: {feat_path}: 'features' must be a 2-D float array (m, F), got {feats.dtype} {feats.shape}"
            )
        urls = layout.read_urls(base / layout.urls_file(split), fn)
        if len(urls) != len(feats):
            raise DataError(
                f"{fn}: {base / layout.urls_file(split)} has {len(urls)} URLs but {feat_path} has {len(feats)} images"
            )
        caps, idxs = data[f"{split}_captions"], data[f"{split}_image_idxs"]
        if caps.ndim != 2 or caps.shape[1] < 2 or caps.dtype.kind not in "iu":
            raise DataError(
                f"{fn}: {cap_path}: '{split}_captions' must be a 2-D integer array (n, T+1), "
                f"got {caps.dtype} {caps.shape}"
            )
        if idxs.shape != (len(caps),) or idxs.dtype.kind not in "iu":
            raise DataError(
                f"{fn}: {cap_path}: '{split}_image_idxs' must be integers of shape ({len(caps)},), "
                f"got {idxs.dtype} {idxs.shape}"
            )
        if caps.size and (caps.min() < 0 or caps.max() >= V):
            bad = caps.min() if caps.min() < 0 else caps.max()
            raise DataError(
                f"{fn}: {cap_path}: '{split}_captions' holds token id {bad} outside the vocabulary range [0, {V})"
            )
        if idxs.size and (idxs.min() < 0 or idxs.max() >= len(feats)):
            bad = idxs.min() if idxs.min() < 0 else idxs.max()
            raise DataError(f"{fn}: {cap_path}: '{split}_image_idxs' holds image index {bad} outside [0, {len(feats)})")
        data[f"{split}_captions"] = caps.astype(np.int32, copy=False)
        data[f"{split}_image_idxs"] = idxs.astype(np.int32, copy=False)
        data[f"{split}_features"] = feats.astype(np.float32, copy=False)
        data[f"{split}_urls"] = urls
    data["idx_to_word"], data["word_to_idx"] = idx_to_word, word_to_idx
    return data, pca


def _read_pca(f, path: Path, fn: str) -> PCA:
    """The PCA that prepare_pca stored under ``pca/`` of a PCA features file."""
    try:
        return PCA.from_group(f["pca"])
    except (KeyError, OSError, RuntimeError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataError(f"{fn}: {path} holds no readable PCA model under 'pca/' ({reason})") from None


def sample_coco_minibatch(data: dict, batch_size=100, split="train", seed=None):
    """Draw ``batch_size`` captions (with replacement, as the notebook does).

    Returns ``(captions (B, T+1), features (B, F), urls (B,))``.  ``seed`` is an
    int or a ``numpy.random.Generator``; the global ``np.random`` is never used.
    """
    if f"{split}_captions" not in data:
        loaded = tuple(s for s in layout.SPLITS if f"{s}_captions" in data)
        raise ValueError(f"sample_coco_minibatch: split must be one of the loaded splits {loaded}, got {split!r}")
    captions = data[f"{split}_captions"]
    pick = np.random.default_rng(seed).integers(len(captions), size=batch_size)
    image_idxs = data[f"{split}_image_idxs"][pick]
    return captions[pick], data[f"{split}_features"][image_idxs], data[f"{split}_urls"][image_idxs]
