from captioning.pipeline.cli import run_step
from captioning.pipeline.gradcheck import gradcheck_gate

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
