# Step 2: the gate. Training depends on its output, so wrong math stops the DAG.


rule gradcheck:
    output:
        f"{RESULTS}/gradcheck.tsv",
    params:
        seed=config["gradcheck"]["seed"],
        layer_tol=config["gradcheck"]["layer_tol"],
        model_tol=config["gradcheck"]["model_tol"],
    log:
        "logs/gradcheck.log",
    benchmark:
        "benchmarks/gradcheck.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        ENV
    script:
        "../scripts/gradcheck.py"
