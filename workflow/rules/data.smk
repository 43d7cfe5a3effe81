# Step 1: the dataset in the cs231n layout, then PCA features fitted on train.


rule synthetic_data:
    output:
        files=[f"{config['data_root']}/synthetic/{n}" for n in layout.raw_files() + [layout.images_file(s) for s in layout.SPLITS]],
    params:
        cfg=config["synthetic"],
        out_dir=parent("files"),
    log:
        "logs/data/synthetic.log",
    benchmark:
        "benchmarks/data/synthetic.tsv"
    threads: config["threads"]["default"]
    resources:
        mem_mb=3000,
    conda:
        ENV
    script:
        "../scripts/synthetic_data.py"


rule coco_data:
    output:
        files=[f"{config['data_root']}/coco/{n}" for n in layout.raw_files()],
    params:
        url=config["coco"]["url"],
        sha256=config["coco"].get("sha256"),
        size=config["coco"].get("size"),
        out_dir=parent("files"),
        archive_dir=f"{config['data_root']}/downloads",
    log:
        "logs/data/coco.log",
    benchmark:
        "benchmarks/data/coco.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        ENV
    script:
        "../scripts/coco_data.py"


rule pca:
    input:
        raw=data_files([layout.features_file(s, pca=False) for s in layout.SPLITS]),
    output:
        data_files(layout.pca_files()),
    params:
        data_dir=parent("raw"),
        dim=config["pca"]["dim"],
    log:
        f"logs/data/{DATASET}_pca.log",
    benchmark:
        f"benchmarks/data/{DATASET}_pca.tsv"
    threads: config["threads"]["default"]
    resources:
        mem_mb=4000,
    conda:
        ENV
    script:
        "../scripts/pca.py"
