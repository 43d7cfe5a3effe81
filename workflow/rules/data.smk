# Step 1: the dataset in the cs231n layout, then PCA features fitted on train.


# The data a DAG needs, once: synthetic and memory are rendered (each from its block of the config),
# coco is downloaded; a dataset of your own is already in place.
if DATASET in GENERATED:

    rule synthetic_data:
        input:
            code=code("captioning.data.synthetic"),
        output:
            files=[f"{DATA}/{n}" for n in layout.raw_files() + [layout.images_file(s) for s in layout.SPLITS]],
        log:
            log("synthetic_data", DATASET),
        benchmark:
            bench("synthetic_data", DATASET)
        threads: config["threads"]["data"]
        resources:
            mem_mb=scaled(3000),
            runtime=scaled(30),
        params:
            cfg=config.get(DATASET),
            section=DATASET,
            out_dir=parent("files"),
        script:
            "../scripts/synthetic_data.py"

elif DATASET == "coco":

    rule coco_data:
        input:
            code=code("captioning.data.download"),
        output:
            files=[f"{config['data_root']}/coco/{n}" for n in layout.raw_files()],
        log:
            log("coco_data", DATASET),
        benchmark:
            bench("coco_data", DATASET)
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
