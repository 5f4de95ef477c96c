# Stage: sketch-to-shape distances (MSE, reduced over views), ranks, acc@k.


rule retrieve:
    input:
        unpack(clip_inputs),
    output:
        npz=f"{RESULTS}/retrieval/{{method}}/{{category}}_{{split}}.npz",
        metrics=f"{RESULTS}/retrieval/{{method}}/{{category}}_{{split}}.json",
    wildcard_constraints:
        method="|".join(CLIP_METHODS),
    params:
        settings=settings("profile", "retrieval"),
        code=code_version("retrieval", "imageset"),
    log:
        f"{RESULTS}/logs/retrieve_{{method}}_{{category}}_{{split}}.log",
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d retrieve --settings {params.settings:q} --method {wildcards.method}"
        " --category {wildcards.category} --split {wildcards.split}"
        " --sketches {input.sketches} --gallery {input.gallery}"
        " --sketch-features {input.sketch_npy} --sketch-ids {input.sketch_ids}"
        " --gallery-features {input.gallery_npy} --gallery-ids {input.gallery_ids}"
        " --out {output.npz} --metrics {output.metrics} > {log} 2>&1"


rule retrieve_pixels:
    input:
        sketches=f"{RESULTS}/sketches/{{category}}/{{split}}",
        gallery=f"{RESULTS}/renders/gallery/{{category}}/{{split}}",
    output:
        npz=f"{RESULTS}/retrieval/{{method}}/{{category}}_{{split}}.npz",
        metrics=f"{RESULTS}/retrieval/{{method}}/{{category}}_{{split}}.json",
    wildcard_constraints:
        method="pixel",
    params:
        settings=settings("profile", "retrieval"),
        code=code_version("retrieval", "imageset"),
    log:
        f"{RESULTS}/logs/retrieve_{{method}}_{{category}}_{{split}}.log",
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d retrieve --settings {params.settings:q} --method {wildcards.method}"
        " --category {wildcards.category} --split {wildcards.split}"
        " --sketches {input.sketches} --gallery {input.gallery}"
        " --out {output.npz} --metrics {output.metrics} > {log} 2>&1"
