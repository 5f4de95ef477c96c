# Shared stage: Blender Freestyle line renderings of the gallery shapes (CPU, Cycles).


rule render_gallery:
    input:
        shapes=f"{RESULTS}/data/shapes.csv",
        store=f"{RESULTS}/data/items",
    output:
        directory(f"{RESULTS}/renders/gallery/{{category}}/{{split}}"),
    params:
        settings=settings("render", exclude=["render.sketch_azimuths"]),
        code=code("render_gallery"),
    log:
        log_of("render_gallery", "category", "split"),
    threads: 2
    conda:
        "../../environment.yml"
    shell:
        "sketch3d render_gallery --settings {params.settings:q} --shapes {input.shapes}"
        " --category {wildcards.category} --split {wildcards.split} --threads {threads} --out {output} > {log} 2>&1"
