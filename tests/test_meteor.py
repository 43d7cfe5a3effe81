"""METEOR 1.5 against pycocoevalcap's Meteor (the same jar, its own aggregation): per image, per corpus and on
bootstrap resamples; without Java, NaN and one log line; a jar that dies is a one-line error.

Without Java the tests that run the jar skip with the reason; with CI=true they fail (.ci/run installs Java).
"""

import json
import logging
import os
import shutil

import numpy as np
import pytest
from pycocoevalcap.meteor.meteor import Meteor

from captioning.data import scenes
from captioning.meteor import JAVA_HINT, METEOR_STATS, MeteorError, meteor, meteor_from_sums, meteor_stats
from captioning.metrics import METRIC_NAMES, image_stats, metrics_of, with_meteor
from captioning.pipeline.records import MeteorScores, RecordError

NO_JAVA = None if shutil.which("java") else "METEOR needs Java (apt-get install default-jre-headless)"
if NO_JAVA and os.environ.get("CI") == "true":
    raise RuntimeError(f"METEOR tests cannot run: {NO_JAVA} (CI=true: they must run; .ci/run installs it)")
java_only = pytest.mark.skipif(NO_JAVA is not None, reason=str(NO_JAVA))


def captions(n: int, style: str, seed: int):
    """``n`` synthetic scenes: five references each and a sixth caption as the hypothesis."""
    rng = np.random.default_rng(seed)
    refs, hyps = {}, {}
    for i in range(n):
        caps = scenes.captions_for(scenes.random_scene(rng), rng, k=6, style=style)
        refs[i], hyps[i] = caps[:5], caps[5]
    return refs, hyps


@pytest.fixture(scope="module")
def scored():
    """Standard and memory captions, with a caption equal to a reference, one sharing no word, an empty one."""
    refs, hyps = captions(120, "standard", 0)
    hyps[3], hyps[4], hyps[5] = refs[3][2], "zebra", ""
    shared = {i: refs[i][0] if i % 2 else h for i, h in hyps.items()}  # half its pairs scored once for both
    mrefs, mhyps = captions(40, "memory", 1)
    standard, memory = meteor_stats(refs, [hyps, shared]), meteor_stats(mrefs, [mhyps])
    return {
        "standard": (refs, hyps, standard[0]),
        "shared": (refs, shared, standard[1]),
        "memory": (mrefs, mhyps, memory[0]),
    }


@pytest.fixture(scope="module")
def reference():
    jar = Meteor()  # its process ends with the object
    return lambda refs, hyps: jar.compute_score(refs, {i: [h] for i, h in hyps.items()})


@pytest.mark.slow
@java_only
@pytest.mark.parametrize("style", ["standard", "shared", "memory"])
def test_each_image_and_the_corpus_match_pycocoevalcap(scored, reference, style):
    refs, hyps, stats = scored[style]
    want, each = reference(refs, hyps)
    assert stats.shape == (len(hyps), len(METEOR_STATS))
    np.testing.assert_allclose(meteor_from_sums(stats), each, rtol=1e-9, atol=1e-12)
    assert float(meteor_from_sums(stats.sum(axis=0))) == pytest.approx(want, rel=1e-9)
    if style == "standard":
        assert meteor_from_sums(stats[3]) > 0.99 and meteor_from_sums(stats[4]) == 0 == meteor_from_sums(stats[5])


@pytest.mark.slow
@java_only
def test_a_bootstrap_resample_is_scored_as_the_jar_scores_it(scored, reference):
    """metrics_of on resampled rows (duplicates included) == the jar's corpus METEOR of the resampled captions."""
    refs, hyps, meteor_rows = scored["standard"]
    rows = with_meteor(image_stats(refs, hyps), meteor_rows)
    pick = np.random.default_rng(2).integers(0, len(hyps), size=(3, len(hyps)))
    batch = metrics_of(np.moveaxis(rows[pick], 2, 0))  # (K metrics, 3 resamples)
    k = METRIC_NAMES.index("METEOR")
    for b, drawn in enumerate(pick):
        want, _ = reference({j: refs[i] for j, i in enumerate(drawn)}, {j: hyps[i] for j, i in enumerate(drawn)})
        assert batch[k, b] == pytest.approx(want, rel=1e-9)


def test_without_java_the_scores_are_nan_and_one_line_says_how_to_get_it(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without java
    refs, hyps = captions(5, "standard", 3)
    with caplog.at_level(logging.WARNING, logger="captioning.meteor"):
        stats = meteor_stats(refs, [hyps, hyps])
        assert [r.getMessage() for r in caplog.records] == [JAVA_HINT]  # one line for all the captions
        assert np.isnan(meteor(refs, hyps))
    assert [s.shape for s in stats] == [(5, 6), (5, 6)] and all(np.isnan(s).all() for s in stats)
    assert "apt-get install default-jre-headless" in JAVA_HINT and "\n" not in JAVA_HINT


def test_a_jar_that_stops_answering_is_a_one_line_error(monkeypatch, tmp_path):
    java = tmp_path / "java"  # a java that fails as a JVM short of memory does
    java.write_text("#!/bin/sh\necho 'Error: Could not reserve enough space for object heap' >&2\nexit 1\n")
    java.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    refs, hyps = captions(3, "standard", 4)
    with pytest.raises(
        MeteorError, match=r"stopped answering: Error: Could not reserve enough space .*\(exit code 1\)"
    ):
        meteor_stats(refs, [hyps])


def test_missing_references_are_named():
    with pytest.raises(ValueError, match=r"meteor_stats: no references for images \[7\]"):
        meteor_stats({1: ["a cat"]}, [{1: "a cat", 7: "a dog"}])


def test_meteor_scores_round_trip_and_bad_files_are_one_line(tmp_path):
    runs = {("lstm", 0): {"greedy": np.arange(18.0).reshape(3, 6)}, ("rnn", 2): {"greedy": np.ones((3, 6))}}
    labels = {("lstm", 0): {"greedy": "greedy"}, ("rnn", 2): {"greedy": "greedy"}}
    MeteorScores(np.array([4, 5, 6]), runs, METEOR_STATS, labels).write(tmp_path / "m.npz")
    back = MeteorScores.read(tmp_path / "m.npz")
    assert back.columns == METEOR_STATS and list(back.runs) == [("lstm", 0), ("rnn", 2)] and back.labels == labels
    np.testing.assert_array_equal(back.runs[("lstm", 0)]["greedy"], runs[("lstm", 0)]["greedy"])
    np.testing.assert_array_equal(back.images, [4, 5, 6])
    (tmp_path / "t.npz").write_bytes((tmp_path / "m.npz").read_bytes()[:80])
    with pytest.raises(RecordError, match=r"t\.npz: not a readable meteor record"):
        MeteorScores.read(tmp_path / "t.npz")
    with pytest.raises(RecordError, match=r"none\.npz: meteor record not found"):
        MeteorScores.read(tmp_path / "none.npz")
    header = {"format": "captioning-meteor-1", "columns": list(METEOR_STATS), "runs": [["lstm", 0, "greedy"]]}
    np.savez(tmp_path / "short.npz", __header__=np.array(json.dumps(header)), images=np.arange(3))
    with pytest.raises(RecordError, match=r"short\.npz: not a readable meteor record \(its runs do not match"):
        MeteorScores.read(tmp_path / "short.npz")
    MeteorScores(np.array([4, 5]), runs, METEOR_STATS, labels).write(tmp_path / "bad.npz")
    with pytest.raises(RecordError, match=r"bad\.npz: lstm seed 0 greedy has shape \(3, 6\), expected \(2, 6\)"):
        MeteorScores.read(tmp_path / "bad.npz")
