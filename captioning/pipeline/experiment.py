"""One experiment of ``config/sweep.yaml``: a visible dataclass with defaults."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from ..cells import CELLS
from ..errors import ConfigError
from ..optim import RULES

FEATURE_MODES = ("image", "zeros", "shuffled")  # "zeros" and "shuffled" train an image-blind baseline


@dataclass(frozen=True)
class Experiment:
    name: str
    cell_type: str = "lstm"
    wordvec_dim: int = 128
    hidden_dim: int = 256
    update_rule: str = "adam"
    learning_rate: float = 5e-3
    lr_decay: float = 0.95
    batch_size: int = 128
    num_epochs: int = 10
    grad_clip: float | None = 5.0
    patience: int | None = None
    features: str = "image"  # one of FEATURE_MODES
    beam_width: int = 3  # 1 = greedy only
    seeds: tuple = (0,)
    eval_images: int = 500

    @classmethod
    def from_dict(cls, name: str, raw: dict, source: str = "sweep") -> Experiment:
        """Build and check one experiment; errors name ``source`` (the sweep file) and the key."""
        where = f"{source}: experiments.{name}"
        known = {f.name for f in fields(cls)} - {"name"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown key '{unknown[0]}' (known keys: {', '.join(sorted(known))})")
        raw = dict(raw)
        if "seeds" in raw:
            raw["seeds"] = tuple(raw["seeds"])
        exp = cls(name=name, **raw)
        for key, allowed in (("cell_type", CELLS), ("update_rule", RULES), ("features", FEATURE_MODES)):
            value = getattr(exp, key)
            if value not in allowed:
                raise ConfigError(f"{where}.{key}: {value!r} is not one of {sorted(allowed)}")
        if not exp.seeds or len(set(exp.seeds)) != len(exp.seeds):
            raise ConfigError(f"{where}.seeds: must be a non-empty list of distinct integers, got {list(exp.seeds)}")
        return exp

    @property
    def first_seed(self) -> int:
        """The seed whose run stands for the experiment in plots and grids: the smallest."""
        return min(self.seeds)

    def training_config(self) -> dict:
        """What determines the trained parameters (everything but the seeds and decoding)."""
        d = asdict(self)
        for k in ("name", "seeds", "beam_width"):
            d.pop(k)
        return d

    def fingerprint(self, seed: int) -> str:
        """Hash of what a resumed checkpoint must share with this run."""
        blob = json.dumps({"config": self.training_config(), "seed": seed}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Sweep:
    name: str
    experiments: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: dict, source: str = "sweep") -> Sweep:
        return cls(raw["name"], {n: Experiment.from_dict(n, e or {}, source) for n, e in raw["experiments"].items()})

    def runs(self) -> list[tuple[str, int]]:
        return [(n, s) for n, e in self.experiments.items() for s in e.seeds]


def blind(data: dict, mode: str, seed: int) -> dict:
    """Apply an experiment's ``features`` mode: 'image' (unchanged), 'zeros' or 'shuffled'."""
    if mode == "image":
        return data
    data = dict(data)
    rng = np.random.default_rng([seed, 7919])
    for split in ("train", "val"):
        f = data[f"{split}_features"]
        data[f"{split}_features"] = np.zeros_like(f) if mode == "zeros" else f[rng.permutation(len(f))]
    return data
