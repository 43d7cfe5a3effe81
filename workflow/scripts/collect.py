from captioning.pipeline.collect import collect
from captioning.pipeline.jobs import run_step

i = snakemake.input
run_step(
    "collect",
    collect,
    log=snakemake.log[0],
    threads=snakemake.threads,
    score_files=i.scores,
    image_score_files=i.image_scores,
    history_files=i.histories,
    human_file=i.human,
    first_seed_histories=i.first_histories,
    loss_plot_files=i.loss_plots,
    grid_files=i.grids,
    out_dir=snakemake.params.out_dir,
    n_resamples=snakemake.params.n_resamples,
    seed=snakemake.params.seed,
    sample_files=i.samples,
    data_dir=snakemake.params.data_dir,
)
