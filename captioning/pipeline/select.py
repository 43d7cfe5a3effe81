"""The select step: which point of a grid val picks, before that point alone trains the grid's ``confirm_seeds``."""

from __future__ import annotations

import pandas as pd

from .records import GridChoice, History
from .selection import best_in_groups, val_score


def select_point(history_files, group: str, out_json, select_metric: str) -> str:
    """Pick ``group``'s best point by val ``select_metric`` from its runs' ``history.json`` (the seeds all its
    points train)."""
    histories = [History.read(p) for p in history_files]
    rows = [{"experiment": h.experiment, "group": group, "val_select": val_score(h, select_metric)} for h in histories]
    runs = pd.DataFrame(rows)
    best = best_in_groups(runs)[group]
    val = runs.groupby("experiment", sort=False)["val_select"].mean()
    GridChoice(group, best, {e: float(v) for e, v in val.items()}).write(out_json)
    return f"{group}: val picks {best} ({select_metric} {val[best]:.3f} over {len(val)} points)"
