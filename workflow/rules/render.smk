# Shared stage: Blender renderings of the gallery shapes (CPU, Cycles): Freestyle lines or textureless RGB,
# at the views of one view set (render.view_sets).


rule render_gallery:
    input:
        shapes=f"{RESULTS}/data/shapes.csv",
        store=f"{RESULTS}/data/items",
    output:
        directory(f"{RESULTS}/renders/{{style}}_{{view_set}}/{{category}}/{{split}}"),
    wildcard_constraints:
        style="lines|rgb",
        view_set="|".join(config["render"]["view_sets"]),
    params:
        settings=gallery_settings,
        code=code("render_gallery"),
    log:
        log_of("render_gallery", "style", "view_set", "category", "split"),
    threads: 2
    conda:
        "../../environment.yml"
    shell:
        "sketch3d render_gallery --settings {params.settings:q} --shapes {input.shapes}"
        " --category {wildcards.category} --split {wildcards.split} --style {wildcards.style}"
        " --view-set {wildcards.view_set} --threads {threads} --out {output} > {log} 2>&1"
