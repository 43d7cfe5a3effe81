"""The test split is read only for the reported scores: training and selection never touch it."""

import json
import shutil

import numpy as np
import pytest

from captioning.data import layout
from captioning.data.coco import load_coco_data
from captioning.errors import DataError
from captioning.pipeline.records import Captions, ImageScores, Samples, Scores
from captioning.pipeline.score import ScoreFiles, ScoreSettings, score_run
from captioning.pipeline.train import train_run

EXPERIMENT = {
    "name": "tiny",
    "cell_type": "lstm",
    "wordvec_dim": 8,
    "hidden_dim": 16,
    "learning_rate": 1e-2,
    "batch_size": 25,
    "num_epochs": 2,
    "eval_images": 10,
    "beam_width": 2,
}


def files_of(directory, splits):
    return [directory / n for n in layout.split_files(splits, pca=True)] + [
        directory / layout.features_file(s, pca=False) for s in splits
    ]


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    return {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "experiment": "split-test"}


def test_training_and_selection_never_read_the_test_split(small_dataset, tmp_path, tracking):
    """Train once with the test files present and once with them deleted: the same parameters and history."""
    with_test, without_test = tmp_path / "with", tmp_path / "without"
    shutil.copytree(small_dataset, with_test)
    shutil.copytree(small_dataset, without_test)
    removed = [p for p in without_test.iterdir() if p.name.startswith("test2014")]
    assert len(removed) == 5
    for path in removed:
        path.unlink()
    with pytest.raises(DataError, match="missing file .*test2014_captions.h5"):
        load_coco_data(without_test, splits=("test",))  # the test split really is gone
    assert not any(k.startswith("test_") for k in load_coco_data(with_test))  # the notebook's loader: train and val

    train_run(with_test, EXPERIMENT, 0, tracking, tmp_path / "run_a", progress=False)
    train_run(without_test, EXPERIMENT, 0, tracking, tmp_path / "run_b", progress=False)
    a, b = np.load(tmp_path / "run_a/model.npz"), np.load(tmp_path / "run_b/model.npz")
    assert sorted(a.files) == sorted(b.files)
    for key in a.files:
        np.testing.assert_array_equal(a[key], b[key])
    ha = json.loads((tmp_path / "run_a/history.json").read_text())
    hb = json.loads((tmp_path / "run_b/history.json").read_text())
    assert ha["epoch_history"] == hb["epoch_history"] and ha["loss_history"] == hb["loss_history"]


def test_scoring_reads_the_test_split_alone(small_dataset, tmp_path, tracking):
    """With train and val deleted, scoring still works: every reported number comes from test."""
    data = tmp_path / "data"
    shutil.copytree(small_dataset, data)
    run = tmp_path / "run"
    train_run(data, EXPERIMENT, 0, tracking, run, progress=False)
    for path in files_of(data, layout.TRAINING_SPLITS):
        if layout.VOCAB_FILE not in path.name:
            path.unlink(missing_ok=True)
    out = {k: tmp_path / f"out/{k}" for k in ("scores.json", "image_scores.npz", "samples.json", "captions.json")}
    files = ScoreFiles(*out.values())
    score_run(data, run / "model.npz", EXPERIMENT, run / "run.json", files, ScoreSettings(n_samples=4))
    scores = Scores.read(out["scores.json"])
    assert (scores.split, scores.n_images, scores.experiment, scores.seed) == ("test", 20, EXPERIMENT["name"], 0)
    image_scores = ImageScores.read(out["image_scores.npz"])
    assert (image_scores.experiment, image_scores.seed) == (EXPERIMENT["name"], 0)
    np.testing.assert_array_equal(image_scores.images, np.arange(20))
    stats = image_scores.stats
    assert set(stats) == {"greedy", "beam"} and stats["greedy"].shape == (20, 12)
    captions = Captions.read(out["captions.json"])  # every caption, for the meteor step
    assert captions.images == list(range(20)) and captions.labels == {"greedy": "greedy", "beam": "beam2"}
    assert [s["greedy"] for s in Samples.read(out["samples.json"]).samples] == captions.captions["greedy"][:4]
    test = load_coco_data(data, splits=("test",))
    samples = Samples.read(out["samples.json"])
    assert (samples.experiment, samples.seed) == (EXPERIMENT["name"], 0)
    for s in samples.samples:  # the grid's ground truth is the test image's own first reference
        first = test["test_captions"][test["test_image_idxs"] == s["image"]][0]
        words = [test["idx_to_word"][t] for t in first if t > 3]
        assert s["gt"][0] == " ".join(words)


def test_decode_length_is_the_setting_or_the_split_captions_length_less_start():
    from captioning.pipeline.score import decode_length

    data = {"val_captions": np.zeros((3, 17), dtype=np.int32), "test_captions": np.zeros((2, 12), dtype=np.int32)}
    assert decode_length(None, data, "val") == 16
    assert decode_length(None, data, "test") == 11
    assert decode_length(9, data, "test") == 9
