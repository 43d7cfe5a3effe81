# Step 3: one training job per experiment and seed, each logged to the MLflow server in force when it starts.


rule train:
    input:
        data=TRAINING_INPUTS,
        gradcheck=rules.gradcheck.output[0],
        init=init_run,
        code=code("captioning.pipeline.train"),
    output:
        model=run_path("model.npz"),
        history=run_path("history.json"),
        run=run_path("run.json"),
    log:
        log("train/{exp}/seed{seed}"),
    benchmark:
        bench("train/{exp}/seed{seed}")
    threads: config["threads"]["train"]
    resources:
        mem_mb=scaled(TRAIN_MEM_MB),
        runtime=scaled(240),
    params:
        experiment=train_params,
        data_dir=parent("data"),
        dataset_source=dataset_source(),
        init_dir=init_dir,
    script:
        "../scripts/train.py"


# A grid with confirm_seeds: once every point has trained its seeds, val picks the best point,
# and only that point trains the confirm_seeds (collect's and register's inputs ask for them).
checkpoint select_point:
    input:
        histories=grid_histories,
        code=code("captioning.pipeline.select"),
    output:
        f"{RUNS}/selection/{{group}}.json",
    log:
        log("select_point/{group}"),
    benchmark:
        bench("select_point/{group}")
    threads: 1
    resources:
        mem_mb=scaled(1000),
        runtime=scaled(15),
    params:
        select_metric=config["evaluation"]["select_metric"],
    script:
        "../scripts/select_point.py"
