# Chapter 4.2: sketch-to-shape retrieval. Distances (MSE, reduced over views), ranks and acc@k,
# Table 4.8 beside the thesis's numbers, top-5 figures. Methods and tables: sketch3d.retrieval.methods;
# input functions and targets: retrieval_inputs.smk.


rule retrieval:
    input:
        CHAPTER_TARGETS["retrieval"],


rule retrieve:
    input:
        unpack(retrieval_inputs),
    output:
        npz=f"{RESULTS}/retrieval/{{method}}/{{category}}_{{split}}.npz",
        metrics=f"{RESULTS}/retrieval/{{method}}/{{category}}_{{split}}.json",
    wildcard_constraints:
        method="|".join(METHODS),
    params:
        settings=settings("profile", "retrieval", exclude=["retrieval.figure_queries"]),
        features=feature_args,
        code=code("retrieve"),
    log:
        log_of("retrieve", "method", "category", "split"),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d retrieve --settings {params.settings:q} --method {wildcards.method}"
        " --category {wildcards.category} --split {wildcards.split}"
        " --sketches {input.sketches} --gallery {input.gallery} {params.features}"
        " --out {output.npz} --metrics {output.metrics} > {log} 2>&1"


rule table_4_8:
    input:
        table_metrics("4.8"),
    output:
        csv=report(
            f"{RESULTS}/tables/table_4_8.csv",
            caption="../report/retrieval/table_4_8.rst",
            category="Retrieval (ch. 4.2)",
            subcategory="Tables",
            labels={"table": "4.8", "profile": PROFILE},
        ),
        md=f"{RESULTS}/tables/table_4_8.md",
        json=f"{RESULTS}/tables/table_4_8.json",
    params:
        rows=caption_rows("4.8", config["retrieval"]),
        code=code("table_4_8"),
    log:
        log_of("table_4_8"),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d table_4_8 --metrics {input} --out-csv {output.csv} --out-md {output.md}"
        " --out-json {output.json} > {log} 2>&1"


rule figure_top5:
    input:
        npz=f"{RESULTS}/retrieval/obb/{{category}}_test.npz",
        sketches=f"{RESULTS}/sketches/{{category}}/test",
        gallery=f"{RESULTS}/renders/gallery/{{category}}/test",
    output:
        report(
            f"{RESULTS}/figures/top5_{{category}}.png",
            caption="../report/retrieval/figure_top5.rst",
            category="Retrieval (ch. 4.2)",
            subcategory="Figures",
            labels={"figure": "top-5 {category}", "profile": PROFILE},
        ),
    params:
        settings=settings("profile", "seed", "retrieval.figure_queries"),
        code=code("figure_top5"),
        title=lambda wildcards: (
            f"{METHODS['obb'].describe(config['retrieval'])}: {wildcards.category} test queries"
            " and their top-5 shapes (green = ground truth)"
        ),
    log:
        log_of("figure_top5", "category"),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d figure_top5 --settings {params.settings:q} --retrieval {input.npz} --sketches {input.sketches}"
        " --gallery {input.gallery} --out {output} --title {params.title:q} > {log} 2>&1"
