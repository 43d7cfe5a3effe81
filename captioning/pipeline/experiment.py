"""One experiment of ``config/sweep.yaml``: a visible dataclass with defaults; grids expand into experiments."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

from ..cells import CELLS
from ..data.layout import SPLITS
from ..errors import ConfigError
from ..optim import RULES
from ..scst import BASELINES
from ..solver import SolverConfig

FEATURE_MODES = ("image", "zeros", "shuffled")  # "zeros" and "shuffled" train an image-blind baseline
# How a grid point's name shows each swept setting: lstm-lr0.001-h128.  Settings with string
# values (cell_type, update_rule, features) show the value alone: lstm-rnn-adam.
NAME_ABBREVIATIONS = {
    "wordvec_dim": "w",
    "hidden_dim": "h",
    "learning_rate": "lr",
    "lr_decay": "decay",
    "batch_size": "b",
    "num_epochs": "ep",
    "grad_clip": "clip",
    "patience": "pat",
    "beam_width": "beam",
    "eval_images": "eval",
    "samples": "n",
}
GRID_KEYS = ("grid", "sample", "sample_seed")  # the keys of a block that expands into grid points
NOT_TRAINING = ("name", "group", "seeds", "confirm_seeds", "beam_width")  # what never changes the trained parameters
OBJECTIVES = ("xe", "cider")  # cross-entropy (teacher forcing), or self-critical fine-tuning for CIDEr-D
SCST_KEYS = ("init_from", "samples", "baseline")  # only a self-critical experiment has them
ARCHITECTURE = ("cell_type", "wordvec_dim", "hidden_dim", "features")  # what fine-tuning takes from its start
CIDER_DEFAULTS = {"learning_rate": 5e-5, "lr_decay": 1.0}  # Adam at a constant 5e-5 (Rennie et al., Luo)


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
    confirm_seeds: tuple = ()  # a grid's: the seeds only its best point by val trains (after the others)
    eval_images: int = 500
    objective: str = "xe"  # one of OBJECTIVES
    init_from: str | None = None  # cider: the experiment whose checkpoint of the same seed it starts from
    samples: int = 5  # cider: sampled captions per image
    baseline: str = "mean"  # cider: one of captioning.scst.BASELINES
    group: str = ""  # the sweep block it comes from: its own name, or the grid's block name

    @classmethod
    def settings(cls) -> set[str]:
        """The keys a sweep block may set."""
        return {f.name for f in fields(cls)} - {"name", "group"}

    @classmethod
    def from_dict(cls, name: str, raw: dict, source: str = "sweep", group: str | None = None) -> Experiment:
        """Build and check one experiment; errors name ``source`` (the sweep file) and the key."""
        where = f"{source}: experiments.{name}" if group in (None, name) else f"{source}: experiments.{group} ({name})"
        known = cls.settings()
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown key '{unknown[0]}' (known keys: {', '.join(sorted(known))})")
        raw = dict(raw)
        for key in ("seeds", "confirm_seeds"):
            if key in raw:
                raw[key] = tuple(raw[key])
        exp = cls(name=name, group=group or name, **raw)
        checks = (
            ("cell_type", CELLS),
            ("update_rule", RULES),
            ("features", FEATURE_MODES),
            ("objective", OBJECTIVES),
            ("baseline", BASELINES),
        )
        for key, allowed in checks:
            value = getattr(exp, key)
            if value not in allowed:
                raise ConfigError(f"{where}.{key}: {value!r} is not one of {sorted(allowed)}")
        if not exp.seeds or len(set(exp.seeds)) != len(exp.seeds):
            raise ConfigError(f"{where}.seeds: must be a non-empty list of distinct integers, got {list(exp.seeds)}")
        both = sorted(set(exp.seeds) & set(exp.confirm_seeds))
        if both:
            raise ConfigError(f"{where}.confirm_seeds: seed {both[0]} is already one of seeds {list(exp.seeds)}")
        return exp

    @classmethod
    def from_params(cls, params: dict) -> Experiment:
        """The experiment a rule's ``params.experiment`` describes: name, group and settings (common.smk)."""
        settings = {k: v for k, v in params.items() if k not in ("name", "group")}
        return cls.from_dict(params["name"], settings, group=params.get("group"))

    @property
    def first_seed(self) -> int:
        """The seed whose run stands for the experiment in plots and grids: the smallest."""
        return min(self.seeds)

    def training_config(self) -> dict:
        """What determines the trained parameters (everything but the seeds and decoding)."""
        d = asdict(self)
        for k in NOT_TRAINING + (("objective", *SCST_KEYS) if self.objective == "xe" else ()):
            d.pop(k)
        return d

    def solver_config(self, seed: int) -> SolverConfig:
        """The solver's settings for this experiment's run with ``seed``."""
        return SolverConfig(
            update_rule=self.update_rule,
            optim_config={"learning_rate": self.learning_rate},
            lr_decay=self.lr_decay,
            batch_size=self.batch_size,
            num_epochs=self.num_epochs,
            grad_clip=self.grad_clip,
            eval_images=self.eval_images,
            patience=self.patience,
            seed=seed,
            select_metric="CIDEr-D" if self.objective == "cider" else "BLEU-4",  # best epoch by val CIDEr-D
        )

    def config_id(self) -> str:
        """Hash of the training configuration alone: what an experiment's parent run stands for."""
        return hashlib.sha256(json.dumps(self.training_config(), sort_keys=True).encode()).hexdigest()[:16]

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
        """The sweep's experiments, grid blocks expanded into their points (in the file's order); a
        self-critical experiment takes its architecture from the experiment it starts from."""
        experiments: dict = {}
        given: dict = {}  # each experiment's settings as written
        for block, settings in raw["experiments"].items():
            settings = settings or {}
            if "confirm_seeds" in settings and "grid" not in settings:
                raise ConfigError(
                    f"{source}: experiments.{block}.confirm_seeds: only a grid confirms its best point; "
                    "list the seeds in seeds instead"
                )
            points = expand_grid(block, settings, source) if "grid" in settings else {block: settings}
            for name, point in points.items():
                if name in experiments:
                    raise ConfigError(
                        f"{source}: experiments.{block}: the experiment name '{name}' is already taken; rename a block"
                    )
                if point.get("objective") == "cider":
                    point = {**CIDER_DEFAULTS, **point}
                experiments[name] = Experiment.from_dict(name, point, source, group=block)
                given[name] = point
        resolved: dict = {}
        for name in experiments:
            _resolve(name, experiments, given, resolved, source, ())
        return cls(raw["name"], resolved)

    def runs(self) -> list[tuple[str, int]]:
        """(experiment, seed) of every run known before training: each experiment's ``seeds``."""
        return [(n, s) for n, e in self.experiments.items() for s in e.seeds]

    def confirmations(self) -> dict[str, tuple[list[str], tuple]]:
        """{grid block: (its points, its confirm_seeds)} for the grids whose best point trains more seeds."""
        out: dict[str, tuple[list[str], tuple]] = {}
        for name, e in self.experiments.items():
            if e.confirm_seeds:
                out.setdefault(e.group, ([], e.confirm_seeds))[0].append(name)
        return out


LIBRARIES_MB = 500  # a training job's resident memory before any parameter: Python, NumPy, Numba, MLflow


def memory_mb(exp: Experiment, vocab_size: int, input_dim: int, steps: int = 17) -> float:
    """About how much memory (MB) a training job of ``exp`` holds: float32 parameters six times over
    (weights, gradients, Adam's two moments, the best epoch's copy, the checkpoint being written) and a
    batch's activations over ``steps`` time steps (inputs, gates, states, vocabulary scores)."""
    V, D, W, H = vocab_size, input_dim, exp.wordvec_dim, exp.hidden_dim
    G = CELLS[exp.cell_type].gates * H
    params = V * W + D * H + H + W * G + H * G + G + H * V + V
    rows = exp.batch_size * (exp.samples if exp.objective == "cider" else 1)
    activations = rows * steps * (W + 2 * G + 2 * H + V)
    return 4 * (6 * params + activations) / 2**20 + LIBRARIES_MB


def check_memory(
    sweep: Sweep, vocab_size: int, input_dim: int, mem_mb: int, source: str = "sweep", steps: int = 17
) -> None:
    """Refuse, at planning time, an experiment whose training job would not fit in ``mem_mb`` with captions of
    ``steps`` tokens: one line naming the setting that, set back to its default, saves the most, and the estimate."""
    defaults = {k: getattr(Experiment("default"), k) for k in ("wordvec_dim", "hidden_dim", "batch_size", "samples")}
    for name, exp in sweep.experiments.items():
        need = memory_mb(exp, vocab_size, input_dim, steps)
        if need <= mem_mb:
            continue
        key = min(defaults, key=lambda k: memory_mb(replace(exp, **{k: defaults[k]}), vocab_size, input_dim, steps))
        where = f"{source}: experiments.{exp.group}" + ("" if exp.group == name else f" ({name})")
        raise ConfigError(
            f"{where}.{key}: {getattr(exp, key)} makes a training job need about {need:,.0f} MB, more than the "
            f"{mem_mb:,} MB it asks for (the train rule's mem_mb)"
        )


def _resolve(name: str, experiments: dict, given: dict, resolved: dict, source: str, chain: tuple) -> Experiment:
    """``name`` checked and, if it fine-tunes another experiment, given that experiment's architecture."""
    if name in resolved:
        return resolved[name]
    exp = experiments[name]
    where = f"{source}: experiments.{exp.group}" + ("" if exp.group == name else f" ({name})")
    if exp.objective == "xe":
        wrong = [k for k in SCST_KEYS if k in given[name]]
        if wrong:
            raise ConfigError(f"{where}.{wrong[0]}: only a self-critical experiment (objective: cider) has it")
        resolved[name] = exp
        return exp
    if exp.init_from is None:
        raise ConfigError(f"{where}.init_from: objective cider fine-tunes a trained experiment; name it here")
    if exp.init_from not in experiments:
        known = ", ".join(n for n in experiments if n != name)
        raise ConfigError(f"{where}.init_from: '{exp.init_from}' is not an experiment of the sweep (known: {known})")
    if exp.init_from in chain + (name,):
        cycle = " -> ".join((*chain, name, exp.init_from))
        raise ConfigError(f"{where}.init_from: '{exp.init_from}' starts a cycle ({cycle})")
    start = _resolve(exp.init_from, experiments, given, resolved, source, (*chain, name))
    for key in ARCHITECTURE:
        if key in given[name] and given[name][key] != getattr(start, key):
            raise ConfigError(
                f"{where}.{key}: {given[name][key]!r} disagrees with '{start.name}', which it starts from "
                f"({getattr(start, key)!r}); leave it out"
            )
    if "seeds" not in given[name]:  # by default, every seed of the experiment it starts from
        exp = replace(exp, seeds=start.seeds)
    lacking = [s for s in exp.seeds if s not in start.seeds]
    if lacking:
        raise ConfigError(f"{where}.seeds: '{start.name}' has no seed {lacking[0]} to start from")
    if exp.baseline == "mean" and exp.samples < 2:
        raise ConfigError(f"{where}.samples: the mean baseline needs at least 2 samples per image, got {exp.samples}")
    resolved[name] = replace(exp, **{k: getattr(start, k) for k in ARCHITECTURE})
    return resolved[name]


def _label(key: str, value) -> str:
    text = "none" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))
    return text if isinstance(value, str) else f"{NAME_ABBREVIATIONS.get(key, key)}{text}"


def expand_grid(block: str, settings: dict, source: str = "sweep") -> dict[str, dict]:
    """{point name: settings} for a block with ``grid:`` lists: their product, or ``sample: N`` of it.

    Points are named ``<block>-<label>...`` in the grid's key order (``lstm-lr0.001-h128``).
    ``sample: N`` keeps the N points that rank first by a hash of ``sample_seed`` and
    the point's name: a seeded random search whose points do not depend on the
    others, so adding a value to a list keeps every drawn point that still ranks.
    """
    where = f"{source}: experiments.{block}.grid"
    grid = settings["grid"]
    if not isinstance(grid, dict) or not grid:
        raise ConfigError(f"{where}: must map settings to non-empty lists of values")
    base = {k: v for k, v in settings.items() if k not in GRID_KEYS}
    for key, values in grid.items():
        if key not in Experiment.settings() - {"seeds", "confirm_seeds"}:
            known = ", ".join(sorted(Experiment.settings() - {"seeds", "confirm_seeds"}))
            raise ConfigError(f"{where}: '{key}' cannot be swept (known keys: {known})")
        if key in base:
            raise ConfigError(f"{where}.{key}: also set outside the grid; set it in one place")
        if not isinstance(values, list) or not values or len({json.dumps(v) for v in values}) != len(values):
            raise ConfigError(f"{where}.{key}: must be a non-empty list of distinct values, got {values!r}")
    points = {}
    for combo in itertools.product(*grid.values()):
        point = dict(zip(grid, combo, strict=True))
        name = "-".join([block, *(_label(k, v) for k, v in point.items())])
        if name in points:
            raise ConfigError(f"{where}: two points are both named '{name}'; use distinguishable values")
        points[name] = {**base, **point}
    n = settings.get("sample")
    if n is not None:
        if n > len(points):
            raise ConfigError(f"{source}: experiments.{block}.sample: {n} is more than the grid's {len(points)} points")
        seed = settings.get("sample_seed", 0)
        rank = sorted(points, key=lambda p: hashlib.sha256(f"{seed}:{p}".encode()).hexdigest())
        keep = set(rank[:n])
        points = {p: v for p, v in points.items() if p in keep}
    return points


def blind(data: dict, mode: str, seed: int) -> dict:
    """Apply an experiment's ``features`` mode: 'image' (unchanged), 'zeros' or 'shuffled'."""
    if mode == "image":
        return data
    data = dict(data)
    for k, split in enumerate(SPLITS):
        if f"{split}_features" in data:
            f = data[f"{split}_features"]
            rng = np.random.default_rng([seed, 7919, k])
            data[f"{split}_features"] = np.zeros_like(f) if mode == "zeros" else f[rng.permutation(len(f))]
    return data
