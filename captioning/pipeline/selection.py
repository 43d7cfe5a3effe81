"""What val selects: each grid's best point, the best experiment and the image-blind baseline.

One rule for the results tables (collect) and the registry's ``champion`` (register):
the highest best-val score of the solver's selection metric, averaged over seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..errors import CaptioningError


class SelectionError(CaptioningError, ValueError):
    """Val cannot select what the report needs."""


@dataclass(frozen=True)
class Selection:
    """What val chose: each group's best experiment, the best image-conditioned one, the best image-blind one."""

    best_in_group: dict
    best: str
    blind: str | None

    @classmethod
    def by_val(cls, runs: pd.DataFrame) -> Selection:
        val = runs.groupby("experiment", sort=False)["val_select"].mean()
        first = runs.drop_duplicates("experiment").set_index("experiment")
        best_in_group = {g: val[list(e)].idxmax() for g, e in first.groupby("group", sort=False).groups.items()}
        seeing = [e for e in val.index if first.loc[e, "features"] == "image"]
        blind = [e for e in val.index if first.loc[e, "features"] != "image"]
        if not seeing:
            raise SelectionError("collect: no image-conditioned experiment (features: image) to report")
        return cls(best_in_group, val[seeing].idxmax(), val[blind].idxmax() if blind else None)
