from captioning.pipeline.gradcheck import gradcheck_gate
from captioning.pipeline.jobs import run_step

p = snakemake.params
run_step(
    "gradcheck",
    gradcheck_gate,
    log=snakemake.log[0],
    threads=snakemake.threads,
    out_tsv=snakemake.output[0],
    seed=p.seed,
    layer_tol=p.layer_tol,
    model_tol=p.model_tol,
)
