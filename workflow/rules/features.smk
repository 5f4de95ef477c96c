# Stage: CLIP features (GPU when one is free; the job claims its own device).


rule features:
    input:
        feature_images,
    output:
        npy=f"{FEATURES}/box{{box}}/{{kind}}_{{category}}_{{split}}.npy",
        ids=f"{FEATURES}/box{{box}}/{{kind}}_{{category}}_{{split}}.csv",
    params:
        settings=settings("profile", "seed", "features", *CLIP_WEIGHT_KEYS),
        cache=f"{RESULTS}/cache/features",
        code=code_version("features", "devices", "compat", "retrieval/box", "imageset"),
    log:
        f"{FEATURES}/logs/box{{box}}_{{kind}}_{{category}}_{{split}}.log",
    threads: 2
    resources:
        gpu=1,
    conda:
        "../../environment.yml"
    shell:
        "OMP_NUM_THREADS={threads} sketch3d features --settings {params.settings:q} --images {input}"
        " --box {wildcards.box} --cache {params.cache} --out {output.npy} --ids {output.ids} > {log} 2>&1"
