# Stage: data. demo = procedural shapes + simulated sketches; paper = downloads + AmateurSketch/ShapeNet.


rule fetch:
    output:
        f"{config['paper']['data_dir']}/downloads/{{filename}}",
    params:
        data_dir=lambda wildcards, output: Path(output[0]).parents[1],
    log:
        "results/paper/logs/fetch_{filename}.log",
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d fetch --data-dir {params.data_dir} --out {output} > {log} 2>&1"


rule dataset:
    input:
        raw_inputs,
    output:
        shapes=f"{RESULTS}/data/shapes.csv",
        sketches=f"{RESULTS}/data/sketches.csv",
        store=directory(f"{RESULTS}/data/items"),
    params:
        settings=settings(
            "profile", "seed", "render.sketch_azimuths", "render.elevation", "render.camera_distance", PROFILE
        ),
        code=code_version("data", "geometry"),
    log:
        f"{RESULTS}/logs/dataset.log",
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d dataset --settings {params.settings:q} --items {output.store}"
        " --shapes {output.shapes} --sketches {output.sketches} > {log} 2>&1"


rule rasterize_sketches:
    input:
        sketches=f"{RESULTS}/data/sketches.csv",
        store=f"{RESULTS}/data/items",
    output:
        directory(f"{RESULTS}/sketches/{{category}}/{{split}}"),
    params:
        size=config["render"]["resolution"],
        code=code_version("data/sketch", "data/rasterize", "data/manifest", "imageset"),
    log:
        f"{RESULTS}/logs/rasterize_{{category}}_{{split}}.log",
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d rasterize --sketches {input.sketches} --category {wildcards.category}"
        " --split {wildcards.split} --size {params.size} --out {output} > {log} 2>&1"
