"""Karpathy's COCO test split: which of the archive's val2014 images are its 5,000 test images.

Published COCO captioning scores (Rennie et al. 2017, self-critical.pytorch, ...) are on
the split of Karpathy and Fei-Fei (2015), given by ``dataset_coco.json``: every image
with its ``cocoid`` and ``split`` (``train``, ``restval``, ``val`` or ``test``); the
test images all come from val2014. The cs231n archive names its images by URL, so an
image's COCO id comes from its URL (``COCO_val2014_000000391895.jpg``,
``.../val2014/000000391895.jpg``) or, for URLs that carry none (Flickr's), from COCO's
own annotations file (``captions_val2014.json``: each image's ``id``, ``coco_url`` and
``flickr_url``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ..errors import DataError

SPLITS = ("random", "karpathy")  # coco.test_split
URL_ID = re.compile(r"(?:COCO_val2014_|/val2014/)0*(\d+)\.\w+$")


def _read_json(path, what: str) -> dict:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{what} {path}: file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{what} {path}: not readable JSON ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DataError(f"{what} {path}: expected a JSON object with an 'images' list")
    return data


def karpathy_test_ids(karpathy_json) -> set[int]:
    """The COCO ids of the images ``dataset_coco.json`` puts in its test split."""
    what = "coco.karpathy_split"
    ids = set()
    for i, image in enumerate(_read_json(karpathy_json, what)["images"]):
        if not isinstance(image, dict) or not isinstance(image.get("cocoid"), int) or "split" not in image:
            raise DataError(f"{what} {karpathy_json}: images[{i}] lacks an integer 'cocoid' or a 'split'")
        if image["split"] == "test":
            ids.add(image["cocoid"])
    if not ids:
        raise DataError(f"{what} {karpathy_json}: no image has split 'test'")
    return ids


def url_ids(urls, annotations=None) -> np.ndarray:
    """The COCO id of each URL: from the URL itself, else from COCO's annotations file."""
    by_url = {}
    if annotations is not None:
        for image in _read_json(annotations, "coco.annotations")["images"]:
            for key in ("coco_url", "flickr_url"):
                if isinstance(image, dict) and image.get(key) and isinstance(image.get("id"), int):
                    by_url[image[key]] = image["id"]
    ids = np.empty(len(urls), dtype=np.int64)
    for i, url in enumerate(urls):
        match = URL_ID.search(url)
        if match:
            ids[i] = int(match.group(1))
        elif url in by_url:
            ids[i] = by_url[url]
        else:
            hint = (
                f" and coco.annotations {annotations} does not list it"
                if annotations is not None
                else "; set coco.annotations to COCO's captions_val2014.json, which maps its URLs to ids"
            )
            raise DataError(f"coco.test_split karpathy: val2014 image {i}'s URL {url} carries no COCO id{hint}")
    return ids


def karpathy_test_mask(urls, karpathy_json, annotations=None) -> np.ndarray:
    """Which of the archive's val2014 images (by ``urls``) are Karpathy's test images; all must be present."""
    wanted = karpathy_test_ids(karpathy_json)
    ids = url_ids(urls, annotations)
    missing = sorted(wanted - set(ids.tolist()))
    if missing:
        raise DataError(
            f"coco.karpathy_split {karpathy_json}: {len(missing)} of its {len(wanted)} test images are not in "
            f"the archive's val2014 (first COCO id {missing[0]})"
        )
    return np.isin(ids, list(wanted))
