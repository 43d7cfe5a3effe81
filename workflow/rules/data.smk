# Step 1: the dataset in the cs231n layout, then PCA features fitted on train.


rule synthetic_data:
    input:
        code=code("captioning.data.synthetic"),
    output:
        files=[
            f"{config['data_root']}/synthetic/{n}"
            for n in layout.raw_files() + [layout.images_file(s) for s in layout.SPLITS]
        ],
    log:
        log("synthetic_data", "synthetic"),
    benchmark:
        bench("synthetic_data", "synthetic")
    threads: config["threads"]["data"]
    resources:
        mem_mb=scaled(3000),
        runtime=scaled(30),
    params:
        cfg=config["synthetic"],
        out_dir=parent("files"),
    script:
        "../scripts/synthetic_data.py"


rule coco_data:
    input:
        code=code("captioning.data.download"),
    output:
        files=[f"{config['data_root']}/coco/{n}" for n in layout.raw_files()],
    log:
        log("coco_data", "coco"),
    benchmark:
        bench("coco_data", "coco")
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(120),
    params:
        url=config["coco"]["url"],
        sha256=config["coco"].get("sha256"),
        size=config["coco"].get("size"),
        test_images=config["coco"]["test_images"],
        test_seed=config["coco"]["test_seed"],
        test_split=config["coco"]["test_split"],
        karpathy_split=config["coco"]["karpathy_split"],
        annotations=config["coco"]["annotations"],
        out_dir=parent("files"),
        archive_dir=f"{config['data_root']}/downloads",
    script:
        "../scripts/coco_data.py"


rule pca:
    input:
        raw=data_files([layout.features_file(s, pca=False) for s in layout.SPLITS]),
        code=code("captioning.data.pca"),
    output:
        data_files(layout.pca_files()),
    log:
        log("pca", DATASET),
    benchmark:
        bench("pca", DATASET)
    threads: config["threads"]["default"]
    resources:
        mem_mb=scaled(4000),
        runtime=scaled(60),
    params:
        data_dir=parent("raw"),
        dim=config["pca"]["dim"],
    script:
        "../scripts/pca.py"
