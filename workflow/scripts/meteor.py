from captioning.pipeline.jobs import run_step
from captioning.pipeline.meteor import meteor_runs

run_step(
    "meteor",
    meteor_runs,
    log=snakemake.log[0],
    threads=snakemake.threads,
    data_dir=snakemake.params.data_dir,
    caption_files=snakemake.input.captions,
    out_npz=snakemake.output[0],
    enabled=snakemake.params.java != "off",
)
