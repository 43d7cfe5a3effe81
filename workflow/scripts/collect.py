from captioning.pipeline.collect import collect
from captioning.pipeline.jobs import run_step

i, p = snakemake.input, snakemake.params
run_step(
    "collect",
    collect,
    log=snakemake.log[0],
    threads=snakemake.threads,
    score_files=i.scores,
    image_score_files=i.image_scores,
    meteor_file=i.meteor,
    history_files=i.histories,
    run_files=i.runs,
    sample_files=i.samples,
    loss_plot_files=i.loss_plots,
    grid_files=i.grids,
    human_file=i.human,
    out_dir=p.out_dir,
    select_metric=p.select_metric,
    images_file=i.images[0] if i.images else None,
    n_resamples=p.n_resamples,
    seed=p.seed,
    detect=p.detect,
)
