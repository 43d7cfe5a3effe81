"""fit_pca against scikit-learn, chunked and from HDF5, and prepare_pca's output files."""

import h5py
import numpy as np
import pytest
from sklearn.decomposition import PCA as SkPCA

from captioning.data import layout
from captioning.data.pca import fit_pca, prepare_pca
from captioning.errors import DataError


def correlated(rng, n=400, F=30, dtype=np.float64):
    A = rng.standard_normal((F, F)) * np.linspace(3, 0.1, F)
    return (rng.standard_normal((n, F)) @ A + rng.standard_normal(F) * 5).astype(dtype)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-9), (np.float32, 2e-4)])
@pytest.mark.parametrize("chunk_rows", [37, 4096])
def test_matches_scikit_learn(rng, dtype, tol, chunk_rows):
    X = correlated(rng, dtype=dtype)
    ours = fit_pca(X, 8, chunk_rows=chunk_rows)
    ref = SkPCA(n_components=8, svd_solver="full").fit(X.astype(np.float64))
    np.testing.assert_allclose(ours.mean_, ref.mean_, rtol=tol, atol=tol)
    np.testing.assert_allclose(ours.components_, ref.components_, atol=tol * 10)
    np.testing.assert_allclose(ours.explained_variance_, ref.explained_variance_, rtol=tol)
    np.testing.assert_allclose(ours.explained_variance_ratio_, ref.explained_variance_ratio_, rtol=tol)
    Z = ours.transform(X, chunk_rows=chunk_rows)
    assert Z.dtype == np.float32 and Z.shape == (400, 8)
    np.testing.assert_allclose(Z, ref.transform(X.astype(np.float64)), atol=1e-3 * np.abs(Z).max())


def test_reads_hdf5_datasets_in_chunks(rng, tmp_path):
    X = correlated(rng, dtype=np.float32)
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["features"] = X
    with h5py.File(tmp_path / "x.h5", "r") as f:
        from_h5 = fit_pca(f["features"], 5, chunk_rows=64)
    in_memory = fit_pca(X, 5, chunk_rows=64)
    np.testing.assert_array_equal(from_h5.components_, in_memory.components_)


def test_bad_dimensions(rng):
    X = correlated(rng, n=10, F=30)
    with pytest.raises(ValueError, match=r"fit_pca: dim must be an integer in \[1, min\(n, F\)\] = \[1, 10\], got 11"):
        fit_pca(X, 11)
    with pytest.raises(ValueError, match=r"fit_pca: X must be 2-D"):
        fit_pca(X[0], 2)


def test_prepare_pca_writes_features_and_model(small_dataset):
    for split, n in (("train", 60), ("val", 20), ("test", 20)):
        with h5py.File(small_dataset / layout.features_file(split, pca=True)) as f:
            assert f["features"].shape == (n, 32) and f["features"].dtype == np.float32
            assert f["pca/components"].shape[0] == 32 and f["pca"].attrs["n_samples"] == 60
            ratio = f["pca/explained_variance_ratio"][()]
            assert np.all(np.diff(ratio) <= 1e-12) and 0 < ratio.sum() <= 1
    with (
        h5py.File(small_dataset / "train2014_vgg16_fc7.h5") as raw,
        h5py.File(small_dataset / "train2014_vgg16_fc7_pca.h5") as out,
    ):
        ref = SkPCA(n_components=32, svd_solver="full").fit(raw["features"][()].astype(np.float64))
        np.testing.assert_allclose(np.abs(out["features"][()]), np.abs(ref.transform(raw["features"][()])), atol=1e-3)
    with (  # test is transformed with the components fitted on train
        h5py.File(small_dataset / "test2014_vgg16_fc7.h5") as raw,
        h5py.File(small_dataset / "test2014_vgg16_fc7_pca.h5") as out,
    ):
        np.testing.assert_allclose(np.abs(out["features"][()]), np.abs(ref.transform(raw["features"][()])), atol=1e-3)


def test_prepare_pca_rejects_too_many_dims_and_writes_nothing(dataset_copy):
    for split in layout.SPLITS:
        (dataset_copy / layout.features_file(split, pca=True)).unlink()
    with pytest.raises(DataError, match=r"prepare_pca: .*train2014_vgg16_fc7\.h5: fit_pca: dim must be .* got 100"):
        prepare_pca(dataset_copy, dim=100, progress=False)
    assert not list(dataset_copy.glob("*_pca.h5")) and not list(dataset_copy.glob(".*tmp"))
