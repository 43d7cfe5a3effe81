from captioning.pipeline.cli import run_step
from captioning.pipeline.collect import collect

i = snakemake.input
run_step("collect", collect, log=snakemake.log[0], threads=snakemake.threads, score_files=i.scores,
         history_files=i.histories, sample_files=i.samples, human_file=i.human, data_dir=snakemake.params.data_dir,
         out_dir=snakemake.params.out_dir)
