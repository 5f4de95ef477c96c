# Chapter 4.2: sketch-to-shape retrieval. Distances (MSE, reduced over views), ranks and acc@k,
# Tables 4.8 and B.2 beside the thesis's numbers, top-5 figures. Methods and tables: sketch3d.retrieval.methods;
# input functions and targets: retrieval_inputs.smk.


rule retrieval:
    input:
        CHAPTER_TARGETS["retrieval"],


rule retrieve:
    input:
        unpack(retrieval_inputs),
        unpack(retrieval_feature_inputs),
    output:
        npz=f"{RESULTS}/retrieval/{{method}}/{{category}}_{{split}}.npz",
        metrics=f"{RESULTS}/retrieval/{{method}}/{{category}}_{{split}}.json",
    wildcard_constraints:
        method="|".join(METHOD_VARIANTS),
    params:
        settings=settings("profile", "retrieval",
                          exclude=["retrieval.figure", "retrieval.grids", "retrieval.domain_study", "retrieval.masks",
                                   "retrieval.stats"]),
        features=feature_args,
        method=lambda wildcards: base_name(wildcards.method),
        choice=choice_args,
        code=code("retrieve"),
    log:
        log_of("retrieve", "method", "category", "split"),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d retrieve --settings {params.settings:q} --method {params.method}"
        " --category {wildcards.category} --split {wildcards.split} {params.choice}"
        " --sketches {input.sketches} --gallery {input.gallery} {params.features} --shapes {input.shapes}"
        " --out {output.npz} --metrics {output.metrics} > {log} 2>&1"



rule retrieval_table:
    input:
        unpack(table_inputs),
    output:
        csv=report(
            table_path("{table}", "csv"),
            caption="../report/retrieval/retrieval_table.rst",
            category="Retrieval (ch. 4.2)",
            subcategory="Tables",
            labels={"table": "{table}", "profile": PROFILE},
        ),
        md=table_path("{table}", "md"),
        json=table_path("{table}", "json"),
    wildcard_constraints:
        table="|".join(RETRIEVAL_TABLES),
    params:
        rehearsal=REHEARSAL_FLAG,
        number=lambda wildcards: get_table(wildcards.table).number,
        rows=lambda wildcards: caption_rows(wildcards.table, config["retrieval"], config["features"]["backbone"]),
        settings=settings("seed", "retrieval.stats"),
        code=code("retrieval_table"),
    log:
        log_of("retrieval_table", "table"),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d retrieval_table --table {params.number} --thesis {input.thesis} --metrics {input.metrics}"
        " --ranks {input.ranks} --settings {params.settings:q}"
        " --out-csv {output.csv} --out-md {output.md} --out-json {output.json} {params.rehearsal} > {log} 2>&1"


rule figure_top5:
    input:
        npz=lambda wildcards: f"{RESULTS}/retrieval/{config['retrieval']['figure']['method']}/{wildcards.category}_test.npz",
        sketches=f"{RESULTS}/sketches/{{category}}/test",
        gallery=lambda wildcards: gallery_dir(wildcards.category, "test", config["retrieval"]["figure"]["style"],
                                              config["retrieval"]["figure"]["view_set"]),
    output:
        report(
            f"{RESULTS}/figures/top5_{{category}}.png",
            caption="../report/retrieval/figure_top5.rst",
            category="Retrieval (ch. 4.2)",
            subcategory="Figures",
            labels={"figure": "top-5 {category}", "profile": PROFILE},
        ),
    params:
        settings=settings("profile", "seed", "retrieval.figure"),
        code=code("figure_top5"),
        title=lambda wildcards: (
            f"{get_method(config['retrieval']['figure']['method']).describe(config['retrieval'], config['features']['backbone'])}: "
            f"{wildcards.category} test queries and their top-5 shapes (green = ground truth)"
        ),
    log:
        log_of("figure_top5", "category"),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d figure_top5 --settings {params.settings:q} --retrieval {input.npz} --sketches {input.sketches}"
        " --gallery {input.gallery} --out {output} --title {params.title:q} > {log} 2>&1"


rule figure_4_3:
    input:
        unpack(lambda wildcards: view_figure_inputs("figure_4_3")),
    output:
        report(
            f"{RESULTS}/figures/fig_4_3.png",
            caption="../report/retrieval/figure_4_3.rst",
            category="Retrieval (ch. 4.2)",
            subcategory="Figures",
            labels={"figure": "4.3", "profile": PROFILE},
        ),
    params:
        settings=settings("profile", "seed"),
        categories=" ".join(CATEGORIES),
        code=code("figure_4_3"),
    log:
        log_of("figure_4_3"),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d figure_4_3 --settings {params.settings:q} --categories {params.categories}"
        " --retrieval-a {input.a} --retrieval-b {input.b} --sketches {input.sketches} --gallery {input.gallery}"
        " --out {output} > {log} 2>&1"


rule figure_b_2:
    input:
        unpack(lambda wildcards: view_figure_inputs("figure_b_2")),
    output:
        report(
            f"{RESULTS}/figures/fig_B_2.png",
            caption="../report/retrieval/figure_B_2.rst",
            category="Retrieval (ch. 4.2)",
            subcategory="Figures",
            labels={"figure": "B.2", "profile": PROFILE},
        ),
    params:
        settings=settings("profile", "seed"),
        categories=" ".join(CATEGORIES),
        code=code("figure_b_2"),
    log:
        log_of("figure_b_2"),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d figure_b_2 --settings {params.settings:q} --categories {params.categories}"
        " --retrieval-a {input.a} --retrieval-b {input.b} --sketches {input.sketches} --gallery {input.gallery}"
        " --gallery-b {input.gallery_b} --out {output} > {log} 2>&1"


# a checkpoint: the box and transforms it chooses name the feature files the OBB and Augm. rows read
checkpoint retrieval_grid:
    input:
        unpack(grid_inputs),
    output:
        csv=f"{RESULTS}/retrieval/grids/{{grid}}.csv",
        json=f"{RESULTS}/retrieval/grids/{{grid}}.json",
    wildcard_constraints:
        grid="|".join(GRIDS),
    params:
        settings=lambda wildcards: settings(*FEATURE_KEYS, *GRID_KEYS[wildcards.grid]),
        categories=" ".join(CATEGORIES),
        cache=f"{RESULTS}/cache/features",
        box_grid=box_grid_arg,
        code=code("retrieval_grid"),
    log:
        log_of("retrieval_grid", "grid"),
    # One thread, started as soon as the validation split's images exist: the two grids are the chapter's longest
    # jobs; at two threads each they ran last, one after the other, with nothing to fill the second core.
    threads: 1
    priority: 50
    resources:
        gpu=1,
    conda:
        "../../environment.yml"
    shell:
        "OMP_NUM_THREADS={threads} sketch3d retrieval_grid --grid {wildcards.grid} --settings {params.settings:q}"
        " --categories {params.categories} --sketches {input.sketches} --gallery {input.gallery}"
        " --cache {params.cache} {params.box_grid} --out-csv {output.csv} --out-json {output.json} > {log} 2>&1"


rule grid_table:
    input:
        csv=lambda wildcards: f"{RESULTS}/retrieval/grids/{GRID_OF_TABLE[wildcards.table]}.csv",
        json=lambda wildcards: f"{RESULTS}/retrieval/grids/{GRID_OF_TABLE[wildcards.table]}.json",
        thesis=lambda wildcards: thesis_input(table_id(wildcards.table)),
    output:
        csv=report(
            table_path("{table}", "csv"),
            caption="../report/retrieval/grid_table.rst",
            category="Retrieval (ch. 4.2)",
            subcategory="Tables",
            labels={"table": "{table}", "profile": PROFILE},
        ),
        md=table_path("{table}", "md"),
        json=table_path("{table}", "json"),
    wildcard_constraints:
        table="|".join(GRID_OF_TABLE),
    params:
        rehearsal=REHEARSAL_FLAG,
        number=lambda wildcards: table_id(wildcards.table),
        code=code("grid_table"),
    log:
        log_of("grid_table", "table"),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d grid_table --table {params.number} --grid-csv {input.csv} --grid-json {input.json}"
        " --thesis {input.thesis} --out-csv {output.csv} --out-md {output.md} --out-json {output.json} {params.rehearsal} > {log} 2>&1"


rule domain_study:
    input:
        unpack(domain_study_inputs),
    output:
        fig41=report(
            f"{RESULTS}/figures/fig_4_1.png",
            caption="../report/retrieval/figure_4_1.rst",
            category="Retrieval (ch. 4.2)",
            subcategory="Figures",
            labels={"figure": "4.1", "profile": PROFILE},
        ),
        fig42=report(
            f"{RESULTS}/figures/fig_4_2.png",
            caption="../report/retrieval/figure_4_2.rst",
            category="Retrieval (ch. 4.2)",
            subcategory="Figures",
            labels={"figure": "4.2", "profile": PROFILE},
        ),
        json=f"{RESULTS}/figures/domain_study.json",
        csv=f"{RESULTS}/figures/domain_study.csv",
    params:
        settings=settings("profile", "seed", "render.sketch_azimuths", "retrieval.domain_study",
                          "retrieval.chunk_size", exclude=["retrieval.domain_study.split"]),
        code=code("domain_study"),
    log:
        log_of("domain_study"),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d domain_study --settings {params.settings:q}"
        " --sketch-features {input.sketch_npy} --sketch-ids {input.sketch_ids}"
        " --lines-features {input.lines_npy} --lines-ids {input.lines_ids}"
        " --rgb-features {input.rgb_npy} --rgb-ids {input.rgb_ids} --sketches {input.sketches}"
        " --fig-4-1 {output.fig41} --fig-4-2 {output.fig42} --out-json {output.json} --out-csv {output.csv} > {log} 2>&1"


rule mask_train_set:
    input:
        shapes=f"{RESULTS}/data/shapes.csv",
    output:
        shapes=f"{RESULTS}/data/mask_train_{{category}}.csv",
        summary=f"{RESULTS}/data/mask_train_{{category}}.json",
    params:
        settings=settings("profile", "seed", "retrieval.masks.train_set",
                          *(["data.shapenet_root"] if PROFILE == "paper" else [])),
        code=code("mask_train_set"),
    log:
        log_of("mask_train_set", "category"),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d mask_train_set --settings {params.settings:q} --shapes {input.shapes}"
        " --out {output.shapes} --summary {output.summary} > {log} 2>&1"


rule render_mask_train:
    input:
        shapes=f"{RESULTS}/data/mask_train_{{category}}.csv",
        store=f"{RESULTS}/data/items",
    output:
        directory(f"{RESULTS}/renders/mask_train/lines_{{view_set}}/{{category}}"),
    wildcard_constraints:
        view_set="|".join(config["render"]["view_sets"]),
    params:
        settings=gallery_settings,
        code=code("render_mask_train"),
    log:
        log_of("render_mask_train", "view_set", "category"),
    threads: 2
    conda:
        "../../environment.yml"
    shell:
        "sketch3d render_mask_train --settings {params.settings:q} --shapes {input.shapes}"
        " --category {wildcards.category} --view-set {wildcards.view_set} --threads {threads} --out {output}"
        " > {log} 2>&1"


rule train_mask:
    input:
        unpack(train_mask_inputs),
        unpack(train_mask_val_inputs),
    output:
        **{f"best_{m}_{c}": f"{RESULTS}/retrieval/masks/{m}{{suffix}}/best_{c}.npy" for m in MASK_MODES for c in CATEGORIES},
        **{f"info_{m}_{c}": f"{RESULTS}/retrieval/masks/{m}{{suffix}}/best_{c}.json" for m in MASK_MODES for c in CATEGORIES},
        **{f"curve_{m}": f"{RESULTS}/retrieval/masks/{m}{{suffix}}/curves.csv" for m in MASK_MODES},
        **{f"plot_{m}": report(
            f"{RESULTS}/retrieval/masks/{m}{{suffix}}/curves.png",
            caption="../report/retrieval/mask_curve.rst",
            category="Retrieval (ch. 4.2)",
            subcategory="Figures",
            labels={"figure": f"training curve, {m}{{suffix}} mask", "profile": PROFILE},
        ) for m in MASK_MODES},
    wildcard_constraints:
        suffix="(?:" + "|".join(re.escape(x) for x in MASK_SUFFIXES) + ")",  # may be empty: never "" (= any)
    params:
        settings=settings(*FEATURE_KEYS, "retrieval.chunk_size", "retrieval.choices", "retrieval.thesis_choice",
                          "retrieval.masks", exclude=["retrieval.masks.train_set"]),
        modes=" ".join(MASK_MODES),
        val=val_args,
        out=lambda wildcards, output: str(Path(output[0]).parent.parent),  # results/<profile>/retrieval/masks
        checkpoints=lambda wildcards: f"{RESULTS}/cache/masks{wildcards.suffix}",
        choice=lambda wildcards, input: f"--choice {mask_choice(wildcards)}"
                                        + (f" --grids {' '.join(input.grids)}" if "grids" in input.keys() else ""),
        code=code("train_mask"),
    log:
        f"{LOGS}/train_mask/masks{{suffix}}.log",
    threads: 2
    resources:
        gpu=1,
    conda:
        "../../environment.yml"
    shell:
        "OMP_NUM_THREADS={threads} sketch3d train_mask --settings {params.settings:q} --modes {params.modes}"
        " --suffix '{wildcards.suffix}' {params.choice} --train {input.train} --train-set {input.train_set}"
        " {params.val} --out {params.out} --checkpoints {params.checkpoints} > {log} 2>&1"
