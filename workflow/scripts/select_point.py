from captioning.pipeline.jobs import run_step
from captioning.pipeline.select import select_point

run_step(
    "select_point",
    select_point,
    log=snakemake.log[0],
    threads=snakemake.threads,
    history_files=snakemake.input.histories,
    group=snakemake.wildcards.group,
    out_json=snakemake.output[0],
    select_metric=snakemake.params.select_metric,
)
