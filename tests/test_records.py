"""The hand-off records: each round-trips, and a damaged or foreign file is one line naming it."""

import json

import numpy as np
import pytest

from captioning.errors import CaptioningError
from captioning.metrics import SCORE_COLUMNS
from captioning.pipeline.records import (
    GridChoice,
    History,
    HumanAgreement,
    ImageScores,
    RecordError,
    ResumeState,
    RunRecord,
    Samples,
    Scores,
)

RUN = RunRecord("abc", "sqlite:////x/mlflow.db", "1", "lstm", 2, "parent", ["old"])
SUMMARY = {"select_metric": "BLEU-4", "best_val_BLEU-4": 0.4, "best_epoch": 1, "seconds": 1.5}
NUMERICS = {"cpu": "c", "blas": "b", "blas_kernel": "k", "numpy": "1", "numba": "2", "python": "3"}
HISTORY = History("lstm", 2, [3.0, 2.5], [{"epoch": 1, "val_BLEU-4": 0.4}], 2, SUMMARY, NUMERICS)
HEALTH = {"mean_length": 8.5, "repeats": 0.0, "never_ends": 0.0, "vocabulary": 20}
SCORES = Scores(
    "lstm", "lstm", 2, "lstm", "image", "test", 3, {"greedy": {"BLEU-4": 0.5}}, 0.3, "m", False, None, HEALTH
)


@pytest.mark.parametrize(
    "record",
    [
        RUN,
        HISTORY,
        SCORES,
        ResumeState("abc", "http://127.0.0.1:5000", "f00"),
        HumanAgreement("test", 60, {"BLEU-4": 0.4, "CIDEr-D": 2.2}),
        Samples("lstm", 0, [{"image": 3, "gt": ["a red circle"], "greedy": "a circle", "beam": None}]),
        GridChoice("rnn", "rnn-h8", {"rnn-h8": 1}),
    ],
)
def test_json_records_round_trip_with_their_format(record, tmp_path):
    path = tmp_path / "r.json"
    record.write(path)
    assert type(record).read(path) == record
    assert json.loads(path.read_text())["format"] == f"captioning-{record.KIND}-1"


def test_history_names_what_selection_reads():
    assert (HISTORY.select_metric, HISTORY.best_val, HISTORY.best_epoch, HISTORY.seconds) == ("BLEU-4", 0.4, 1, 1.5)


def test_image_scores_round_trip(tmp_path):
    stats = {"greedy": np.arange(36, dtype=np.float64).reshape(3, 12)}
    ImageScores("lstm", 2, np.array([4, 5, 6]), stats, SCORE_COLUMNS).write(tmp_path / "s.npz")
    back = ImageScores.read(tmp_path / "s.npz")
    assert (back.experiment, back.seed, list(back.stats), back.columns) == ("lstm", 2, ["greedy"], SCORE_COLUMNS)
    np.testing.assert_array_equal(back.images, [4, 5, 6])
    np.testing.assert_array_equal(back.stats["greedy"], stats["greedy"])


@pytest.mark.parametrize(
    "content, message",
    [
        (None, r"r\.json: run record not found"),
        ("{", r"r\.json: not a readable run record \(Expecting"),
        (b"\xff\xfe\x00", r"r\.json: not a readable run record"),
        ('{"format": "captioning-scores-1"}', r"r\.json: format 'captioning-scores-1', expected 'captioning-run-1'"),
        ("[1, 2]", r"r\.json: format 'list', expected 'captioning-run-1'"),
        ('{"format": "captioning-run-1", "run_id": "a"}', r"r\.json: run record lacks the key 'tracking_uri'"),
    ],
)
def test_a_bad_record_is_one_line_naming_the_file(tmp_path, content, message):
    path = tmp_path / "r.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(RecordError, match=message) as info:
        RunRecord.read(path)
    assert isinstance(info.value, CaptioningError) and "\n" not in str(info.value)


def test_a_truncated_or_foreign_image_scores_file_is_one_line(tmp_path):
    good = tmp_path / "good.npz"
    ImageScores("lstm", 0, np.arange(3), {"greedy": np.zeros((3, 12))}, SCORE_COLUMNS).write(good)
    truncated = tmp_path / "t.npz"
    truncated.write_bytes(good.read_bytes()[:100])
    with pytest.raises(RecordError, match=r"t\.npz: not a readable image_scores record"):
        ImageScores.read(truncated)
    np.savez(tmp_path / "plain.npz", images=np.arange(3))
    with pytest.raises(RecordError, match=r"plain\.npz: not a readable image_scores record"):
        ImageScores.read(tmp_path / "plain.npz")
    bad = tmp_path / "bad.npz"
    ImageScores("lstm", 0, np.arange(3), {"greedy": np.zeros((2, 12))}, SCORE_COLUMNS).write(bad)
    with pytest.raises(RecordError, match=r"bad\.npz: greedy has shape \(2, 12\), expected \(3, 12\)"):
        ImageScores.read(bad)
