# captioning: data -> gradient-check gate -> training sweep -> scoring -> results.
#   snakemake --cores 8                       the default workflow: config/sweep.yaml on the synthetic data,
#                                             and the memory benchmark beside it (docs/results.md)
#   snakemake --cores 8 --config dataset=coco the same on the real COCO data
#   snakemake --report results/report.html    the HTML report of the last run
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/sweep.smk"


# The memory benchmark in the same DAG: the same rules on dataset memory with config memory_benchmark's
# sweep, its own directories (<dir>/memory/<sweep>/) and MLflow experiment; the cores serve both.
MEMORY = memory_config(config)
if MEMORY:

    module memory:
        snakefile:
            "workflow/sweep.smk"
        config:
            MEMORY

    use rule * from memory as memory_*

    # a module's localrules stay its own names: workflow/sweep.smk's, named as here
    localrules:
        memory_collect,
        memory_figures,
        memory_register,
        memory_select_point,


onstart:
    preflight([MEMORY] if MEMORY else [])


rule all:
    default_target: True
    input:
        rules.results.input,
        rules.memory_results.input if MEMORY else [],
