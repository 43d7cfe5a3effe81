# Step 5: tables, plots and captioned grids in results/, flagged for `snakemake --report`;
# then the seed aggregates on MLflow's parent runs and the registry's aliases.


rule collect:
    input:
        scores=all_runs("scores.json"),
        image_scores=all_runs("image_scores.npz"),
        meteor=rules.meteor.output[0],
        histories=all_runs("history.json"),
        runs=all_runs("run.json"),
        samples=all_runs("samples.json"),
        loss_plots=all_runs("loss.png"),
        grids=all_runs("grid.png"),
        human=rules.human_ceiling.output[0],
        images=TEST_IMAGES,
        code=code("captioning.pipeline.collect"),
    output:
        summary_csv=report(f"{RESULTS}/summary.csv", caption="../report/summary.rst", category="Tables"),
        summary_md=report(f"{RESULTS}/summary.md", caption="../report/summary.rst", category="Tables"),
        runs_csv=report(f"{RESULTS}/runs.csv", caption="../report/runs.rst", category="Tables"),
        comparison=report(f"{RESULTS}/loss_comparison.png", caption="../report/loss_comparison.rst", category="Loss"),
        metrics=report(f"{RESULTS}/test_metrics.png", caption="../report/test_metrics.rst", category="Metrics"),
        seed_scores=report(f"{RESULTS}/seed_scores.png", caption="../report/seed_scores.rst", category="Metrics"),
        curves=report(
            expand(f"{RESULTS}/loss_curves/{{exp}}.png", exp=EXPERIMENTS),
            caption="../report/loss_curve.rst",
            category="Loss",
            subcategory="per experiment",
        ),
        grids=report(
            expand(f"{RESULTS}/grids/{{exp}}.png", exp=EXPERIMENTS),
            caption="../report/grid.rst",
            category="Captions",
        ),
        scst_grids=report(
            expand(f"{RESULTS}/scst/{{exp}}.png", exp=SCST_EXPERIMENTS),
            caption="../report/scst_grid.rst",
            category="Captions",
            subcategory="self-critical",
        ),
    log:
        log("collect"),
    benchmark:
        bench("collect")
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(15),
    params:
        out_dir=parent("summary_csv"),
        select_metric=config["evaluation"]["select_metric"],
        n_resamples=config["evaluation"]["bootstrap_resamples"],
        seed=config["evaluation"]["bootstrap_seed"],
        detect=config["evaluation"].get("detect") or {},
    script:
        "../scripts/collect.py"


rule register:
    input:
        summary_csv=rules.collect.output.summary_csv,
        runs_csv=rules.collect.output.runs_csv,
        runs=all_runs("run.json"),
        scores=all_runs("scores.json"),
        loss_plots=all_runs("loss.png"),
        grids=all_runs("grid.png"),
        meteor=rules.meteor.output[0],
        code=code("captioning.pipeline.registry"),
    output:
        f"{RESULTS}/registry.json",
    log:
        log("register"),
    benchmark:
        bench("register")
    threads: 1
    resources:
        mem_mb=scaled(1000),
        runtime=scaled(15),
    script:
        "../scripts/register.py"
