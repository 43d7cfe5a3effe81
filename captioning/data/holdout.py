"""COCO's held-out test split: a seeded subset of val2014, moved into the test files.

The cs231n archive has train2014 and val2014 only.  5,000 val2014 images (by
default) become the test split: a seeded random choice, or exactly the test
images of Karpathy's split (``coco.test_split: karpathy``), the split published
COCO scores use; val keeps the rest and is used only for selection.  Both features files record each row's position in
the archive's val2014 (``source_index``), so every image stays traceable.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from ..errors import DataError
from . import layout
from .karpathy import karpathy_test_mask

SOURCE = "val"  # the archive's split the test images come from


def hold_out_test(data_dir, n_test: int, seed: int, karpathy_split=None, annotations=None) -> str:
    """Rewrite ``data_dir``'s val files without ``n_test`` seeded images and write those as the test split.

    With ``karpathy_split`` (the path of Karpathy's ``dataset_coco.json``), the test
    split is exactly its test images instead (:mod:`captioning.data.karpathy`;
    ``annotations``: COCO's ``captions_val2014.json``, for URLs without a COCO id).
    Works in place on a freshly extracted layout (the caller makes it atomic).
    Memory: one copy of val's raw features (663 MB for COCO).
    """
    fn = "hold_out_test"
    base = Path(data_dir)
    feat_path = base / layout.features_file(SOURCE, pca=False)
    feats = layout.read_h5(feat_path, ["features"], fn)["features"]
    n_images = len(feats)
    urls = layout.read_urls(base / layout.urls_file(SOURCE), fn)
    if karpathy_split is not None:
        is_test = karpathy_test_mask(urls, karpathy_split, annotations)
        n_test, how = int(is_test.sum()), f"Karpathy's test split ({Path(karpathy_split).name})"
        chosen_by = {"holdout.split": "karpathy"}
    else:
        if not isinstance(n_test, (int, np.integer)) or not 1 <= n_test < n_images:
            raise DataError(
                f"{fn}: coco.test_images must be an integer in [1, {n_images - 1}] "
                f"(the archive's {SOURCE}2014 has {n_images} images), got {n_test!r}"
            )
        rng = np.random.default_rng([seed, n_images])
        is_test = np.zeros(n_images, dtype=bool)
        is_test[rng.choice(n_images, size=int(n_test), replace=False)] = True
        how = f"a seeded random hold-out (seed {seed})"
        chosen_by = {"holdout.seed": seed}
    attrs = {"holdout.source": f"{SOURCE}2014", "holdout.n_test": int(n_test), **chosen_by}
    rows = {layout.TEST_SPLIT: np.flatnonzero(is_test), SOURCE: np.flatnonzero(~is_test)}  # archive order kept

    cap_path = base / layout.CAPTIONS_FILE
    captions = layout.read_h5(cap_path, [f"{SOURCE}_captions", f"{SOURCE}_image_idxs"], fn)
    new_caps = {}
    for split, keep in rows.items():
        new_index = np.full(n_images, -1, dtype=np.int64)
        new_index[keep] = np.arange(len(keep))
        mine = new_index[captions[f"{SOURCE}_image_idxs"]] >= 0
        new_caps[split] = (
            captions[f"{SOURCE}_captions"][mine],
            new_index[captions[f"{SOURCE}_image_idxs"][mine]].astype(np.int32),
        )
        with h5py.File(base / layout.features_file(split, pca=False), "w") as f:
            f.create_dataset("features", data=feats[keep])
            f.create_dataset("source_index", data=keep)
            f.attrs.update(attrs)
        (base / layout.urls_file(split)).write_text("".join(f"{u}\n" for u in urls[keep]))

    with h5py.File(cap_path, "r") as f:  # rewritten whole: HDF5 never shrinks a file in place
        others = {k: f[k][()] for k in f if not k.startswith(f"{SOURCE}_")}
        other_attrs = dict(f.attrs)
    for split, path in ((SOURCE, cap_path), (layout.TEST_SPLIT, base / layout.TEST_CAPTIONS_FILE)):
        with h5py.File(path, "w") as f:
            if split == SOURCE:
                for key, value in others.items():
                    f.create_dataset(key, data=value)
                f.attrs.update(other_attrs)
            f.create_dataset(f"{split}_captions", data=new_caps[split][0])
            f.create_dataset(f"{split}_image_idxs", data=new_caps[split][1])
            f.attrs.update(attrs)
    return (
        f"held out {len(rows[layout.TEST_SPLIT])} of {n_images} {SOURCE}2014 images as test, {how}; "
        f"val keeps {len(rows[SOURCE])}"
    )
