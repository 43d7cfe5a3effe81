"""A data directory's splits, opened once for a workflow step.

:func:`open_dataset` parses each file once: the captions, vocabulary, features
and URLs of the splits (the notebook's dict) and the PCA stored with the PCA
features. The :class:`Dataset` names exactly the files it parsed, so the digest
that MLflow's lineage records is of what the step read, computed only if asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from ..errors import DataError
from . import layout
from .coco import read_splits
from .pca import PCA


@dataclass(frozen=True)
class Dataset:
    """``splits`` of the data in ``directory``: ``data`` (load_coco_data's dict), the PCA fitted on train
    (None for raw features), and the files parsed."""

    directory: Path
    splits: tuple[str, ...]
    data: dict = field(repr=False)
    pca: PCA | None = field(repr=False)
    files: tuple[Path, ...]

    @property
    def name(self) -> str:
        """The dataset's name in MLflow: its directory's, with the splits (``synthetic-trainval``)."""
        return f"{self.directory.name}-{''.join(self.splits)}"

    @cached_property
    def digest(self) -> str:
        """Short content hash of exactly the files parsed (read again, once, when asked)."""
        return layout.hash_files(self.files).hexdigest()[:16]


def open_dataset(directory, splits=layout.TRAINING_SPLITS, pca: bool = True) -> Dataset:
    """Parse ``splits`` of ``directory`` once (PCA features and their PCA by default); one-line errors."""
    directory = Path(directory)
    data, fitted = read_splits(directory, tuple(splits), pca, "open_dataset")
    files = tuple(directory / name for name in layout.split_files(splits, pca=pca))
    return Dataset(directory, tuple(splits), data, fitted, files)


def load_images(path) -> np.ndarray:
    """The stored pixels (m, S, S, 3) uint8 of a split's ``{split}2014_images.h5``; a missing file is an error."""
    path = Path(path)
    with layout.open_h5(path, "load_images") as f:
        images = layout.read_datasets(f, path, ["images"], "load_images")["images"]
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise DataError(
            f"load_images: {path}: 'images' must be uint8 of shape (m, S, S, 3), got {images.dtype} {images.shape}"
        )
    return images
