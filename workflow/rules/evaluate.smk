# Step 4: decode and score the test split for every run; the human-agreement ceiling on test.


rule score:
    input:
        data=TEST_INPUTS,
        model=run_path("model.npz"),
        run=run_path("run.json"),
    output:
        scores=run_path("scores.json"),
        image_scores=run_path("image_scores.npz"),
        samples=run_path("samples.json"),
        grid=run_path("grid.png"),
    log:
        log("score/{exp}/seed{seed}"),
    benchmark:
        bench("score/{exp}/seed{seed}")
    threads: config["threads"]["default"]
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(60),
    params:
        experiment=score_params,
        data_dir=parent("data"),
        dataset_source=dataset_source(),
        n_samples=config["evaluation"]["grid_images"],
        confirm=is_confirmation,
        max_length=config["evaluation"]["max_length"],
        max_images=config["evaluation"]["max_images"],
    script:
        "../scripts/score.py"


rule human_ceiling:
    input:
        data=TEST_INPUTS,
    output:
        f"{RUNS}/human_agreement.json",
    log:
        log("human_ceiling"),
    benchmark:
        bench("human_ceiling")
    threads: 1
    resources:
        mem_mb=scaled(1000),
        runtime=scaled(15),
    params:
        data_dir=parent("data"),
        max_images=config["evaluation"]["max_images"],
    script:
        "../scripts/human_ceiling.py"
