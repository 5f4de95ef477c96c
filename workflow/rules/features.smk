# Shared stage: CLIP features of an image set under a transform, or averaged over several joined by '+'
# (sketch3d.features.transforms; GPU when one is free; the job claims its own device).


rule extract_features:
    input:
        feature_images,
    output:
        npy=f"{RESULTS}/features/{{network}}/{{transforms}}/{{kind}}_{{category}}_{{split}}.npy",
        ids=f"{RESULTS}/features/{{network}}/{{transforms}}/{{kind}}_{{category}}_{{split}}.csv",
    wildcard_constraints:
        network="|".join(re.escape(n) for n in [MAIN_NETWORK, *NETWORKS]),
    params:
        settings=feature_settings,
        network=network_arg,
        cache=f"{RESULTS}/cache/features",
        code=code("extract_features"),
    log:
        log_of("extract_features", "network", "kind", "category", "split", "transforms"),
    # one thread: an image set is a short job whose start (imports, model) is serial, so two one-thread jobs
    # side by side keep two cores busier than one two-thread job; a GPU job needs no more
    threads: 1
    resources:
        gpu=1,
    conda:
        "../../environment.yml"
    shell:
        "OMP_NUM_THREADS={threads} sketch3d extract_features --settings {params.settings:q} {params.network} --images {input}"
        " --transforms {wildcards.transforms} --cache {params.cache} --out {output.npy} --ids {output.ids} > {log} 2>&1"
