from captioning.pipeline.cli import run_step
from captioning.pipeline.tracking import setup_tracking

run_step(
    "mlflow_setup",
    setup_tracking,
    log=snakemake.log[0],
    tracking_uri=snakemake.params.tracking_uri,
    experiment_name=snakemake.params.experiment,
    out_json=snakemake.output[0],
)
