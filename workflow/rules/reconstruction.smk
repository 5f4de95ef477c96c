# Chapter 4.3: reconstruction by SDF-StyleGAN inversion. The examples (chairs and their front sketches), their SDF
# grids, the generator (official checkpoint, or the demo's, trained here), one inversion job per example and
# supervision, the score table and Figs. 4.5-4.9. Input functions: reconstruction_inputs.smk.


rule reconstruction:
    input:
        CHAPTER_TARGETS["reconstruction"],


rule reconstruction_targets:
    input:
        shapes=f"{RESULTS}/data/shapes.csv",
        sketches=f"{RESULTS}/sketches/{RC_CATEGORY}/{RC_CFG['targets']['split']}",
    output:
        directory(f"{RC}/targets"),
    params:
        settings=settings("seed", "reconstruction.targets", "reconstruction.inversion.views"),
        code=code("reconstruction_targets"),
    log:
        log_of("reconstruction_targets"),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d reconstruction_targets --settings {params.settings:q} --shapes {input.shapes}"
        " --sketches {input.sketches} --out {output} > {log} 2>&1"


rule sdf_targets:
    input:
        unpack(rc_sdf_shapes),
    output:
        f"{RC}/sdf/{{part}}.npz",
    wildcard_constraints:
        part="targets|train",
    params:
        settings=rc_sdf_settings,
        shapes=rc_sdf_args,
        code=code("sdf_targets"),
    log:
        log_of("sdf_targets", "part"),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d sdf_targets --settings {params.settings:q} {params.shapes} --out {output} > {log} 2>&1"


rule train_generator:
    input:
        f"{RC}/sdf/train.npz",
    output:
        weights=f"{RC}/generator/generator.pt",
        curves=f"{RC}/generator/curves.csv",
    params:
        settings=settings("seed", "reconstruction.generator", "reconstruction.demo_training",
                          exclude=["reconstruction.generator.weights", "reconstruction.generator.mean_samples",
                                   "reconstruction.generator.mc_resolution", "reconstruction.generator.mc_level"]),
        # outside the outputs: Snakemake removes a failed job's outputs, the checkpoint must survive to resume
        checkpoints=f"{RC_CACHE}/checkpoints/generator",
        code=code("train_generator"),
    log:
        log_of("train_generator"),
    # two threads: the chapter's critical path (the inversions wait for it); a training's numbers depend on its
    # thread count, fixed here (Snakemake lowers it to --cores: run with --cores 2 or more for the committed ones)
    threads: 2
    resources:
        gpu=1,
    conda:
        "../../environment.yml"
    shell:
        "OMP_NUM_THREADS={threads} sketch3d train_generator --settings {params.settings:q} --sdf {input}"
        " --out {output.weights} --curves {output.curves} --checkpoints {params.checkpoints} > {log} 2>&1"


rule mean_style:
    input:
        rc_generator_input,
    output:
        f"{RC}/generator/mean_style.npz",
    params:
        settings=settings("seed", "reconstruction.generator",
                          exclude=["reconstruction.generator.weights", "reconstruction.generator.mc_resolution",
                                   "reconstruction.generator.mc_level"]),
        generator=rc_generator(),
        code=code("mean_style"),
    log:
        log_of("mean_style"),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "OMP_NUM_THREADS={threads} sketch3d mean_style --settings {params.settings:q} --generator {params.generator}"
        " --out {output} > {log} 2>&1"


rule invert:
    input:
        unpack(rc_invert_inputs),
    output:
        directory(f"{RC}/inversions/{{supervision}}/{{example}}"),
    wildcard_constraints:
        supervision="|".join(RC_SUPERVISIONS),
        example="|".join(RC_EXAMPLES),
    params:
        settings=settings("seed", "profile", "features.backbone", "features.weights", "render", "reconstruction.generator",
                          "reconstruction.targets.elevation", "reconstruction.render", "reconstruction.inversion",
                          exclude=["reconstruction.generator.weights", "render.view_sets", "render.gallery_view_set",
                                   "render.sketch_azimuths"]),
        generator=rc_generator(),
        checkpoints=lambda wildcards: f"{RC_CACHE}/checkpoints/{wildcards.supervision}/{wildcards.example}",
        code=code("invert"),
    log:
        log_of("invert", "supervision", "example"),
    threads: 1
    resources:
        gpu=1,
    conda:
        "../../environment.yml"
    shell:
        "OMP_NUM_THREADS={threads} sketch3d invert --settings {params.settings:q} --generator {params.generator}"
        " --mean-style {input.mean} --targets {input.targets} --sdf-targets {input.sdf} --example {wildcards.example}"
        " --supervision {wildcards.supervision} --out {output} --checkpoints {params.checkpoints} > {log} 2>&1"


rule reconstruction_scores:
    input:
        sdf=f"{RC}/sdf/targets.npz",
        targets=f"{RC}/targets",
        generator=rc_generator_input,
        inversions=RC_INVERSIONS,
        retrieval=rc_retrieval_input,
        shapes=f"{RESULTS}/data/shapes.csv",
    output:
        scores=f"{RC}/scores.csv",
        snapshots=f"{RC}/snapshot_scores.csv",
        plot=report(
            f"{RC}/score_vs_iteration.png",
            caption="../report/reconstruction/score_vs_iteration.rst",
            category="Reconstruction (4.3)",
            subcategory="Figures",
            labels={"figure": "score vs iteration", "profile": PROFILE},
        ),
    params:
        settings=settings("seed", "profile", "reconstruction.scores", "reconstruction.generator",
                          "reconstruction.targets.azimuth", "reconstruction.targets.watertight_level",
                          exclude=["reconstruction.generator.weights", "reconstruction.generator.mean_samples",
                                   "reconstruction.scores.retrieval_method"]),
        generator=rc_generator(),
        code=code("reconstruction_scores"),
    log:
        log_of("reconstruction_scores"),
    threads: 1
    resources:
        gpu=1,
    conda:
        "../../environment.yml"
    shell:
        "OMP_NUM_THREADS={threads} sketch3d reconstruction_scores --settings {params.settings:q}"
        " --sdf-targets {input.sdf} --targets {input.targets} --generator {params.generator}"
        " --inversions {input.inversions} --retrieval {input.retrieval} --shapes {input.shapes}"
        " --out {output.scores} --snapshots {output.snapshots} --plot {output.plot}"
        " > {log} 2>&1"


rule reconstruction_table:
    input:
        scores=f"{RC}/scores.csv",
        snapshots=f"{RC}/snapshot_scores.csv",
    output:
        csv=report(
            table_path(RC_TABLE, "csv"),
            caption="../report/reconstruction/table.rst",
            category="Reconstruction (4.3)",
            subcategory="Tables",
            labels={"table": "scores", "profile": PROFILE},
        ),
        md=table_path(RC_TABLE, "md"),
        json=table_path(RC_TABLE, "json"),
    params:
        settings=settings("profile"),
        rehearsal=REHEARSAL_FLAG,
        code=code("reconstruction_table"),
    log:
        log_of("reconstruction_table"),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d reconstruction_table --settings {params.settings:q} --scores {input.scores}"
        " --snapshots {input.snapshots} --out-md {output.md}"
        " --out-csv {output.csv} --out-json {output.json} {params.rehearsal} > {log} 2>&1"


rule figure_inversion:
    input:
        targets=f"{RC}/targets",
        sdf=f"{RC}/sdf/targets.npz",
        inversions=RC_INVERSIONS,
        generator=rc_generator_input,
        picks=rc_picks_input,
    output:
        report(
            directory(f"{RESULTS}/figures/reconstruction"),
            patterns=["{name}.png"],
            caption="../report/reconstruction/figures.rst",
            category="Reconstruction (4.3)",
            subcategory="Figures",
            labels={"figure": "{name}", "profile": PROFILE},
        ),
    params:
        settings=settings("profile", "render", "reconstruction.generator", "reconstruction.targets.elevation",
                          "reconstruction.render", "reconstruction.figures",
                          exclude=["reconstruction.figures.picks", "reconstruction.generator.weights",
                                   "render.view_sets", "render.gallery_view_set", "render.sketch_azimuths"]),
        generator=rc_generator(),
        picks=lambda wildcards, input: f"--picks {input.picks}" if input.picks else "",
        code=code("figure_inversion"),
    log:
        log_of("figure_inversion"),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "OMP_NUM_THREADS={threads} sketch3d figure_inversion --settings {params.settings:q} --targets {input.targets}"
        " --sdf-targets {input.sdf} --inversions {input.inversions} --generator {params.generator} {params.picks}"
        " --out {output} > {log} 2>&1"
