from captioning.data.pca import prepare_pca
from captioning.pipeline.jobs import run_step

run_step(
    "pca",
    prepare_pca,
    log=snakemake.log[0],
    threads=snakemake.threads,
    base_dir=snakemake.params.data_dir,
    dim=snakemake.params.dim,
)
