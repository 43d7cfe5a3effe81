"""The offline default dataset: rendered shape scenes with five captions each, in the cs231n layout.

Deterministic for a given seed: train, val and test draw from independent
child seeds, so changing the size of one split leaves the others unchanged.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import h5py
import numpy as np
from tqdm.auto import tqdm

from .. import _validate as check
from ..atomic import atomic_path
from ..errors import ConfigError
from ..vocab import END, NULL, START, UNK
from . import layout
from .features import extract_features
from .render import render
from .scenes import CAPTION_STYLES, MEMORY_WORDS, captions_for, random_scene, vocabulary

log = logging.getLogger(__name__)


MEMORY_LENGTH = MEMORY_WORDS + 2  # with <START> and <END>


@dataclass(frozen=True)
class SyntheticConfig:
    n_train: int = 8000  # images; five captions each
    n_val: int = 500
    n_test: int = 1000
    image_size: int = 64
    captions_per_image: int = 5
    max_objects: int = 3
    caption_length: int = 17  # <START> + up to 15 words + <END>, padded with <NULL>
    seed: int = 0
    captions: str = "standard"  # or "memory": each caption lists the objects again, then recalls its own order

    def __post_init__(self):
        for name in ("n_train", "n_val", "n_test", "captions_per_image", "max_objects"):
            check.positive_int(f"synthetic.{name}", getattr(self, name), ConfigError)
        if self.image_size < 16 or self.image_size % 4:
            raise ConfigError(f"synthetic.image_size must be a multiple of 4 and >= 16, got {self.image_size!r}")
        if self.caption_length < 4:
            raise ConfigError(f"synthetic.caption_length must be >= 4, got {self.caption_length!r}")
        if self.captions not in CAPTION_STYLES:
            raise ConfigError(f"synthetic.captions must be one of {list(CAPTION_STYLES)}, got {self.captions!r}")
        if self.captions == "memory" and self.caption_length < MEMORY_LENGTH:
            raise ConfigError(
                f"synthetic.caption_length must be >= {MEMORY_LENGTH} with captions: memory "
                f"(the longest caption has {MEMORY_WORDS} words), got {self.caption_length}"
            )

    @classmethod
    def from_section(cls, section: str, values: dict) -> SyntheticConfig:
        """The config's ``section`` block (synthetic or memory), its errors naming that block."""
        try:
            return cls(**values)
        except ConfigError as err:
            raise ConfigError(str(err).replace("synthetic.", f"{section}.", 1)) from None


def encode(caption: str, word_to_idx: dict, length: int) -> np.ndarray:
    words = caption.split()
    ids = [word_to_idx[START]] + [word_to_idx.get(w, word_to_idx[UNK]) for w in words] + [word_to_idx[END]]
    if len(ids) > length:
        raise ValueError(f"caption {caption!r} has {len(words)} words; at most {length - 2} fit in {length} tokens")
    return np.array(ids + [word_to_idx[NULL]] * (length - len(ids)), dtype=np.int32)


def make_split(
    cfg: SyntheticConfig, n_images: int, rng: np.random.Generator, word_to_idx: dict, desc: str, progress: bool
):
    """Render ``n_images`` scenes; return images (n, S, S, 3) uint8, captions (n*k, L) int32, image_idxs."""
    images = np.empty((n_images, cfg.image_size, cfg.image_size, 3), dtype=np.uint8)
    captions = []
    for i in tqdm(range(n_images), desc=desc, disable=not progress, unit="img"):
        scene = random_scene(rng, cfg.max_objects)
        images[i] = render(scene, rng, cfg.image_size)
        for c in captions_for(scene, rng, cfg.captions_per_image, cfg.caption_length - 2, cfg.captions):
            captions.append(encode(c, word_to_idx, cfg.caption_length))
    image_idxs = np.repeat(np.arange(n_images, dtype=np.int32), cfg.captions_per_image)
    return images, np.stack(captions), image_idxs


def generate(out_dir, cfg: SyntheticConfig = SyntheticConfig(), progress: bool = True, workers: int = 1) -> Path:
    """Write the synthetic dataset's raw layout (everything but the PCA files) into ``out_dir``.

    ``workers`` threads extract image features; the data do not depend on it.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    idx_to_word = vocabulary(cfg.captions)
    word_to_idx = {w: i for i, w in enumerate(idx_to_word)}
    # spawn(3)'s first two children are spawn(2)'s: adding the test split left train and val unchanged
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(cfg.seed).spawn(len(layout.SPLITS))]
    sizes = {"train": cfg.n_train, "val": cfg.n_val, "test": cfg.n_test}
    splits = {}
    for split, rng in zip(layout.SPLITS, rngs, strict=True):
        n = sizes[split]
        images, captions, idxs = make_split(cfg, n, rng, word_to_idx, f"render {split}", progress)
        feats = extract_features(images, progress=progress, workers=workers)
        splits[split] = (images, captions, idxs, feats)

    attrs = {f"synthetic.{k}": v for k, v in asdict(cfg).items()}
    for name in dict.fromkeys(layout.captions_file(s) for s in layout.SPLITS):
        with atomic_path(out / name) as tmp, h5py.File(tmp, "w") as f:
            for split, (_, captions, idxs, _) in splits.items():
                if layout.captions_file(split) == name:
                    f.create_dataset(f"{split}_captions", data=captions)
                    f.create_dataset(f"{split}_image_idxs", data=idxs)
            f.attrs.update(attrs)
    for split, (images, _, _, feats) in splits.items():
        with atomic_path(out / layout.features_file(split, pca=False)) as tmp, h5py.File(tmp, "w") as f:
            f.create_dataset("features", data=feats)
            f.attrs.update(attrs)
        with atomic_path(out / layout.images_file(split)) as tmp, h5py.File(tmp, "w") as f:
            f.create_dataset("images", data=images, compression="gzip", compression_opts=4)
        with atomic_path(out / layout.urls_file(split)) as tmp:
            tmp.write_text("".join(f"synthetic://{split}2014/{i:06d}.png\n" for i in range(len(images))))
    with atomic_path(out / layout.VOCAB_FILE) as tmp:
        layout.write_vocab(tmp, idx_to_word)
    n_caps = sum(len(s[1]) for s in splits.values())
    log.info(
        f"synthetic: {cfg.n_train} train + {cfg.n_val} val + {cfg.n_test} test images, {n_caps} captions, "
        f"{len(idx_to_word)} words, {splits['train'][3].shape[1]} raw features -> {out}"
    )
    return out
