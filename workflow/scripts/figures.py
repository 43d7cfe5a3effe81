from captioning.pipeline.figures import draw_run
from captioning.pipeline.jobs import run_step

i, o = snakemake.input, snakemake.output
run_step(
    "figures",
    draw_run,
    log=snakemake.log[0],
    threads=snakemake.threads,
    history_json=i.history,
    samples_json=i.samples,
    loss_png=o.loss,
    grid_png=o.grid,
    images_h5=i.images[0] if i.images else None,
)
