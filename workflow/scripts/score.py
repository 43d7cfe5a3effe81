from captioning.pipeline.cli import run_step
from captioning.pipeline.score import score_run

p, o = snakemake.params, snakemake.output
run_step(
    "score",
    score_run,
    log=snakemake.log[0],
    threads=snakemake.threads,
    data_dir=p.data_dir,
    model_path=snakemake.input.model,
    experiment=p.experiment,
    seed=int(snakemake.wildcards.seed),
    run_json=snakemake.input.run,
    out_scores=o.scores,
    out_image_scores=o.image_scores,
    out_samples=o.samples,
    out_grid=o.grid,
    n_samples=p.n_samples,
    max_length=p.max_length,
    max_images=p.max_images,
    dataset_source=p.dataset_source,
)
