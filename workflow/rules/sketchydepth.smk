# Chapter 3: SketchyDepth. Scene data (generated, or SketchyCOCO), MiDaS depth labels, the four GANs of Table 3.1,
# their test images, FID/SSIM, Figs. 3.3-3.6, the human study page. Input functions: sketchydepth_inputs.smk.


rule sketchydepth:
    input:
        CHAPTER_TARGETS["sketchydepth"],


# the DVC chain's evaluation stage (sketch3d.chain: sketchydepth_eval) asks for every run's metrics by this name
rule sketchydepth_eval:
    input:
        expand(f"{SD}/metrics/{{model}}.json", model=SD_RUNS),


rule fetch_sketchycoco:
    output:
        f"{SD_CFG['sketchycoco']['data_dir']}/downloads/{{archive}}",
    wildcard_constraints:
        archive="|".join(re.escape(f) for f in SD_ARCHIVE_FILES),
    params:
        data_dir=lambda wildcards, output: Path(output[0]).parents[1],
    log:
        f"{LOGS}/fetch_sketchycoco/{{archive}}.log",
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d fetch_sketchycoco --data-dir {params.data_dir} --out {output} > {log} 2>&1"


ruleorder: fetch_sketchycoco > fetch


rule prepare_scenes:
    input:
        sd_raw_inputs,
    output:
        directory(f"{SD}/data"),
    params:
        settings=sd_scene_settings(),
        code=code("prepare_scenes"),
    log:
        log_of("prepare_scenes"),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d prepare_scenes --settings {params.settings:q} --out {output} > {log} 2>&1"


rule train_labeller:
    input:
        f"{SD}/data",
    output:
        weights=f"{SD}/labeller/midas_small.pt",
        curves=f"{SD}/labeller/curves.csv",
        summary=f"{SD}/labeller/midas_small.json",
    params:
        settings=settings("profile", "seed", "sketchydepth.labeller", exclude=["sketchydepth.labeller.weights"]),
        code=code("train_labeller"),
    log:
        log_of("train_labeller"),
    threads: 2
    resources:
        gpu=1,
    conda:
        "../../environment.yml"
    shell:
        "OMP_NUM_THREADS={threads} sketch3d train_labeller --settings {params.settings:q} --data {input}"
        " --out {output.weights} > {log} 2>&1"


rule label_depth:
    input:
        images=sd_images_input,
        weights=sd_labeller_weights_input,
    output:
        directory(f"{SD}/depth/{{images}}"),
    wildcard_constraints:
        images="|".join([*SPLITS, *(re.escape(f"generated_{m}") for m in SD_RUNS)]),  # runs: image_metrics' depth
    params:
        settings=settings("profile", "seed", "sketchydepth.labeller",
                          exclude=["sketchydepth.labeller.weights", "sketchydepth.labeller.train"]),
        images=sd_images,
        weights=sd_labeller_weights(),
        cache=f"{SD_CACHE}/depth",
        code=code("label_depth"),
    log:
        log_of("label_depth", "images"),
    threads: 1
    resources:
        gpu=1,
    conda:
        "../../environment.yml"
    shell:
        "OMP_NUM_THREADS={threads} sketch3d label_depth --settings {params.settings:q} --images {params.images}"
        " --weights {params.weights} --cache {params.cache} --out {output} > {log} 2>&1"


rule train_gan:
    input:
        unpack(sd_train_inputs),
    output:
        final=f"{SD}/models/{{model}}/final.pt",
        curves=f"{SD}/models/{{model}}/curves.csv",
        plot=report(
            f"{SD}/models/{{model}}/curves.png",
            caption="../report/sketchydepth/curves.rst",
            category="SketchyDepth (ch. 3)",
            subcategory="Training",
            labels={"model": "{model}", "profile": PROFILE},
        ),
    wildcard_constraints:
        model="|".join(SD_MODELS),
    params:
        settings=settings("profile", "seed", "sketchydepth.gan"),
        depth=sd_depth_args,
        out=lambda wildcards: f"{SD}/models/{wildcards.model}",
        # outside the outputs: Snakemake removes a failed job's outputs, the checkpoint must survive to resume
        checkpoints=lambda wildcards: f"{SD_CACHE}/checkpoints/{wildcards.model}",
        code=code("train_gan"),
    log:
        log_of("train_gan", "model"),
    threads: 1
    resources:
        gpu=1,
    conda:
        "../../environment.yml"
    shell:
        "OMP_NUM_THREADS={threads} sketch3d train_gan --model {wildcards.model} --settings {params.settings:q}"
        " --train {input.data}/train --val {input.data}/val {params.depth} --out {params.out}"
        " --checkpoints {params.checkpoints} > {log} 2>&1"


rule generate:
    input:
        checkpoint=lambda wildcards: f"{SD}/models/{sd_run_model(wildcards)}/final.pt",
        data=f"{SD}/data",
    output:
        # images/: a triplet set (image = generated); depth/: a depth set, for the models with G_d
        directory(f"{SD}/generated/{{model}}"),
    wildcard_constraints:
        model="|".join(re.escape(r) for r in SD_RUNS),  # a model, or <model>@<inputs> (other test inputs)
    params:
        settings=settings("profile", "seed", "sketchydepth.gan", "sketchydepth.perturbation"),
        model=sd_run_model,
        testset=sd_run_testset,
        depth=lambda wildcards, output: f"--out-depth {output[0]}/depth" if sd_run_model(wildcards) in SD_DEPTH_MODELS else "",
        code=code("generate"),
    log:
        log_of("generate", "model"),
    threads: 1
    resources:
        gpu=1,
    conda:
        "../../environment.yml"
    shell:
        "OMP_NUM_THREADS={threads} sketch3d generate --model {params.model} --settings {params.settings:q}"
        " --checkpoint {input.checkpoint} --triplets {input.data}/{params.testset} --out-images {output}/images {params.depth}"
        " > {log} 2>&1"


rule image_metrics:
    input:
        unpack(sd_metrics_inputs),
    output:
        f"{SD}/metrics/{{model}}.json",
    wildcard_constraints:
        model="|".join(re.escape(r) for r in SD_RUNS),
    params:
        settings=settings("profile", "seed", "sketchydepth.fid", "sketchydepth.metrics",
                          *(["data.data_dir"] if PROFILE == "paper" else [])),
        depth=sd_metrics_depth_args,
        cache=f"{SD_CACHE}/fid",
        code=code("image_metrics"),
    log:
        log_of("image_metrics", "model"),
    threads: 1
    resources:
        gpu=1,
    conda:
        "../../environment.yml"
    shell:
        "OMP_NUM_THREADS={threads} sketch3d image_metrics --settings {params.settings:q} --real {input.data}/test"
        " --generated {input.generated}/images {params.depth} --cache {params.cache} --out {output} > {log} 2>&1"


rule sketchydepth_table:
    input:
        metrics=expand(f"{SD}/metrics/{{model}}.json", model=SD_RUNS),
        thesis=thesis_input(SD_TABLE),
    output:
        csv=report(
            table_path(SD_TABLE, "csv"),
            caption=f"../report/sketchydepth/{table_stem(SD_TABLE)}.rst",
            category="SketchyDepth (ch. 3)",
            subcategory="Tables",
            labels={"table": SD_TABLE, "profile": PROFILE},
        ),
        md=table_path(SD_TABLE, "md"),
        json=table_path(SD_TABLE, "json"),
    params:
        rehearsal=REHEARSAL_FLAG,
        metrics=lambda wildcards, input: " ".join(f"{m}={p}" for m, p in zip(SD_RUNS, input.metrics)),
        inputs=SD_TEST_INPUTS[0],
        code=code("sketchydepth_table"),
    log:
        log_of("sketchydepth_table"),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d sketchydepth_table --metrics {params.metrics} --thesis {input.thesis} --out-csv {output.csv}"
        " --out-md {output.md} --out-json {output.json} --test-inputs {params.inputs} {params.rehearsal} > {log} 2>&1"


rule figure_images:
    input:
        data=f"{SD}/data",
        ours=f"{SD}/generated/sketchydepth",
        baseline=f"{SD}/generated/baseline",
    output:
        report(f"{RESULTS}/figures/fig_3_3.png", caption="../report/sketchydepth/figures.rst",
               category="SketchyDepth (ch. 3)", subcategory="Figures", labels={"figure": "3.3", "profile": PROFILE}),
    params:
        settings=settings("profile", "seed", "sketchydepth.figures"),
        code=code("figure_images"),
    log:
        log_of("figure_images"),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d figure_images --settings {params.settings:q} --test {input.data}/test --ours {input.ours}/images"
        " --baseline {input.baseline}/images --out {output} > {log} 2>&1"


rule figure_depth:
    input:
        ours=f"{SD}/generated/sketchydepth",
        midas_depth=f"{SD}/depth/generated_sketchydepth",
    output:
        report(f"{RESULTS}/figures/fig_3_4.png", caption="../report/sketchydepth/figures.rst",
               category="SketchyDepth (ch. 3)", subcategory="Figures", labels={"figure": "3.4", "profile": PROFILE}),
    params:
        settings=settings("profile", "seed", "sketchydepth.figures"),
        code=code("figure_depth"),
    log:
        log_of("figure_depth"),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d figure_depth --settings {params.settings:q} --ours {input.ours}/images --ours-depth {input.ours}/depth"
        " --midas-depth {input.midas_depth} --out {output} > {log} 2>&1"


rule figure_effects_midas:
    input:
        ours=f"{SD}/generated/sketchydepth",
        fog=sd_fog_overlay,
        midas_depth=f"{SD}/depth/generated_sketchydepth",
    output:
        report(f"{RESULTS}/figures/fig_A_4.png", caption="../report/sketchydepth/figures.rst",
               category="SketchyDepth (ch. 3)", subcategory="Figures", labels={"figure": "A.4", "profile": PROFILE}),
    params:
        settings=settings("profile", "seed", "sketchydepth.figures"),
        code=code("figure_effects_midas"),
    log:
        log_of("figure_effects_midas"),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d figure_effects_midas --settings {params.settings:q} --ours {input.ours}/images"
        " --ours-depth {input.ours}/depth --midas-depth {input.midas_depth} --out {output} > {log} 2>&1"


rule figure_effects:
    input:
        ours=f"{SD}/generated/sketchydepth",
        fog=sd_fog_overlay,
    output:
        png=report(f"{RESULTS}/figures/fig_3_5.png", caption="../report/sketchydepth/figures.rst",
                   category="SketchyDepth (ch. 3)", subcategory="Figures",
                   labels={"figure": "3.5", "profile": PROFILE}),
        gif=f"{RESULTS}/figures/fig_3_6.gif",
    params:
        settings=settings("profile", "seed", "sketchydepth.figures"),
        code=code("figure_effects"),
    log:
        log_of("figure_effects"),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d figure_effects --settings {params.settings:q} --ours {input.ours}/images --ours-depth {input.ours}/depth"
        " --out {output.png} --out-gif {output.gif} > {log} 2>&1"


rule figure_depth_sketch:
    input:
        ours=f"{SD}/generated/sketchydepth",
        checkpoint=f"{SD}/models/sketchydepth/final.pt",
        data=f"{SD}/data",
    output:
        fig=report(f"{RESULTS}/figures/fig_3_7.png", caption="../report/sketchydepth/figures.rst",
                   category="SketchyDepth (ch. 3)", subcategory="Figures",
                   labels={"figure": "3.7", "profile": PROFILE}),
        # Fig. A.1 (A.1.6) in the same job: one start of torch and of the checkpoint
        diversity=report(f"{RESULTS}/figures/fig_A_1.png", caption="../report/sketchydepth/figures.rst",
                         category="SketchyDepth (ch. 3)", subcategory="Figures",
                         labels={"figure": "A.1", "profile": PROFILE}),
    params:
        settings=settings("profile", "seed", "sketchydepth.figures", "sketchydepth.gan.test_eval",
                          "sketchydepth.perturbation"),
        code=code("figure_depth_sketch"),
    log:
        log_of("figure_depth_sketch"),
    threads: 1
    resources:
        gpu=1,
    conda:
        "../../environment.yml"
    shell:
        "OMP_NUM_THREADS={threads} sketch3d figure_depth_sketch --settings {params.settings:q} --ours {input.ours}"
        " --checkpoint {input.checkpoint} --out {output.fig} --test {input.data}/test"
        " --out-diversity {output.diversity} > {log} 2>&1"


rule human_study_page:
    input:
        ours=f"{SD}/generated/sketchydepth",
        midas_depth=f"{SD}/depth/generated_sketchydepth",
    output:
        page=f"{SD}/human_study/page.html",
        page_items=f"{SD}/human_study/items.json",  # what human_study_table checks the answers against
    params:
        settings=settings("profile", "seed", "sketchydepth.human_study"),
        code=code("human_study_page"),
    log:
        log_of("human_study_page"),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d human_study_page --settings {params.settings:q} --generated {input.ours}/images --ours {input.ours}/depth"
        " --midas {input.midas_depth} --out {output.page} --out-items {output.page_items} > {log} 2>&1"


rule human_study_table:
    input:
        answers=SD_ANSWERS,
        page_items=f"{SD}/human_study/items.json",
    output:
        json=f"{RESULTS}/tables/human_study.json",
        md=f"{RESULTS}/tables/human_study.md",
    params:
        settings=settings("profile", "sketchydepth.human_study.ci_level"),
        code=code("human_study_table"),
    log:
        log_of("human_study_table"),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d human_study_table --settings {params.settings:q} --answers {input.answers}"
        " --items {input.page_items} --out {output.json} --out-md {output.md} > {log} 2>&1"
