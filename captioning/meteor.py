"""METEOR 1.5 (Denkowski and Lavie 2014): the jar that pycocoevalcap ships, run when Java is installed.

The jar aligns each caption with each of its image's references (exact words,
stems, WordNet synonyms, paraphrases) and keeps the best reference's statistics.
Those statistics add up over images, and the jar's corpus score is a function of
their sums (its ``EVAL``), so :func:`meteor_stats` gives each image's row and
:func:`meteor_from_sums` the corpus METEOR of any set of rows, a bootstrap
resample included, exactly as the jar aggregates them. The jar runs as
pycocoevalcap and COCO's evaluation server run it: English, normalised
(``-l en -norm``).

One process scores any number of captions: it takes 5 s and 1 GB to load its
paraphrase table, so the workflow starts it once per sweep (docs/benchmarks.md).
Without Java the statistics are NaN, every METEOR figure reads "–", and one log
line says how to install it.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .errors import CaptioningError

log = logging.getLogger(__name__)

METEOR = "METEOR"
# Per image, from the jar's statistics of its best reference: the weighted lengths and matches of
# caption and reference, its chunks (0 for a caption that matches its reference whole, as the jar
# sums them) and the words matched on both sides.
METEOR_STATS = (
    "meteor_test_len",
    "meteor_ref_len",
    "meteor_test_match",
    "meteor_ref_match",
    "meteor_chunks",
    "meteor_word_match",
)
# Meteor 1.5's English parameters (its "default" task): alpha, beta, gamma, delta, and the weights of
# its exact, stem, synonym and paraphrase matches.
ALPHA, BETA, GAMMA, DELTA = 0.85, 0.20, 0.60, 0.75
MODULE_WEIGHTS = (1.0, 0.6, 0.8, 0.6)
JAVA_HINT = "METEOR needs Java, which is not installed (apt-get install default-jre-headless); its scores read –"
JAR_MEMORY = "-Xmx2G"  # pycocoevalcap's setting: the paraphrase table takes most of it
_RAW_STATS = 23  # the numbers of one SCORE answer (Meteor 1.5's MeteorStats)


class MeteorError(CaptioningError, RuntimeError):
    """The METEOR jar could not start or stopped answering."""


def java() -> str | None:
    """The java executable on PATH, or None."""
    return shutil.which("java")


def jar() -> Path:
    """pycocoevalcap's meteor-1.5.jar."""
    from pycocoevalcap.meteor import meteor as wrapper

    return Path(wrapper.__file__).with_name(wrapper.METEOR_JAR)


def _clean(sentence: str) -> str:
    """A sentence as one field of the jar's line protocol (pycocoevalcap's cleaning)."""
    return sentence.replace("|||", "").replace("  ", " ")


class _Jar:
    """One METEOR process, answering ``SCORE`` lines on its standard streams."""

    def __init__(self, executable: str):
        self.cmd = [executable, "-jar", JAR_MEMORY, str(jar()), "-", "-", "-stdio", "-l", "en", "-norm"]
        try:
            self.proc = subprocess.Popen(
                self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        except OSError as err:
            raise MeteorError(f"METEOR: cannot start {executable} -jar {jar()}: {err}") from None

    def stats(self, references: list[str], caption: str) -> np.ndarray:
        """The jar's 23 statistics of ``caption`` against its best reference."""
        line = "SCORE ||| " + " ||| ".join(_clean(s) for s in (*references, caption)) + "\n"
        try:
            self.proc.stdin.write(line.encode())
            self.proc.stdin.flush()
            answer = self.proc.stdout.readline().decode().split()
        except BrokenPipeError:
            answer = []
        if len(answer) != _RAW_STATS:
            raise MeteorError(f"METEOR: {jar()} stopped answering: {self._why()}")
        return np.array(answer, dtype=np.float64)

    def _why(self) -> str:
        self.proc.kill()
        err = self.proc.stderr.read().decode().strip().splitlines()
        return (err[-1] if err else "no message") + f" (exit code {self.proc.wait()})"

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except BrokenPipeError:  # the jar has ended already: what it said is in the error being raised
            pass
        self.proc.wait(timeout=60)
        self.proc.stdout.close()
        self.proc.stderr.close()


def _row(raw: np.ndarray) -> np.ndarray:
    """The :data:`METEOR_STATS` of the jar's 23 statistics of one image (Meteor 1.5's MeteorStats layout:
    lengths and function words of test and reference, 4 x 4 matches per module, chunks, matched words)."""
    test_len, ref_len, test_func, ref_func = raw[:4]
    stages = raw[4:20].reshape(4, 4)  # per module: test content, ref content, test function, ref function
    chunks, test_words, ref_words = raw[20:23]
    w = np.asarray(MODULE_WEIGHTS)
    test_match = (w * (DELTA * stages[:, 0] + (1 - DELTA) * stages[:, 2])).sum()
    ref_match = (w * (DELTA * stages[:, 1] + (1 - DELTA) * stages[:, 3])).sum()
    whole = stages[:, [0, 2]].sum() == test_len and stages[:, [1, 3]].sum() == ref_len and chunks == 1
    return np.array(
        [
            DELTA * (test_len - test_func) + (1 - DELTA) * test_func,
            DELTA * (ref_len - ref_func) + (1 - DELTA) * ref_func,
            test_match,
            ref_match,
            0.0 if whole else chunks,
            test_words + ref_words,
        ]
    )


def meteor_stats(refs: dict, hyps_list: list[dict], progress: bool = False) -> list[np.ndarray]:
    """Per caption set of ``hyps_list`` ({image: caption}), its (M, len(METEOR_STATS)) statistics against
    ``refs`` ({image: [reference, ...]}), images in its order; one jar scores them all, each distinct
    (image, caption) pair once (runs, seeds and decoders often agree).

    Without Java every row is NaN, and one log line says how to install it.
    """
    for hyps in hyps_list:
        missing = [i for i in hyps if i not in refs or not refs[i]]
        if missing:
            raise ValueError(f"meteor_stats: no references for images {missing[:3]}")
    executable = java()
    if executable is None:
        log.warning(JAVA_HINT)
        return [np.full((len(h), len(METEOR_STATS)), np.nan) for h in hyps_list]
    pairs = list(dict.fromkeys(pair for hyps in hyps_list for pair in hyps.items()))
    process = _Jar(executable)
    try:
        known = {
            pair: _row(process.stats(refs[pair[0]], pair[1]))
            for pair in tqdm(pairs, disable=not progress, unit="caption", desc="METEOR")
        }
    finally:
        process.close()
    return [np.array([known[pair] for pair in hyps.items()]).reshape(-1, len(METEOR_STATS)) for hyps in hyps_list]


def meteor_from_sums(sums: np.ndarray) -> np.ndarray:
    """Corpus METEOR (...) from :data:`METEOR_STATS` summed over images (..., 6): the jar's ``EVAL`` score.

    NaN sums (no Java) give NaN.
    """
    test_len, ref_len, test_match, ref_match, chunks, words = np.moveaxis(np.asarray(sums, dtype=np.float64), -1, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision, recall = test_match / test_len, ref_match / ref_len
        f_mean = precision * recall / (ALPHA * precision + (1 - ALPHA) * recall)
        fragmentation = chunks / (words / 2)
        score = f_mean * (1 - GAMMA * fragmentation**BETA)
    known = ~np.isnan(sums).any(axis=-1)
    matched = known & (test_match > 0) & (ref_match > 0)
    return np.where(known, np.where(matched, np.maximum(score, 0.0), 0.0), np.nan)


def meteor(refs: dict, hyps: dict) -> float:
    """Corpus METEOR of ``hyps`` {image: caption} against ``refs`` {image: [reference, ...]}; NaN without Java."""
    return float(meteor_from_sums(meteor_stats(refs, [hyps])[0].sum(axis=0)))
