# Stage: tables beside the thesis's numbers, figures; all shown by `snakemake --report`.


rule table_4_8:
    input:
        expand(
            f"{RESULTS}/retrieval/{{method}}/{{category}}_test.json",
            method=TABLE_METHODS,
            category=CATEGORIES,
        ),
    output:
        csv=report(
            f"{RESULTS}/tables/table_4_8.csv",
            caption="../report/table_4_8.rst",
            category="Tables",
            labels={"table": "4.8", "profile": PROFILE},
        ),
        md=f"{RESULTS}/tables/table_4_8.md",
        json=f"{RESULTS}/tables/table_4_8.json",
    params:
        code=code_version("report", "retrieval/methods"),
    log:
        f"{RESULTS}/logs/table_4_8.log",
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d table --table 4.8 --metrics {input} --out-csv {output.csv} --out-md {output.md} --out-json {output.json} > {log} 2>&1"


rule figure_top5:
    input:
        npz=f"{RESULTS}/retrieval/obb/{{category}}_test.npz",
        sketches=f"{RESULTS}/sketches/{{category}}/test",
        gallery=f"{RESULTS}/renders/gallery/{{category}}/test",
    output:
        report(
            f"{RESULTS}/figures/top5_{{category}}.png",
            caption="../report/top5.rst",
            category="Figures",
            labels={"figure": "top-5 {category}", "profile": PROFILE},
        ),
    params:
        settings=settings("profile", "seed", "report"),
        code=code_version("report", "imageset"),
        title="CLIP RN101 layer-3, OBB: {category} test queries and their top-5 shapes (green = ground truth)",
    log:
        f"{RESULTS}/logs/figure_top5_{{category}}.log",
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d figure --settings {params.settings:q} --retrieval {input.npz} --sketches {input.sketches}"
        " --gallery {input.gallery} --out {output} --title {params.title:q} > {log} 2>&1"
