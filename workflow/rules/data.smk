# Shared stage: data. demo = procedural shapes + simulated sketches; paper = downloads + AmateurSketch/ShapeNet.


rule fetch:
    output:
        f"{config['profiles']['paper']['data']['data_dir']}/downloads/{{filename}}",
    params:
        data_dir=lambda wildcards, output: Path(output[0]).parents[1],
    log:
        f"{LOGS}/fetch/{{filename}}.log",
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d fetch --data-dir {params.data_dir} --out {output} > {log} 2>&1"


rule prepare_dataset:
    input:
        raw_inputs,
    output:
        shapes=f"{RESULTS}/data/shapes.csv",
        sketches=f"{RESULTS}/data/sketches.csv",
        store=directory(f"{RESULTS}/data/items"),
    params:
        settings=settings(
            "profile",
            "seed",
            "data",
            "render.sketch_azimuths",
            "render.elevation",
            "render.camera_distance",
            "render.front_axis",
            "render.azimuth_sign",
        ),
        code=code("prepare_dataset"),
    log:
        log_of("prepare_dataset"),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d prepare_dataset --settings {params.settings:q} --items {output.store}"
        " --shapes {output.shapes} --sketches {output.sketches} > {log} 2>&1"


rule rasterize_sketches:
    input:
        sketches=f"{RESULTS}/data/sketches.csv",
        store=f"{RESULTS}/data/items",
    output:
        directory(f"{RESULTS}/sketches/{{category}}/{{split}}"),
    params:
        size=config["render"]["resolution"],
        code=code("rasterize_sketches"),
    log:
        log_of("rasterize_sketches", "category", "split"),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d rasterize_sketches --sketches {input.sketches} --category {wildcards.category}"
        " --split {wildcards.split} --size {params.size} --out {output} > {log} 2>&1"
