from captioning.data.synthetic import SyntheticConfig, generate
from captioning.pipeline.jobs import run_step

run_step(
    "synthetic_data",
    generate,
    out_dir=snakemake.params.out_dir,
    cfg=SyntheticConfig.from_section(snakemake.params.section, snakemake.params.cfg),
    log=snakemake.log[0],
    threads=snakemake.threads,
    workers=snakemake.threads,
)
