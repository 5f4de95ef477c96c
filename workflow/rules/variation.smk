# How much each table moves by chance: the rules (variation_inputs.smk finds the runs beside this one).


rule table_variation:
    input:
        reference=table_path("{table}", "json"),
        table_csv=table_path("{table}", "csv"),
        seeds=lambda wildcards: variation_runs(wildcards.table, "seed"),
        cpus=lambda wildcards: variation_runs(wildcards.table, "cpu_"),
    output:
        md=report(
            f"{RESULTS}/tables/variation/table_{{table}}.md",
            caption="../report/variation.rst",
            category="Variation over seeds and CPU kinds",
            labels={"table": "{table}", "profile": PROFILE},
        ),
        csv=f"{RESULTS}/tables/variation/table_{{table}}.csv",
    params:
        settings=settings("profile"),
        code=code("table_variation"),
        rehearsal=REHEARSAL_FLAG,
    log:
        log_of("table_variation", "table"),
    conda:
        "../../environment.yml"
    shell:
        "sketch3d table_variation --table {wildcards.table} --settings {params.settings:q} --reference {input.reference}"
        " --table-csv {input.table_csv} --seeds {input.seeds} --cpus {input.cpus} --out-csv {output.csv}"
        " --out-md {output.md} {params.rehearsal} > {log} 2>&1"


rule variation:
    input:
        VARIATION_TARGETS,
