# Stage: Blender Freestyle line renderings of the gallery shapes (CPU, Cycles).


rule render_gallery:
    input:
        shapes=f"{RESULTS}/data/shapes.csv",
        store=f"{RESULTS}/data/items",
    output:
        directory(f"{RESULTS}/renders/gallery/{{category}}/{{split}}"),
    params:
        settings=settings("render"),
        code=code_version("render", "geometry", "data/manifest", "imageset"),
    log:
        f"{RESULTS}/logs/render_{{category}}_{{split}}.log",
    threads: 2
    conda:
        "../../environment.yml"
    shell:
        "sketch3d render --settings {params.settings:q} --shapes {input.shapes}"
        " --category {wildcards.category} --split {wildcards.split} --threads {threads} --out {output} > {log} 2>&1"
