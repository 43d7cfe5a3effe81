from pathlib import Path

from captioning.pipeline.jobs import run_step
from captioning.pipeline.train import train_run

run_step(
    "train",
    train_run,
    log=snakemake.log[0],
    threads=snakemake.threads,
    data_dir=snakemake.params.data_dir,
    experiment=snakemake.params.experiment,
    seed=int(snakemake.wildcards.seed),
    tracking=snakemake.config["mlflow"],
    out_dir=Path(snakemake.output.model).parent,
    dataset_source=snakemake.params.dataset_source,
    init_dir=snakemake.params.init_dir,
)
