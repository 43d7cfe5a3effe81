"""The synthetic default dataset: deterministic, well-formed, features from pixels only."""

import hashlib

import h5py
import numpy as np
import pytest

from captioning.data import layout, scenes, synthetic
from captioning.data.coco import load_coco_data
from captioning.data.features import N_FEATURES, extract_features
from captioning.errors import ConfigError
from captioning.vocab import decode_captions


def digest(directory, names):
    return {n: hashlib.sha256((directory / n).read_bytes()).hexdigest() for n in names}


def images(directory, split):
    with h5py.File(directory / layout.images_file(split)) as f:
        return f["images"][()]


def test_test_split_is_an_independent_stream(tmp_path):
    """Growing the test split changes neither train nor val, and extends the test images; no test image is a val one."""
    synthetic.generate(tmp_path / "a", synthetic.SyntheticConfig(n_train=12, n_val=6, n_test=4, seed=7), progress=False)
    synthetic.generate(tmp_path / "d", synthetic.SyntheticConfig(n_train=12, n_val=6, n_test=8, seed=7), progress=False)
    for split in layout.TRAINING_SPLITS:
        np.testing.assert_array_equal(images(tmp_path / "a", split), images(tmp_path / "d", split))
    np.testing.assert_array_equal(images(tmp_path / "a", "test"), images(tmp_path / "d", "test")[:4])
    val, test = images(tmp_path / "d", "val"), images(tmp_path / "d", "test")
    assert not any(np.array_equal(v, t) for v in val for t in test)
    data = load_coco_data(tmp_path / "d", pca_features=False, splits=("test",))
    assert data["test_captions"].shape == (40, 17) and data["test_features"].shape[0] == 8
    assert not any(k.startswith(("train_", "val_")) for k in data)


def test_same_seed_same_bytes_and_val_independent_of_train_size(tmp_path):
    cfg = synthetic.SyntheticConfig(n_train=12, n_val=6, n_test=4, seed=7)
    synthetic.generate(tmp_path / "a", cfg, progress=False)
    synthetic.generate(tmp_path / "b", cfg, progress=False)
    synthetic.generate(tmp_path / "c", synthetic.SyntheticConfig(n_train=20, n_val=6, n_test=4, seed=7), progress=False)
    names = [*layout.raw_files(), *(layout.images_file(s) for s in layout.SPLITS)]
    assert digest(tmp_path / "a", names) == digest(tmp_path / "b", names)
    with h5py.File(tmp_path / "a" / "val2014_images.h5") as a, h5py.File(tmp_path / "c" / "val2014_images.h5") as c:
        np.testing.assert_array_equal(a["images"][()], c["images"][()])
    with h5py.File(tmp_path / "a" / "train2014_images.h5") as a, h5py.File(tmp_path / "c" / "train2014_images.h5") as c:
        assert c["images"].shape[0] == 20
        np.testing.assert_array_equal(a["images"][()], c["images"][:12])  # a larger split extends a smaller one
    assert not list((tmp_path / "a").glob(".*"))  # no temporary files left behind


def test_layout_vocabulary_and_captions(small_dataset):
    data = load_coco_data(small_dataset)
    assert data["idx_to_word"][:4] == ["<NULL>", "<START>", "<END>", "<UNK>"]
    for split, n_images in (("train", 60), ("val", 20)):
        caps, idxs = data[f"{split}_captions"], data[f"{split}_image_idxs"]
        assert caps.shape == (5 * n_images, 17)
        np.testing.assert_array_equal(np.bincount(idxs, minlength=n_images), 5)
        assert (caps[:, 0] == 1).all() and not (caps == 3).any()  # <START> first, no <UNK>
        assert ((caps == 2).sum(axis=1) == 1).all()  # exactly one <END>
        per_image = {}
        for i, s in zip(idxs, decode_captions(caps, data["idx_to_word"], plain=True), strict=True):
            per_image.setdefault(int(i), []).append(s)
        # five captions per image in (mostly) different phrasings
        assert np.mean([len(set(v)) for v in per_image.values()]) > 3.5


def test_every_template_word_is_in_the_vocabulary_and_fits():
    vocab = set(scenes.vocabulary())
    rng = np.random.default_rng(0)
    for _ in range(2000):
        scene = scenes.random_scene(rng, max_objects=3)
        for caption in scenes.captions_for(scene, rng, k=5):
            assert set(caption.split()) <= vocab, caption
            assert len(caption.split()) <= 15
        assert 1 <= len(scene) <= 3


def test_memory_captions_list_the_objects_then_recall_what_the_description_named_in_its_order():
    vocab = set(scenes.vocabulary("memory"))
    assert vocab - set(scenes.vocabulary()) == {"from", "order"}
    standard_rng, memory_rng = np.random.default_rng(3), np.random.default_rng(3)
    gaps, recalled = [], 0
    for _ in range(1000):
        scene = scenes.random_scene(standard_rng, max_objects=3)
        assert scenes.random_scene(memory_rng, max_objects=3) == scene  # the tail draws nothing
        descriptions = scenes.captions_for(scene, standard_rng, k=5)
        for description, caption in zip(
            descriptions, scenes.captions_for(scene, memory_rng, k=5, style="memory"), strict=True
        ):
            assert set(caption.split()) <= vocab and len(caption.split()) <= scenes.MEMORY_WORDS, caption
            head, listing = caption.split(" , from left to right : ")
            assert head == description
            listing, _, recall = listing.partition(" , in order : ")
            by_x = sorted(scene, key=lambda o: o.x)
            assert listing.split(" , ") == [f"{o.color} {o.shape}" for o in by_x], caption
            # what the description named, in its order: "colour shape" where the shape follows, else the colour
            words = description.split()
            named = []
            for i, w in enumerate(words):
                if w in scenes.COLORS:
                    follows = words[i + 1] if i + 1 < len(words) else ""
                    named.append(f"{w} {follows}" if follows in scenes.SHAPES else w)
            assert recall.split(" , ") == named if named else recall == "", caption
            if named:
                recalled += 1
                all_words = caption.split()
                first = next(i for i, w in enumerate(all_words) if w in scenes.COLORS)
                gaps.append(len(all_words) - len(recall.split()) - first)
    assert recalled > 4900  # nearly every description names a colour
    assert min(gaps) >= 13 and np.median(gaps) >= 20  # the first fact waits through the listing


def test_captions_mention_the_objects():
    rng = np.random.default_rng(1)
    for _ in range(200):
        scene = scenes.random_scene(rng)
        for caption in scenes.captions_for(scene, rng):
            words = set(caption.split())
            colour = any(o.color in words for o in scene)
            shape = any({o.shape, scenes.PLURAL[o.shape]} & words for o in scene)
            assert colour or shape, caption
            assert not {c for c in scenes.COLORS if c in words} - {o.color for o in scene}, caption  # no wrong colours


def test_features_come_from_pixels_only(small_dataset):
    with h5py.File(small_dataset / "val2014_images.h5") as f:
        images = f["images"][()]
    with h5py.File(small_dataset / "val2014_vgg16_fc7.h5") as f:
        stored = f["features"][()]
    assert images.dtype == np.uint8 and images.shape == (20, 64, 64, 3)
    assert stored.shape == (20, N_FEATURES)
    np.testing.assert_array_equal(extract_features(images), stored)
    # a pure colour change of the same pixels changes the features
    swapped = images[..., ::-1].copy()
    assert not np.allclose(extract_features(swapped), stored)


def test_features_do_not_depend_on_batching_or_threads(small_dataset):
    with h5py.File(small_dataset / "train2014_images.h5") as f:
        images = f["images"][:40]
    one = extract_features(images)
    np.testing.assert_array_equal(extract_features(images, batch_size=7, workers=3), one)
    with pytest.raises(ValueError, match="workers must be a positive integer, got 0"):
        extract_features(images, workers=0)


def test_relation_words_follow_geometry():
    a = scenes.Obj("circle", "red", "small", 0.2, 0.5)
    b = scenes.Obj("square", "blue", "small", 0.8, 0.45)
    c = scenes.Obj("square", "blue", "small", 0.25, 0.9)
    assert scenes._relation(a, b) == "to the left of" and scenes._relation(b, a) == "to the right of"
    assert scenes._relation(a, c) == "above" and scenes._relation(c, a) == "below"


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"n_train": 0}, r"synthetic.n_train must be a positive integer, got 0"),
        ({"image_size": 30}, r"synthetic.image_size must be a multiple of 4 and >= 16, got 30"),
        ({"caption_length": 3}, r"synthetic.caption_length must be >= 4, got 3"),
        ({"captions": "long"}, r"synthetic.captions must be one of \['standard', 'memory'\], got 'long'"),
        ({"captions": "memory"}, r"synthetic.caption_length must be >= 43 with captions: memory .*41 words.*, got 17"),
    ],
)
def test_bad_config(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        synthetic.SyntheticConfig(**kwargs)


def test_a_block_of_the_config_is_named_in_its_errors():
    with pytest.raises(ConfigError, match=r"^memory.caption_length must be >= 43 with captions: memory"):
        synthetic.SyntheticConfig.from_section("memory", {"captions": "memory"})
