from captioning.pipeline.human import human_ceiling
from captioning.pipeline.jobs import run_step

run_step(
    "human_ceiling",
    human_ceiling,
    log=snakemake.log[0],
    threads=snakemake.threads,
    data_dir=snakemake.params.data_dir,
    out_json=snakemake.output[0],
    max_images=snakemake.params.max_images,
)
