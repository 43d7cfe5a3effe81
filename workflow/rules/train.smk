# Step 3: one training job per experiment and seed, each logged to the MLflow server in force when it starts.


rule train:
    input:
        data=TRAINING_INPUTS,
        gradcheck=rules.gradcheck.output[0],
    output:
        model=run_path("model.npz"),
        history=run_path("history.json"),
        loss_plot=run_path("loss.png"),
        run=run_path("run.json"),
    log:
        log("train/{exp}/seed{seed}"),
    benchmark:
        bench("train/{exp}/seed{seed}")
    threads: config["threads"]["train"]
    resources:
        mem_mb=scaled(3000),
        runtime=scaled(240),
    params:
        experiment=train_params,
        data_dir=parent("data"),
        dataset_source=dataset_source(),
    script:
        "../scripts/train.py"
