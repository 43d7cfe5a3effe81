# captioning: data -> gradient-check gate -> training sweep -> scoring -> results.
#   snakemake --cores 8                       the whole default (offline) workflow
#   snakemake --cores 8 --config dataset=coco the same on the real COCO data
#   snakemake --report results/report.html    the HTML report of the last run
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/gradcheck.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


# On a cluster these run where snakemake runs (the login node): the download needs
# the network that compute nodes often lack, collect, figures, register and select_point
# are tiny, and the tracking setup (preflight) runs in onstart, before any job.
localrules:
    coco_data,
    collect,
    figures,
    register,
    select_point,


onstart:
    preflight()


rule all:
    default_target: True
    input:
        rules.collect.output,
        rules.register.output,
        selection_files(),  # a grid that newly confirms its pick: the checkpoint, then what it adds
