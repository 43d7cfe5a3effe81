# Helpers shared by the rules: validated config and sweep, paths, per-run parameters, each step's code.
import os
import re
from pathlib import Path

from captioning.data import layout, scenes
from captioning.data.synthetic import SyntheticConfig
from captioning.errors import CaptioningError
from captioning.meteor import java
from captioning.pipeline.code import source_files
from captioning.pipeline.config import load_yaml, validate_file, validate_sweep
from captioning.pipeline.experiment import Sweep, check_memory
from captioning.pipeline.preflight import SlurmRequest, check_slurm_requests, start_tracking
from captioning.pipeline.records import GridChoice
from captioning.pipeline.snakemake_compat import RESOURCES, executor_name, pending_jobs


def own_vocabulary(data_dir):
    """The vocabulary of a dataset of the user's own: its files must be there already."""
    try:
        return layout.read_vocab(Path(data_dir) / layout.VOCAB_FILE, f"dataset {Path(data_dir).name}")[0]
    except CaptioningError as err:
        raise SystemExit(
            f"{err}: the workflow generates synthetic and downloads coco; put the files of dataset "
            f"{Path(data_dir).name!r} in the cs231n layout under {data_dir}/ (docs/extending.md)"
        ) from None


SCHEMAS = Path(workflow.current_basedir).parent / "schemas"
# when config sweep is null; else config/sweep.yaml
DEFAULT_SWEEPS = {"coco": "config/sweep_coco.yaml", "memory": "config/sweep_memory.yaml"}


def memory_config(cfg):
    """The config of the memory benchmark trained beside this DAG's sweep: dataset memory, the sweep of
    ``memory_benchmark``, its own MLflow experiment; None when off or when this DAG is the benchmark."""
    if not cfg.get("memory_benchmark") or cfg["dataset"] == "memory":
        return None
    if not Path(cfg["memory_benchmark"]).is_file():
        raise SystemExit(
            f"config memory_benchmark: {cfg['memory_benchmark']}: no such sweep file (false, or --config memory_benchmark=False, turns the benchmark off)"
        )
    mlflow = {**cfg["mlflow"], "experiment": None}
    return {**cfg, "dataset": "memory", "sweep": cfg["memory_benchmark"], "memory_benchmark": None, "mlflow": mlflow}


def load_sweep(cfg):
    """The sweep a config trains, checked against its schema: (its file, the Sweep)."""
    path = cfg["sweep"] or DEFAULT_SWEEPS.get(cfg["dataset"], "config/sweep.yaml")
    return path, Sweep.from_dict(validate_sweep(load_yaml(path), SCHEMAS / "sweep.schema.yaml", path), path)


def experiment_name(cfg, sweep):
    """The MLflow experiment of a config and its sweep: the config's, or <sweep name>-<dataset>."""
    return cfg["mlflow"].get("experiment") or f"{sweep.name}-{cfg['dataset']}"


validate_file(config, SCHEMAS / "config.schema.yaml", "config")
SWEEP_FILE, SWEEP = load_sweep(config)

DATASET = config["dataset"]
DATA = f"{config['data_root']}/{DATASET}"
# Every sweep has its own place, keyed like its MLflow experiment: two sweeps (and the same sweep on
# two datasets) never touch each other's runs, results, logs or benchmarks; only the data is shared.
SWEEP_KEY = f"{DATASET}/{SWEEP.name}"
RUNS = f"{config['runs_root']}/{SWEEP_KEY}"
RESULTS = f"{config['results_dir']}/{SWEEP_KEY}"
EXPERIMENTS = list(SWEEP.experiments)
TRAIN_MEM_MB = 3000  # what a training job asks for (its first attempt; a retry asks for more)
COCO_VOCABULARY = 1004  # words of the cs231n COCO archive's vocabulary
GENERATED = ("synthetic", "memory")  # the datasets the workflow renders, each from its block of the config
CAPTION_TOKENS = SyntheticConfig.caption_length  # the cs231n layout's (COCO's), unless generated otherwise
if DATASET in GENERATED:
    try:
        GENERATE = SyntheticConfig.from_section(DATASET, config[DATASET])
    except CaptioningError as err:
        raise SystemExit(f"config: {err}") from None
    VOCABULARY, CAPTION_TOKENS = len(scenes.vocabulary(GENERATE.captions)), GENERATE.caption_length
elif DATASET == "coco":
    VOCABULARY = COCO_VOCABULARY
else:  # a dataset of the user's own, in the cs231n layout under data/<dataset>/ (docs/extending.md)
    VOCABULARY = len(own_vocabulary(DATA))
# an experiment that cannot fit its training job is refused now, not after minutes of training
check_memory(SWEEP, VOCABULARY, config["pca"]["dim"], TRAIN_MEM_MB, SWEEP_FILE, CAPTION_TOKENS)
SCST_EXPERIMENTS = [n for n, e in SWEEP.experiments.items() if e.objective == "cider"]
CONFIRMATIONS = SWEEP.confirmations()  # {grid: (its points, the seeds val's pick of them trains too)}
# Jobs read the tracking settings from the config when they start (never as a rule's input
# or parameter, so a change of server or experiment retrains nothing).
# One MLflow experiment per sweep and dataset, so COCO and synthetic runs never mix.
config["mlflow"]["experiment"] = experiment_name(config, SWEEP)


def code(module):
    """A step's code as its input: ``module``'s file and those of the package modules it imports
    (captioning/pipeline/code.py), relative to the working directory when inside it. Editing one reruns the step."""
    here = Path.cwd()
    return [os.path.relpath(p, here) if p.is_relative_to(here) else str(p) for p in source_files(module)]


def dataset_source():
    """Where the dataset comes from, for MLflow's lineage: COCO's URL; None for generated data (its directory)."""
    return config["coco"]["url"] if DATASET == "coco" else None


def scaled(amount):
    """A resource request (mem_mb, runtime in minutes) that grows with the attempt, so a retried job asks for more."""
    return lambda wildcards, attempt: amount * attempt


def log(name, key=SWEEP_KEY):
    """<logs_root>/<dataset>/<sweep>/<name>.log (a data step's: key <dataset>)"""
    return f"{config['logs_root']}/{key}/{name}.log"


def bench(name, key=SWEEP_KEY):
    """<benchmarks_root>/<dataset>/<sweep>/<name>.tsv (a data step's: key <dataset>)"""
    return f"{config['benchmarks_root']}/{key}/{name}.tsv"


def data_files(names):
    return [f"{DATA}/{n}" for n in names]


def run_path(name):
    """runs/<dataset>/<sweep>/<exp>/seed<seed>/<name>, with Snakemake wildcards."""
    return f"{RUNS}/{{exp}}/seed{{seed}}/{name}"


def confirm_runs():
    """(point, seed) of the runs that val's pick of each grid trains beyond its seeds (known after select_point)."""
    runs = []
    for group, (_, seeds) in CONFIRMATIONS.items():
        choice = GridChoice.read(checkpoints.select_point.get(group=group).output[0])
        runs += [(choice.point, s) for s in seeds]
    return runs


def selection_files():
    """Each confirming grid's pick, a plain input of `all`: Snakemake runs a checkpoint whose output is missing
    only for a job that needs it, and collect (whose inputs come through the checkpoint) looks up to date
    until the checkpoint has run; after it, the runs it adds make collect and register run again."""
    return [f"{RUNS}/selection/{group}.json" for group in CONFIRMATIONS]


def all_runs(name):
    """An input function: the file ``name`` of every run, confirmation runs included."""
    return lambda wildcards: [f"{RUNS}/{e}/seed{s}/{name}" for e, s in SWEEP.runs() + confirm_runs()]


def grid_histories(wildcards):
    """The history.json of every point of grid ``group`` and every seed they all train."""
    points = CONFIRMATIONS[wildcards.group][0]
    return [f"{RUNS}/{p}/seed{s}/history.json" for p in points for s in SWEEP.experiments[p].seeds]


def init_run(wildcards):
    """A self-critical run's start: the checkpoint and record of the run it fine-tunes (same seed); else nothing."""
    exp = SWEEP.experiments[wildcards.exp]
    if exp.objective != "cider":
        return []
    return [f"{RUNS}/{exp.init_from}/seed{wildcards.seed}/{name}" for name in ("model.npz", "run.json")]


def init_dir(wildcards, input):
    """A param: the directory of the run a self-critical run starts from (None for cross-entropy)."""
    return str(Path(input.init[0]).parent) if input.init else None


def is_confirmation(wildcards):
    """A param: whether the run is one of its grid's confirm_seeds (they train only for the chosen point)."""
    return int(wildcards.seed) in SWEEP.experiments[wildcards.exp].confirm_seeds


def escaped(names):
    """A wildcard constraint matching exactly these names (grid points hold dots: lstm-lr0.001)."""
    return "|".join(re.escape(n) for n in names)


def parent(name):
    """A param function: the directory of input (or output) ``name``, instead of a hard-coded prefix."""

    def get(wildcards, input, output):
        files = input if name in input.keys() else output
        first = getattr(files, name)
        return str(Path(first if isinstance(first, str) else first[0]).parent)

    return get


def train_params(wildcards):
    """What determines a run's parameters, defaults filled in and keys sorted, so that only a
    real change (not reordering, not another seed or decoder setting) reruns it."""
    exp = SWEEP.experiments[wildcards.exp]
    return {"name": exp.name, "group": exp.group, **dict(sorted(exp.training_config().items()))}


def score_params(wildcards):
    return {**train_params(wildcards), "beam_width": SWEEP.experiments[wildcards.exp].beam_width}


def slurm_requests():
    """What each job that SLURM will run asks for, as the slurm executor plugin submits it."""
    if executor_name(workflow) != "slurm":
        return []
    return [
        SlurmRequest(job.rule, job.threads, *(job.resources[k] for k in RESOURCES))
        for job in pending_jobs(workflow)
        if not job.local
    ]


def preflight(others=()):
    """Before any job: create the MLflow experiment at the server in force, and those of the ``others``
    configs the same DAG trains (the memory benchmark's); try the SLURM requests."""
    try:
        print(start_tracking(config["mlflow"], list(SWEEP.experiments.values())))
        for cfg in others:
            sweep = load_sweep(cfg)[1]
            settings = {**cfg["mlflow"], "experiment": experiment_name(cfg, sweep)}
            print(start_tracking(settings, list(sweep.experiments.values())))
        requests = slurm_requests()
        if requests:
            print(check_slurm_requests(requests))
    except CaptioningError as err:
        raise SystemExit(f"preflight: {err}") from None


# Training and selection read train and val only; only scoring reads the test split's files.
TRAINING_INPUTS = data_files(layout.split_files(layout.TRAINING_SPLITS, pca=True))
TEST_INPUTS = data_files(layout.split_files([layout.TEST_SPLIT], pca=True))
# The test split's stored pixels, for the captioned grids: synthetic data only (COCO's images live behind URLs).
# (a dataset of your own: if you stored them, data/<dataset>/test2014_images.h5)
_TEST_IMAGES = data_files([layout.images_file(layout.TEST_SPLIT)])
TEST_IMAGES = _TEST_IMAGES if DATASET in GENERATED or (DATASET != "coco" and Path(_TEST_IMAGES[0]).exists()) else []


wildcard_constraints:
    exp=escaped(EXPERIMENTS),
    seed=r"\d+",
    group=escaped(CONFIRMATIONS) or "(?!)",  # (?!): no grid confirms, nothing matches
    generated=escaped(GENERATED),
