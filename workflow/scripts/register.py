from captioning.pipeline.jobs import run_step
from captioning.pipeline.registry import register_sweep

i = snakemake.input
run_step(
    "register",
    register_sweep,
    log=snakemake.log[0],
    threads=snakemake.threads,
    summary_csv=i.summary_csv,
    runs_csv=i.runs_csv,
    run_files=i.runs,
    score_files=i.scores,
    figure_files=list(zip(i.loss_plots, i.grids, strict=True)),
    meteor_file=i.meteor,
    tracking=snakemake.config["mlflow"],
    out_json=snakemake.output[0],
)
