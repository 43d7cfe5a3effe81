# Step 4: decode and score val for every run; the human-agreement ceiling of the data.


rule score:
    input:
        data=TRAINING_INPUTS,
        model=run_path("model.npz"),
        run=run_path("run.json"),
    output:
        scores=run_path("scores.json"),
        samples=run_path("samples.json"),
        grid=run_path("grid.png"),
    params:
        experiment=score_params,
        data_dir=parent("data"),
        n_samples=config["evaluation"]["grid_images"],
        max_length=config["evaluation"]["max_length"],
        max_images=config["evaluation"]["max_images"],
    log:
        "logs/score/{exp}/seed{seed}.log",
    benchmark:
        "benchmarks/score/{exp}/seed{seed}.tsv"
    threads: config["threads"]["default"]
    resources:
        mem_mb=2000,
    conda:
        ENV
    script:
        "../scripts/score.py"


rule human_ceiling:
    input:
        data=TRAINING_INPUTS,
    output:
        f"{RUNS}/human_agreement.json",
    params:
        data_dir=parent("data"),
        max_images=config["evaluation"]["max_images"],
    log:
        "logs/human_ceiling.log",
    benchmark:
        "benchmarks/human_ceiling.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        ENV
    script:
        "../scripts/human_ceiling.py"
