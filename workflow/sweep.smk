# The rules of one dataset and its sweep: data -> gradient-check gate -> training -> scoring -> results.
# The Snakefile includes them for the config's dataset, and again as the module `memory` for the
# memory benchmark (its rules are named memory_<rule>).


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/gradcheck.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"


# On a cluster these run where snakemake runs (the login node): the download needs
# the network that compute nodes often lack, collect, figures, register and select_point
# are tiny, and the tracking setup (preflight) runs in onstart, before any job.
localrules:
    collect,
    figures,
    register,
    select_point,


if DATASET == "coco":

    localrules:
        coco_data,


# What this dataset and sweep make: its tables, plots and registry, and each confirming grid's pick
# (a plain input: Snakemake runs a checkpoint whose output is missing only for a job that needs it).
rule results:
    input:
        rules.collect.output,
        rules.register.output,
        selection_files(),
