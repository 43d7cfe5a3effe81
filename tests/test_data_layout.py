"""load_coco_data, sample_coco_minibatch, decode_captions: the notebook's contract and every bad input."""

import json
import re

import h5py
import numpy as np
import pytest

from captioning.data import layout
from captioning.data.coco import decode_captions, load_coco_data, sample_coco_minibatch
from captioning.errors import DataError


def test_loader_returns_the_seeds_keys_shapes_and_dtypes(small_dataset):
    data = load_coco_data(small_dataset)
    assert set(data) == {
        "train_captions",
        "train_image_idxs",
        "val_captions",
        "val_image_idxs",
        "train_features",
        "val_features",
        "idx_to_word",
        "word_to_idx",
        "train_urls",
        "val_urls",
    }
    assert data["train_captions"].shape == (300, 17) and data["train_captions"].dtype == np.int32
    assert data["val_captions"].shape == (100, 17)
    assert data["train_image_idxs"].shape == (300,) and data["train_image_idxs"].dtype == np.int32
    assert data["train_features"].shape == (60, 32) and data["train_features"].dtype == np.float32
    assert data["val_features"].shape == (20, 32)
    assert data["train_urls"].shape == (60,) and data["train_urls"].dtype.kind == "U"
    assert data["train_urls"][3] == "synthetic://train2014/000003.png"
    assert isinstance(data["idx_to_word"], list) and isinstance(data["word_to_idx"], dict)
    assert data["idx_to_word"][:4] == ["<NULL>", "<START>", "<END>", "<UNK>"]
    raw = load_coco_data(small_dataset, pca_features=False)
    assert raw["train_features"].shape[1] > 32


def test_max_train_is_seeded_without_replacement_and_leaves_global_rng_alone(small_dataset):
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    a = load_coco_data(small_dataset, max_train=50, seed=3)
    b = load_coco_data(small_dataset, max_train=50, seed=3)
    c = load_coco_data(small_dataset, max_train=50, seed=4)
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    assert a["train_captions"].shape == (50, 17)
    np.testing.assert_array_equal(a["train_captions"], b["train_captions"])
    assert not np.array_equal(a["train_image_idxs"], c["train_image_idxs"])
    full = load_coco_data(small_dataset)
    rows = {tuple(r) + (i,) for r, i in zip(full["train_captions"], full["train_image_idxs"], strict=True)}
    picked = [tuple(r) + (i,) for r, i in zip(a["train_captions"], a["train_image_idxs"], strict=True)]
    assert set(picked) <= rows and len(set(picked)) == len(picked) == 50
    with pytest.raises(DataError, match=r"max_train must be an integer in \[1, 300\], got 301"):
        load_coco_data(small_dataset, max_train=301)


def test_sample_minibatch_is_seeded_and_consistent(small_dataset):
    data = load_coco_data(small_dataset)
    caps, feats, urls = sample_coco_minibatch(data, batch_size=7, split="val", seed=5)
    caps2, feats2, _ = sample_coco_minibatch(data, batch_size=7, split="val", seed=np.random.default_rng(5))
    assert caps.shape == (7, 17) and feats.shape == (7, 32) and urls.shape == (7,)
    np.testing.assert_array_equal(caps, caps2)
    np.testing.assert_array_equal(feats, feats2)
    for c, f in zip(caps, feats, strict=True):  # each feature row belongs to an image this caption describes
        rows = np.flatnonzero((data["val_captions"] == c).all(axis=1))
        assert any(np.array_equal(data["val_features"][data["val_image_idxs"][r]], f) for r in rows)
    with pytest.raises(ValueError, match="split must be one of"):
        sample_coco_minibatch(data, split="test")


def test_decode_captions_has_the_notebooks_semantics():
    idx_to_word = ["<NULL>", "<START>", "<END>", "<UNK>", "a", "cat"]
    caps = np.array([[1, 4, 5, 2, 0, 0], [1, 4, 0, 5, 2, 4]])
    assert decode_captions(caps, idx_to_word) == ["<START> a cat <END>", "<START> a cat <END>"]
    assert decode_captions(caps[0], idx_to_word) == "<START> a cat <END>"


def rewrite_h5(path, key, value):
    with h5py.File(path, "a") as f:
        del f[key]
        f[key] = value


def message(base):
    with pytest.raises(DataError) as info:
        load_coco_data(base)
    text = str(info.value)
    assert "\n" not in text and text.startswith("load_coco_data: ")
    return text


def test_missing_file(dataset_copy):
    (dataset_copy / "val2014_vgg16_fc7_pca.h5").unlink()
    assert re.search(r"missing file .*val2014_vgg16_fc7_pca\.h5$", message(dataset_copy))


def test_missing_directory(tmp_path):
    assert "dataset directory" in message(tmp_path / "nope") and "does not exist" in message(tmp_path / "nope")


def test_missing_key(dataset_copy):
    with h5py.File(dataset_copy / layout.CAPTIONS_FILE, "a") as f:
        del f["val_image_idxs"]
    assert (
        "coco2014_captions.h5 has no dataset 'val_image_idxs' "
        "(it holds: train_captions, train_image_idxs, val_captions)" in message(dataset_copy)
    )


def test_truncated_hdf5(dataset_copy):
    path = dataset_copy / "train2014_vgg16_fc7_pca.h5"
    path.write_bytes(path.read_bytes()[:2000])
    assert "train2014_vgg16_fc7_pca.h5 is not a readable HDF5 file (truncated or corrupt?)" in message(dataset_copy)


def test_garbage_file(dataset_copy):
    (dataset_copy / layout.CAPTIONS_FILE).write_text("not hdf5")
    assert "coco2014_captions.h5 is not a readable HDF5 file" in message(dataset_copy)


def test_wrong_feature_dtype(dataset_copy):
    rewrite_h5(dataset_copy / "train2014_vgg16_fc7_pca.h5", "features", np.zeros((60, 32), dtype=np.int64))
    assert "'features' must be a 2-D float array (m, F), got int64 (60, 32)" in message(dataset_copy)


def test_wrong_caption_shape_and_dtype(dataset_copy):
    rewrite_h5(dataset_copy / layout.CAPTIONS_FILE, "train_captions", np.zeros(300, dtype=np.int32))
    assert "'train_captions' must be a 2-D integer array (n, T+1), got int32 (300,)" in message(dataset_copy)


def test_float_captions(dataset_copy):
    rewrite_h5(dataset_copy / layout.CAPTIONS_FILE, "val_captions", np.zeros((100, 17)))
    assert "'val_captions' must be a 2-D integer array (n, T+1), got float64 (100, 17)" in message(dataset_copy)


def test_image_idxs_length_mismatch(dataset_copy):
    rewrite_h5(dataset_copy / layout.CAPTIONS_FILE, "train_image_idxs", np.zeros(5, dtype=np.int32))
    assert "'train_image_idxs' must be integers of shape (300,), got int32 (5,)" in message(dataset_copy)


def test_caption_ids_outside_vocabulary(dataset_copy):
    with h5py.File(dataset_copy / layout.CAPTIONS_FILE, "a") as f:
        caps = f["train_captions"][()]
        caps[4, 3] = 999
        del f["train_captions"]
        f["train_captions"] = caps
    text = message(dataset_copy)
    assert "'train_captions' holds token id 999 outside the vocabulary range [0, " in text


def test_image_index_out_of_range(dataset_copy):
    with h5py.File(dataset_copy / layout.CAPTIONS_FILE, "a") as f:
        idxs = f["val_image_idxs"][()]
        idxs[0] = 20
        del f["val_image_idxs"]
        f["val_image_idxs"] = idxs
    assert "'val_image_idxs' holds image index 20 outside [0, 20)" in message(dataset_copy)


def test_vocabulary_without_special_tokens(dataset_copy):
    path = dataset_copy / layout.VOCAB_FILE
    vocab = json.loads(path.read_text())
    words = [w for w in vocab["idx_to_word"] if w not in ("<START>", "<UNK>")]
    path.write_text(json.dumps({"idx_to_word": words, "word_to_idx": {w: i for i, w in enumerate(words)}}))
    assert "vocabulary lacks the special tokens <START>, <UNK> (expected <NULL>, <START>, <END>, <UNK>)" in message(
        dataset_copy
    )


def test_inconsistent_vocabulary(dataset_copy):
    path = dataset_copy / layout.VOCAB_FILE
    vocab = json.loads(path.read_text())
    vocab["word_to_idx"]["red"] = 0
    path.write_text(json.dumps(vocab))
    assert "'word_to_idx' and 'idx_to_word' disagree" in message(dataset_copy)


def test_vocabulary_not_json(dataset_copy):
    (dataset_copy / layout.VOCAB_FILE).write_text("{oops")
    assert "coco2014_vocab.json is not valid JSON" in message(dataset_copy)


def test_url_count_mismatch(dataset_copy):
    path = dataset_copy / "val2014_urls.txt"
    path.write_text("\n".join(path.read_text().splitlines()[:-1]) + "\n")
    assert "val2014_urls.txt has 19 URLs but" in message(dataset_copy)
