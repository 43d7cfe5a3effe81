"""Principal component analysis in bounded memory, with scikit-learn's attribute names.

Shapes: n samples, F input features, k components.  ``X`` may be a NumPy array
or an ``h5py.Dataset``: it is read ``chunk_rows`` rows at a time, and only the
(F, F) covariance is held in float64, never a float64 copy of X.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from tqdm.auto import tqdm

from ..atomic import atomic_path
from ..errors import DataError
from . import layout

log = logging.getLogger(__name__)


@dataclass
class PCA:
    mean_: np.ndarray  # (F,) float64
    components_: np.ndarray  # (k, F), rows are unit principal axes, largest variance first
    explained_variance_: np.ndarray  # (k,)
    explained_variance_ratio_: np.ndarray  # (k,)
    n_samples_: int

    @property
    def n_components_(self) -> int:
        return self.components_.shape[0]

    def transform(self, X, chunk_rows: int = 4096, progress: bool = False) -> np.ndarray:
        """(n, F) -> (n, k) float32, projected onto the components after centring."""
        n, F = X.shape
        if F != self.mean_.shape[0]:
            raise ValueError(f"PCA.transform: X must have {self.mean_.shape[0]} features, got {F}")
        out = np.empty((n, self.n_components_), dtype=np.float32)
        comps = self.components_.T.astype(np.float32)
        mean = self.mean_.astype(np.float32)
        for start in tqdm(range(0, n, chunk_rows), desc="PCA transform", disable=not progress, unit="chunk"):
            chunk = np.asarray(X[start : start + chunk_rows], dtype=np.float32)
            np.matmul(chunk - mean, comps, out=out[start : start + len(chunk)])
        return out

    def save(self, group: h5py.Group) -> None:
        for name in ("mean_", "components_", "explained_variance_", "explained_variance_ratio_"):
            group.create_dataset(name.rstrip("_"), data=getattr(self, name))
        group.attrs["n_samples"] = self.n_samples_

    @classmethod
    def from_group(cls, group: h5py.Group) -> PCA:
        """The PCA that :meth:`save` wrote into ``group``."""
        names = ("mean_", "components_", "explained_variance_", "explained_variance_ratio_")
        return cls(*(group[n.rstrip("_")][()] for n in names), int(group.attrs["n_samples"]))


def fit_pca(X, dim: int, chunk_rows: int = 4096, progress: bool = False) -> PCA:
    """Fit ``dim`` principal components of X (n, F) from its covariance, in chunks.

    Component signs follow scikit-learn: the largest-magnitude entry of each
    component is positive.
    """
    if X.ndim != 2:
        raise ValueError(f"fit_pca: X must be 2-D (n, F), got shape {X.shape}")
    n, F = X.shape
    if not isinstance(dim, (int, np.integer)) or not 1 <= dim <= min(n, F):
        raise ValueError(f"fit_pca: dim must be an integer in [1, min(n, F)] = [1, {min(n, F)}], got {dim!r}")
    if n < 2:
        raise ValueError(f"fit_pca: need at least 2 samples, got {n}")
    dtype = np.float64 if X.dtype == np.float64 else np.float32
    starts = range(0, n, chunk_rows)
    total = np.zeros(F)
    for start in tqdm(starts, desc="PCA mean", disable=not progress, unit="chunk"):
        total += np.asarray(X[start : start + chunk_rows], dtype=np.float64).sum(axis=0)
    mean = total / n
    cov = np.zeros((F, F))
    mean_c = mean.astype(dtype)
    for start in tqdm(starts, desc="PCA covariance", disable=not progress, unit="chunk"):
        chunk = np.asarray(X[start : start + chunk_rows], dtype=dtype) - mean_c
        cov += chunk.T @ chunk
    cov /= n - 1
    evals, evecs = np.linalg.eigh(cov)
    order = np.argsort(evals)[::-1][:dim]
    evals = np.clip(evals[order], 0.0, None)
    comps = evecs[:, order].T
    signs = np.sign(comps[np.arange(dim), np.abs(comps).argmax(axis=1)])
    comps *= signs[:, None]
    total_var = float(np.trace(cov))
    ratio = evals / total_var if total_var > 0 else np.zeros_like(evals)
    return PCA(mean, comps, evals, ratio, n)


def prepare_pca(base_dir, dim: int = 512, chunk_rows: int = 4096, progress: bool = True) -> PCA:
    """Fit PCA on the train split's raw features and write every split's ``*_pca.h5`` file.

    Each output holds ``features`` (m, dim) float32 and the fitted model under ``pca/``.
    """
    fn = "prepare_pca"
    base = Path(base_dir)
    raw = {s: base / layout.features_file(s, pca=False) for s in layout.SPLITS}
    files = {s: layout.open_h5(p, fn) for s, p in raw.items()}
    try:
        for split, f in files.items():
            if "features" not in f or f["features"].ndim != 2 or f["features"].dtype.kind != "f":
                raise DataError(f"{fn}: {raw[split]} must hold a 2-D float dataset 'features'")
        train = files["train"]["features"]
        for split, f in files.items():
            if f["features"].shape[1] != train.shape[1]:
                raise DataError(
                    f"{fn}: {raw[split]} has {f['features'].shape[1]} features per image "
                    f"but {raw['train']} has {train.shape[1]}"
                )
        try:
            pca = fit_pca(train, dim, chunk_rows, progress)
        except ValueError as err:
            raise DataError(f"{fn}: {raw['train']}: {err}") from None
        for split, f in files.items():
            with atomic_path(base / layout.features_file(split, pca=True)) as tmp:
                with h5py.File(tmp, "w") as out:
                    out.create_dataset("features", data=pca.transform(f["features"], chunk_rows, progress))
                    pca.save(out.create_group("pca"))
    finally:
        for f in files.values():
            f.close()
    kept = 100 * float(pca.explained_variance_ratio_.sum())
    log.info(f"PCA: {train.shape[1]} -> {dim} dims keeps {kept:.1f}% of the train variance ({pca.n_samples_} images)")
    return pca
