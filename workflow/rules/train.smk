# Step 3: one MLflow store and experiment, created once; then one training job per experiment and seed.


rule mlflow_setup:
    output:
        f"{RUNS}/mlflow.json",
    log:
        log("mlflow_setup"),
    benchmark:
        bench("mlflow_setup")
    threads: 1
    resources:
        mem_mb=1000,
    params:
        tracking_uri=config["mlflow"]["tracking_uri"],
        experiment=MLFLOW_EXPERIMENT,
    script:
        "../scripts/mlflow_setup.py"


rule train:
    input:
        data=TRAINING_INPUTS,
        gradcheck=rules.gradcheck.output[0],
        tracking=rules.mlflow_setup.output[0],
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
        mem_mb=3000,
    params:
        experiment=train_params,
        data_dir=parent("data"),
        sweep=SWEEP.name,
    script:
        "../scripts/train.py"
