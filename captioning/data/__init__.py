"""Datasets in the cs231n ``coco_captioning`` layout: loading, PCA features, COCO download, synthetic data."""

from . import layout
from .coco import decode_captions, load_coco_data, sample_coco_minibatch
from .download import download, extract_layout, fetch_coco
from .pca import PCA, fit_pca, prepare_pca
from .synthetic import SyntheticConfig, generate

__all__ = [
    "PCA",
    "SyntheticConfig",
    "decode_captions",
    "download",
    "extract_layout",
    "fetch_coco",
    "fit_pca",
    "generate",
    "layout",
    "load_coco_data",
    "prepare_pca",
    "sample_coco_minibatch",
]
