from captioning.pipeline.jobs import run_step
from captioning.pipeline.score import ScoreFiles, ScoreSettings, score_run

p, o = snakemake.params, snakemake.output
run_step(
    "score",
    score_run,
    log=snakemake.log[0],
    threads=snakemake.threads,
    data_dir=p.data_dir,
    model_path=snakemake.input.model,
    experiment=p.experiment,
    run_json=snakemake.input.run,
    files=ScoreFiles(o.scores, o.image_scores, o.samples, o.captions),
    settings=ScoreSettings(p.n_samples, p.max_length, p.max_images),
    dataset_source=p.dataset_source,
    confirm=p.confirm,
)
