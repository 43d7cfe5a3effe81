# Step 4: decode and score the test split for every run; METEOR for all of them at once (one Java
# process per sweep); the human-agreement ceiling on test.


rule score:
    input:
        data=TEST_INPUTS,
        model=run_path("model.npz"),
        run=run_path("run.json"),
        gradcheck=rules.gradcheck.output[0],  # decoding runs the math the gate checks
        code=code("captioning.pipeline.score"),
    output:
        scores=run_path("scores.json"),
        image_scores=run_path("image_scores.npz"),
        samples=run_path("samples.json"),
        captions=run_path("captions.json"),
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


# Every run's captions through METEOR's jar, which takes 5 s and 1 GB to start: once for the sweep.
# Its java is a parameter ("off": evaluation.meteor is false), so installing Java, or turning METEOR
# on, scores again.
rule meteor:
    input:
        data=TEST_INPUTS,
        captions=all_runs("captions.json"),
        code=code("captioning.pipeline.meteor"),
    output:
        f"{RUNS}/meteor.npz",
    log:
        log("meteor"),
    benchmark:
        bench("meteor")
    threads: 1
    resources:
        mem_mb=scaled(3000),  # the jar's -Xmx2G and the JVM around it
        runtime=scaled(30),
    params:
        data_dir=parent("data"),
        java=(java() or "none") if config["evaluation"]["meteor"] else "off",
    script:
        "../scripts/meteor.py"


# Per run, its figures: drawn from its records (and the test pixels), so an edit of a figure redraws only.
rule figures:
    input:
        history=run_path("history.json"),
        samples=run_path("samples.json"),
        images=TEST_IMAGES,
        code=code("captioning.pipeline.figures"),
    output:
        loss=run_path("loss.png"),
        grid=run_path("grid.png"),
    log:
        log("figures/{exp}/seed{seed}"),
    benchmark:
        bench("figures/{exp}/seed{seed}")
    threads: 1
    resources:
        mem_mb=scaled(1000),
        runtime=scaled(15),
    script:
        "../scripts/figures.py"


rule human_ceiling:
    input:
        data=TEST_INPUTS,
        code=code("captioning.pipeline.human"),
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
