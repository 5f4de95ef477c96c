# Shared stage: CLIP features of an image set under a transform, or averaged over several joined by '+'
# (sketch3d.features.transforms; GPU when one is free; the job claims its own device). One job embeds an image kind
# of every category (the categories' files share every other wildcard, and every table reads both): the network
# starts once for them, where a job per category started it twice (~7 s of imports and build on a CPU core, more
# than a small set's embedding). The price: a change to one category's images (render.sketch_azimuths.<category>)
# rewrites the other category's files too, with the same bytes, and their readers rerun (from the cache: a file read
# each); the domain study (chairs only) has the lamps' set of its kinds embedded too (in the paper profile ~330 RGB
# renderings of test lamps: GPU-minutes, against a network start saved in every other features job).


rule extract_features:
    input:
        feature_images,
    output:
        npy=[f"{RESULTS}/features/{{network}}/{{transforms}}/{{kind}}_{c}_{{split}}.npy" for c in CATEGORIES],
        ids=[f"{RESULTS}/features/{{network}}/{{transforms}}/{{kind}}_{c}_{{split}}.csv" for c in CATEGORIES],
    wildcard_constraints:
        network="|".join(re.escape(n) for n in [MAIN_NETWORK, *NETWORKS]),
    params:
        settings=feature_settings,
        network=network_arg,
        cache=f"{RESULTS}/cache/features",
        code=code("extract_features"),
    log:
        log_of("extract_features", "network", "kind", "split", "transforms"),
    # one thread: image sets are short jobs whose start (imports, model) is serial, so two one-thread jobs
    # side by side keep two cores busier than one two-thread job; a GPU job needs no more
    threads: 1
    resources:
        gpu=1,
    conda:
        "../../environment.yml"
    shell:
        "OMP_NUM_THREADS={threads} sketch3d extract_features --settings {params.settings:q} {params.network} --images {input}"
        " --transforms {wildcards.transforms} --cache {params.cache} --out {output.npy} --ids {output.ids} > {log} 2>&1"
