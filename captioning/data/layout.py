"""The cs231n ``coco_captioning`` directory layout, shared by COCO and the synthetic data.

| file | contents |
|---|---|
| coco2014_captions.h5 | train_captions, train_image_idxs, val_captions, val_image_idxs |
| test2014_captions.h5 | test_captions, test_image_idxs (the held-out test split, in a file of its own) |
| {split}2014_vgg16_fc7.h5 | features: raw image features (VGG-16 fc7 for COCO) |
| {split}2014_vgg16_fc7_pca.h5 | features: the same reduced by PCA, plus the fitted model under pca/ |
| coco2014_vocab.json | idx_to_word (list) and word_to_idx (dict) |
| {split}2014_urls.txt | one image URL per line |
| {split}2014_images.h5 | images: uint8 (n, S, S, 3); synthetic data only |

Splits: ``train`` fits the parameters, ``val`` selects (early stopping, the best
epoch, the best point of a grid), ``test`` is only for the reported scores.  The
test split lives in files of its own, so nothing that trains or selects has it
as an input.  The cs231n archive has train2014 and val2014 only; the COCO step
holds out a seeded subset of val2014 as test (:mod:`captioning.data.holdout`).
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from ..errors import DataError
from ..vocab import SPECIAL_TOKENS

SPLITS = ("train", "val", "test")
TRAINING_SPLITS = ("train", "val")  # all that training and selection read
TEST_SPLIT = "test"  # read only for the reported scores
CAPTIONS_FILE = "coco2014_captions.h5"  # train and val captions, as in the cs231n archive
TEST_CAPTIONS_FILE = "test2014_captions.h5"
VOCAB_FILE = "coco2014_vocab.json"


def captions_file(split: str) -> str:
    return TEST_CAPTIONS_FILE if split == TEST_SPLIT else CAPTIONS_FILE


def features_file(split: str, pca: bool) -> str:
    return f"{split}2014_vgg16_fc7{'_pca' if pca else ''}.h5"


def urls_file(split: str) -> str:
    return f"{split}2014_urls.txt"


def images_file(split: str) -> str:
    return f"{split}2014_images.h5"


def split_files(splits=SPLITS, pca: bool = False) -> list[str]:
    """The files that hold ``splits``: their captions, the vocabulary, features (raw or PCA) and URLs.

    ``split_files(SPLITS)`` is what a dataset step writes before PCA;
    ``split_files(splits, pca=True)`` is everything ``load_coco_data`` reads for ``splits``.
    """
    out = list(dict.fromkeys(captions_file(s) for s in splits)) + [VOCAB_FILE]
    for split in splits:
        out += [features_file(split, pca=pca), urls_file(split)]
    return out


def raw_files() -> list[str]:
    """Files a dataset step must produce before PCA, for all three splits."""
    return split_files(SPLITS, pca=False)


def pca_files(splits=SPLITS) -> list[str]:
    return [features_file(split, pca=True) for split in splits]


def hash_files(paths, algorithm: str = "sha256"):
    """One hash over the files' bytes, in order, read in blocks (any size stays in bounded memory)."""
    import hashlib

    h = hashlib.new(algorithm)
    for path in paths:
        with open(path, "rb") as f:
            while block := f.read(1 << 22):
                h.update(block)
    return h


def content_digest(data_dir, splits) -> str:
    """Short content hash of the files that hold ``splits`` (PCA features): what a step reading them sees."""
    return hash_files(Path(data_dir) / name for name in split_files(splits, pca=True)).hexdigest()[:16]


def open_h5(path: Path, fn: str) -> h5py.File:
    if not path.is_file():
        raise DataError(f"{fn}: missing file {path}")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        reason = str(err).splitlines()[0]
        raise DataError(f"{fn}: {path} is not a readable HDF5 file (truncated or corrupt?): {reason}") from None


def read_h5(path: str | Path, keys, fn: str) -> dict[str, np.ndarray]:
    """Read whole datasets ``keys`` from an HDF5 file, with one-line errors for every failure."""
    path = Path(path)
    with open_h5(path, fn) as f:
        return read_datasets(f, path, keys, fn)


def read_datasets(f: h5py.File, path: Path, keys, fn: str) -> dict[str, np.ndarray]:
    """Whole datasets ``keys`` of the open file ``f`` (``path``, for the messages)."""
    out = {}
    for key in keys:
        if key not in f or not isinstance(f[key], h5py.Dataset):
            raise DataError(
                f"{fn}: {path} has no dataset '{key}' (it holds: {', '.join(sorted(f.keys())) or 'nothing'})"
            )
        try:
            out[key] = f[key][()]
        except (OSError, RuntimeError) as err:
            reason = str(err).splitlines()[0]
            raise DataError(f"{fn}: cannot read '{key}' from {path} (truncated or corrupt?): {reason}") from None
    return out


def read_vocab(path: str | Path, fn: str) -> tuple[list[str], dict[str, int]]:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{fn}: missing file {path}")
    try:
        vocab = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{fn}: {path} is not valid JSON: {err}") from None
    if not isinstance(vocab, dict) or not {"idx_to_word", "word_to_idx"} <= vocab.keys():
        raise DataError(f"{fn}: {path} must hold an object with keys 'idx_to_word' and 'word_to_idx'")
    idx_to_word, word_to_idx = vocab["idx_to_word"], vocab["word_to_idx"]
    if not isinstance(idx_to_word, list) or not isinstance(word_to_idx, dict):
        raise DataError(f"{fn}: {path}: 'idx_to_word' must be a list and 'word_to_idx' a dict")
    missing = [t for t in SPECIAL_TOKENS if t not in word_to_idx]
    if missing:
        raise DataError(
            f"{fn}: {path}: vocabulary lacks the special tokens {', '.join(missing)} "
            f"(expected {', '.join(SPECIAL_TOKENS)})"
        )
    if len(idx_to_word) != len(word_to_idx) or any(
        not isinstance(i, int) or not 0 <= i < len(idx_to_word) or idx_to_word[i] != w for w, i in word_to_idx.items()
    ):
        raise DataError(
            f"{fn}: {path}: 'word_to_idx' and 'idx_to_word' disagree (expected word_to_idx[idx_to_word[i]] == i)"
        )
    return idx_to_word, word_to_idx


def read_urls(path: str | Path, fn: str) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{fn}: missing file {path}")
    return np.asarray([line.strip() for line in path.read_text().splitlines()])


def write_vocab(path: Path, idx_to_word: list[str]) -> None:
    path.write_text(json.dumps({"idx_to_word": idx_to_word, "word_to_idx": {w: i for i, w in enumerate(idx_to_word)}}))
