"""One selection rule for the grid's confirmation step, the results tables and the registry's champion."""

import numpy as np
import pandas as pd
import pytest

from captioning.meteor import METEOR_STATS
from captioning.pipeline.records import GridChoice, History, MeteorScores, Scores
from captioning.pipeline.select import select_point
from captioning.pipeline.selection import Selection, val_score
from captioning.pipeline.tables import run_table

HEALTH = {"mean_length": 8.0, "repeats": 0.0, "never_ends": 0.0, "vocabulary": 20}
NUMERICS = {"cpu": "x", "blas": "openblas", "blas_kernel": "Haswell", "numpy": "2", "numba": "0", "python": "3"}
# val at each run's kept epoch (epoch 2): rnn-a leads by BLEU-4, rnn-b by CIDEr-D
VAL = {"rnn-a": {"BLEU-4": 0.30, "CIDEr-D": 0.9}, "rnn-b": {"BLEU-4": 0.28, "CIDEr-D": 1.1}}


def history(point: str, seed: int) -> History:
    val = VAL[point]
    epochs = [
        {"epoch": 1, "val_BLEU-4": val["BLEU-4"] - 0.1, "val_CIDEr-D": val["CIDEr-D"] + 5},  # not the kept epoch
        {"epoch": 2, "val_BLEU-4": val["BLEU-4"], "val_CIDEr-D": val["CIDEr-D"]},
    ]
    summary = {"select_metric": "BLEU-4", "best_val_BLEU-4": val["BLEU-4"], "best_epoch": 2, "seconds": 1.0}
    return History(point, seed, [2.0, 1.0], epochs, 1, summary, NUMERICS)


def scores(point: str, seed: int) -> Scores:
    greedy = {"BLEU-4": 0.5, "CIDEr-D": 1.0}
    return Scores(point, "rnn", seed, "rnn", "image", "test", 10, {"greedy": greedy}, 0.3, "m", False, None, HEALTH)


@pytest.mark.parametrize(("metric", "best"), [("BLEU-4", "rnn-a"), ("CIDEr-D", "rnn-b")])
def test_a_grid_whose_metrics_disagree_is_picked_by_the_one_setting_everywhere(tmp_path, metric, best):
    runs = [(p, s) for p in VAL for s in (0, 1)]
    files = []
    for p, s in runs:
        files.append(tmp_path / f"{p}-{s}.json")
        history(p, s).write(files[-1])
    select_point(files, "rnn", tmp_path / "choice.json", metric)  # the confirmation step
    assert GridChoice.read(tmp_path / "choice.json").point == best
    assert GridChoice.read(tmp_path / "choice.json").val == pytest.approx({p: v[metric] for p, v in VAL.items()})
    nan = {r: {"greedy": np.full((10, 6), np.nan)} for r in runs}
    meteor = MeteorScores(np.arange(10), nan, METEOR_STATS, {r: {"greedy": "greedy"} for r in runs})
    table = run_table([scores(p, s) for p, s in runs], [history(p, s) for p, s in runs], metric, meteor)  # collect
    assert table["greedy_METEOR"].isna().all()  # no Java when the meteor step ran
    assert set(table["select_metric"]) == {metric}
    assert Selection.by_val(table).best_in_group == {"rnn": best}  # the ★ in summary.md
    table.to_csv(tmp_path / "runs.csv", index=False)
    assert Selection.by_val(pd.read_csv(tmp_path / "runs.csv")).champion == best  # register reads runs.csv


def test_a_run_is_compared_at_the_epoch_it_kept():
    assert val_score(history("rnn-b", 0), "CIDEr-D") == 1.1  # not epoch 1's 6.1
    assert val_score(history("rnn-b", 0), "BLEU-4") == 0.28
