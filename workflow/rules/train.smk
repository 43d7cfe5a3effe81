# Step 3: one MLflow store and experiment, created once; then one training job per experiment and seed.


rule mlflow_setup:
    output:
        f"{RUNS}/mlflow.json",
    params:
        tracking_uri=config["mlflow"]["tracking_uri"],
        experiment=MLFLOW_EXPERIMENT,
    log:
        "logs/mlflow_setup.log",
    benchmark:
        "benchmarks/mlflow_setup.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        ENV
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
    params:
        experiment=train_params,
        data_dir=parent("data"),
        sweep=SWEEP.name,
    log:
        "logs/train/{exp}/seed{seed}.log",
    benchmark:
        "benchmarks/train/{exp}/seed{seed}.tsv"
    threads: config["threads"]["train"]
    resources:
        mem_mb=3000,
    conda:
        ENV
    script:
        "../scripts/train.py"
