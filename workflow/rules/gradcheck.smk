# Step 2: the gate. Training depends on its output, so wrong math stops the DAG.


rule gradcheck:
    input:
        code=code("captioning.pipeline.gradcheck"),  # the layers, cells, kernels, model and losses it checks
    output:
        f"{RESULTS}/gradcheck.tsv",
    log:
        log("gradcheck"),
    benchmark:
        bench("gradcheck")
    threads: 1
    resources:
        mem_mb=scaled(1000),
        runtime=scaled(15),
    params:
        seed=config["gradcheck"]["seed"],
        layer_tol=config["gradcheck"]["layer_tol"],
        model_tol=config["gradcheck"]["model_tol"],
    script:
        "../scripts/gradcheck.py"
