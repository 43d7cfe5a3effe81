from captioning.data.download import fetch_coco
from captioning.pipeline.jobs import run_step

p = snakemake.params
run_step(
    "coco_data",
    fetch_coco,
    log=snakemake.log[0],
    threads=snakemake.threads,
    url=p.url,
    out_dir=p.out_dir,
    archive_dir=p.archive_dir,
    size=p.size,
    sha256=p.sha256,
    test_images=p.test_images,
    test_seed=p.test_seed,
    test_split=p.test_split,
    karpathy_split=p.karpathy_split,
    annotations=p.annotations,
)
