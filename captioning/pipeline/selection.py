"""What val selects: each grid's best point, the best experiment and the image-blind baseline.

One rule for the grid's confirmation step (select), the results tables (collect)
and the registry's ``best`` and ``champion`` (register): each run's :func:`val_score`
by the workflow's selection metric (config ``evaluation.select_metric``), averaged
over seeds, highest wins.  Within a grid only the seeds every point trained count
(a ``confirm`` run, a seed only the chosen point trains afterwards, never changes
which point that was).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..errors import CaptioningError
from .records import History


class SelectionError(CaptioningError, ValueError):
    """Val cannot select what the report needs."""


def val_score(history: History, metric: str) -> float:
    """What a run is compared by: its val ``metric`` at the epoch whose parameters it kept (that epoch is chosen
    by the run's own objective: BLEU-4 for cross-entropy, CIDEr-D for self-critical fine-tuning)."""
    return float(history.val_at_best(metric))


def best_in_groups(runs: pd.DataFrame) -> dict[str, str]:
    """{group: its experiment with the highest mean val score over the seeds all its points share}.

    ``runs``: one row per run with ``experiment``, ``group``, ``val_select`` and, optionally,
    ``confirm`` (True for a confirmation seed).
    """
    base = runs[~runs["confirm"].astype(bool)] if "confirm" in runs else runs
    val = base.groupby("experiment", sort=False)["val_select"].mean()
    groups = base.drop_duplicates("experiment").groupby("group", sort=False)["experiment"]
    return {g: val[list(e)].idxmax() for g, e in groups}


@dataclass(frozen=True)
class Selection:
    """What val chose: each group's best experiment; the best image-conditioned cross-entropy experiment
    (what comparisons of cells and of the image-blind baseline start from); the best image-blind one; and
    the champion, the best image-conditioned experiment of all (a fine-tuned one too)."""

    best_in_group: dict
    best: str
    blind: str | None
    champion: str

    @classmethod
    def by_val(cls, runs: pd.DataFrame) -> Selection:
        """Each group's best, then the best of those (a grid competes through its chosen point only)."""
        val = runs.groupby("experiment", sort=False)["val_select"].mean()
        first = runs.drop_duplicates("experiment").set_index("experiment")
        in_group = best_in_groups(runs)
        chosen = [e for e in val.index if in_group[first.loc[e, "group"]] == e]
        seeing = [e for e in chosen if first.loc[e, "features"] == "image"]
        blind = [e for e in chosen if first.loc[e, "features"] != "image"]
        # (read back from runs.csv, an empty init_from is NaN)
        tuned = (
            set(first.index[first["init_from"].map(lambda v: isinstance(v, str) and v != "")])
            if "init_from" in first
            else set()
        )
        trained = [e for e in seeing if e not in tuned]
        if not trained:
            raise SelectionError("collect: no image-conditioned cross-entropy experiment (features: image) to report")
        return cls(in_group, val[trained].idxmax(), val[blind].idxmax() if blind else None, val[seeing].idxmax())
