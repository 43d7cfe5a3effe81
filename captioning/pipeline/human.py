"""The human-ceiling step: how well the test references agree with each other (COCO's human baseline)."""

from __future__ import annotations

from ..data import layout
from ..data.dataset import open_dataset
from ..data.references import eval_images, split_references
from ..metrics import human_agreement
from .records import HumanAgreement

SPLIT = layout.TEST_SPLIT


def human_ceiling(data_dir, out_json, max_images: int | None = None) -> str:
    """Leave-one-out agreement of the test references with each other (COCO's human baseline)."""
    data = open_dataset(data_dir, splits=(SPLIT,)).data
    refs = split_references(data, SPLIT, eval_images(data, SPLIT, max_images))
    refs = {i: r for i, r in refs.items() if len(r) >= 2}
    scores = human_agreement(refs)
    HumanAgreement(SPLIT, len(refs), scores).write(out_json)
    b4, cider = scores["BLEU-4"], scores["CIDEr-D"]
    return f"human agreement on {len(refs)} {SPLIT} images: BLEU-4 {b4:.3f}, CIDEr-D {cider:.3f}"
