# Shared stage: CLIP features of an image set under a transform, or averaged over several joined by '+'
# (sketch3d.features.transforms; GPU when one is free; the job claims its own device).


rule extract_features:
    input:
        feature_images,
    output:
        npy=f"{FEATURES}/{{transforms}}/{{kind}}_{{category}}_{{split}}.npy",
        ids=f"{FEATURES}/{{transforms}}/{{kind}}_{{category}}_{{split}}.csv",
    params:
        settings=settings(*FEATURE_KEYS),
        cache=f"{RESULTS}/cache/features",
        code=code("extract_features"),
    log:
        log_of("extract_features", "kind", "category", "split", "transforms"),
    threads: 2
    resources:
        gpu=1,
    conda:
        "../../environment.yml"
    shell:
        "OMP_NUM_THREADS={threads} sketch3d extract_features --settings {params.settings:q} --images {input}"
        " --transforms {wildcards.transforms} --cache {params.cache} --out {output.npy} --ids {output.ids} > {log} 2>&1"
