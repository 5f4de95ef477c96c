# Chapter 5: NetSpace. The net zoos (one job per member), the SDF MLPs (one job per chair), NetSpace trained per
# setting (single, multi, unseen, sdf), its evaluation, latent space optimisation, Tables 5.1 and C.1, Figs.
# 5.3-5.5 and C.5-C.6. Input functions: netspace_inputs.smk.


rule netspace:
    input:
        CHAPTER_TARGETS["netspace"],


rule fetch_netspace:
    output:
        f"{config['profiles']['paper']['data']['data_dir']}/downloads/{{archive}}",
    wildcard_constraints:
        archive="|".join(re.escape(f) for f in NS_ARCHIVE_FILES),
    params:
        data_dir=lambda wildcards, output: Path(output[0]).parents[1],
    log:
        f"{LOGS}/fetch_netspace/{{archive}}.log",
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d fetch_netspace --data-dir {params.data_dir} --out {output} > {log} 2>&1"


ruleorder: fetch_netspace > fetch


rule train_member:
    input:
        ns_raw_inputs,
    output:
        member=f"{NS}/zoo/{{dataset}}/{{member}}.pt",
        curves=f"{NS}/zoo_curves/{{dataset}}/{{member}}/curves.csv",
    wildcard_constraints:
        member="|".join(NS_MEMBERS),
        dataset="|".join(NS_DATASETS),
    params:
        member=ns_member_json,  # the member's own regime and seed: a count change reruns no existing member
        settings=lambda wildcards: ns_settings(wildcards.dataset, "seed"),
        # outside the outputs: Snakemake removes a failed job's outputs, the checkpoint must survive to resume
        checkpoints=lambda wildcards: f"{NS_CACHE}/checkpoints/{wildcards.dataset}/zoo/{wildcards.member}",
        code=code("train_member"),
    log:
        log_of("train_member", "dataset", "member"),
    threads: 1
    priority: ns_member_priority
    resources:
        gpu=1,
    conda:
        "../../environment.yml"
    shell:
        "OMP_NUM_THREADS={threads} sketch3d train_member --member {params.member:q} --settings {params.settings:q}"
        " --out {output.member} --curves {output.curves} --checkpoints {params.checkpoints} > {log} 2>&1"


rule sdf_samples:
    input:
        shapes=f"{RESULTS}/data/shapes.csv",
        store=f"{RESULTS}/data/items",
    output:
        f"{NS}/sdf_samples/{NS_CHAIRS}/{{mlp}}.npz",
    wildcard_constraints:
        mlp=rf"({'|'.join(SPLITS)})-\d{{3}}",
    params:
        settings=settings("seed", "netspace.sdf_samples"),
        code=code("sdf_samples"),
    log:
        log_of("sdf_samples", "mlp"),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d sdf_samples --settings {params.settings:q} --shapes {input.shapes} --mlp {wildcards.mlp}"
        " --out {output} > {log} 2>&1"


rule fit_sdf_mlp:
    input:
        f"{NS}/sdf_samples/{NS_CHAIRS}/{{mlp}}.npz",
    output:
        f"{NS}/sdf_mlps/{NS_CHAIRS}/{{mlp}}.pt",
    wildcard_constraints:
        mlp=rf"({'|'.join(SPLITS)})-\d{{3}}",
    params:
        settings=settings("seed", "netspace.sdf_mlps", exclude=["netspace.sdf_mlps.count"]),
        code=code("fit_sdf_mlp"),
    log:
        log_of("fit_sdf_mlp", "mlp"),
    threads: 1
    resources:
        gpu=1,
    conda:
        "../../environment.yml"
    shell:
        "OMP_NUM_THREADS={threads} sketch3d fit_sdf_mlp --settings {params.settings:q} --samples {input}"
        " --out {output} > {log} 2>&1"


rule zoo_table:
    input:
        members=[f"{NS}/zoo/{d}/{m}.pt" for d in NS_DATASETS for m in NS_MEMBERS],
        thesis=thesis_input(TABLE_C_1),
    output:
        csv=report(
            table_path(TABLE_C_1, "csv"),
            caption="../report/netspace/tables.rst",
            category="NetSpace (ch. 5)",
            subcategory="Tables",
            labels={"table": TABLE_C_1, "profile": PROFILE},
        ),
        md=table_path(TABLE_C_1, "md"),
        json=table_path(TABLE_C_1, "json"),
    params:
        rehearsal=REHEARSAL_FLAG,
        settings=settings("profile"),
        code=code("zoo_table"),
    log:
        log_of("zoo_table"),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d zoo_table --members {input.members} --thesis {input.thesis} --settings {params.settings:q}"
        " --out-csv {output.csv} --out-md {output.md} --out-json {output.json} {params.rehearsal} > {log} 2>&1"


rule teacher_logits:
    input:
        teacher=ns_teacher,
        raw=ns_raw_inputs,
    output:
        f"{NS}/models/{{dataset}}/teacher_logits.pt",  # beside the models: the chain's netspace_models boundary
    wildcard_constraints:
        dataset="|".join(NS_DATASETS),
    params:
        settings=lambda wildcards: ns_settings(wildcards.dataset, "seed"),
        code=code("teacher_logits"),
    log:
        log_of("teacher_logits", "dataset"),
    threads: 1
    priority: NS_PRIORITY["netspace"]
    resources:
        gpu=1,
    conda:
        "../../environment.yml"
    shell:
        "OMP_NUM_THREADS={threads} sketch3d teacher_logits --teacher {input.teacher} --settings {params.settings:q}"
        " --out {output} > {log} 2>&1"


rule train_netspace:
    input:
        unpack(ns_train_inputs),
    output:
        model=f"{NS}/models/{{dataset}}/{{setting}}/model.pt",
        curves=f"{NS}/models/{{dataset}}/{{setting}}/curves.csv",
        plot=report(
            f"{NS}/models/{{dataset}}/{{setting}}/curves.png",
            caption="../report/netspace/curves.rst",
            category="NetSpace (ch. 5)",
            subcategory="Training",
            labels={"setting": "{setting}", "dataset": "{dataset}", "profile": PROFILE},
        ),
        summary=f"{NS}/models/{{dataset}}/{{setting}}/summary.json",
    wildcard_constraints:
        setting="|".join(NS_SETTINGS),
        dataset="|".join([*NS_DATASETS, NS_CHAIRS]),
    params:
        settings=ns_training_settings,
        teacher=ns_teacher_arg,
        out=lambda wildcards: f"{NS}/models/{wildcards.dataset}/{wildcards.setting}",
        checkpoints=lambda wildcards: f"{NS_CACHE}/checkpoints/{wildcards.dataset}/netspace/{wildcards.setting}",
        code=code("train_netspace"),
    log:
        log_of("train_netspace", "dataset", "setting"),
    threads: 1
    priority: NS_PRIORITY["netspace"]
    resources:
        gpu=1,
    conda:
        "../../environment.yml"
    shell:
        "OMP_NUM_THREADS={threads} sketch3d train_netspace --setting {wildcards.setting} --settings {params.settings:q}"
        " --train {input.train} --val {input.val} {params.teacher} --out {params.out}"
        " --checkpoints {params.checkpoints} > {log} 2>&1"


rule evaluate_netspace:
    input:
        model=f"{NS}/models/{{dataset}}/{{setting}}/model.pt",
        test=lambda wildcards: ns_nets(wildcards, "test"),
        raw=ns_raw_inputs,
    output:
        directory(f"{NS}/evaluation/{{dataset}}/{{setting}}"),
    wildcard_constraints:
        setting="|".join(NS_SETTINGS),
        dataset="|".join([*NS_DATASETS, NS_CHAIRS]),
    params:
        settings=lambda wildcards: ns_settings(wildcards.dataset, "seed", "profile", "netspace.evaluation"),
        code=code("evaluate_netspace"),
    log:
        log_of("evaluate_netspace", "dataset", "setting"),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "OMP_NUM_THREADS={threads} sketch3d evaluate_netspace --model {input.model} --test {input.test}"
        " --settings {params.settings:q} --out {output} > {log} 2>&1"


rule optimise_latent:
    input:
        model=lambda wildcards: f"{NS}/models/{wildcards.dataset}/{NS_LATENT[wildcards.start][0]}/model.pt",
        net=lambda wildcards: f"{NS}/zoo/{wildcards.dataset}/{NS_LATENT[wildcards.start][1]}.pt",
        teacher=ns_teacher,
        teacher_logits=ns_teacher_logits,
        raw=ns_raw_inputs,
    output:
        f"{NS}/latent/{{dataset}}/{{start}}.json",
    wildcard_constraints:
        start="|".join(NS_LATENT),
        dataset="|".join(NS_DATASETS),
    params:
        settings=lambda wildcards: ns_settings(wildcards.dataset, "seed", "profile", "netspace.latent"),
        teacher_logits=ns_teacher_logits_arg,
        code=code("optimise_latent"),
    log:
        log_of("optimise_latent", "dataset", "start"),
    threads: 1
    resources:
        gpu=1,
    conda:
        "../../environment.yml"
    shell:
        "OMP_NUM_THREADS={threads} sketch3d optimise_latent --model {input.model} --net {input.net}"
        " --teacher {input.teacher} {params.teacher_logits} --settings {params.settings:q} --out {output} > {log} 2>&1"


rule netspace_table:
    input:
        results=[f"{NS}/latent/{NS_TABLE_DATASET}/{start}.json" for start in NS_LATENT],
        thesis=thesis_input(TABLE_5_1),
    output:
        csv=report(
            table_path(TABLE_5_1, "csv"),
            caption="../report/netspace/tables.rst",
            category="NetSpace (ch. 5)",
            subcategory="Tables",
            labels={"table": TABLE_5_1, "profile": PROFILE},
        ),
        md=table_path(TABLE_5_1, "md"),
        json=table_path(TABLE_5_1, "json"),
    params:
        rehearsal=REHEARSAL_FLAG,
        code=code("netspace_table"),
    log:
        log_of("netspace_table"),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d netspace_table --results {input.results} --thesis {input.thesis} --out-csv {output.csv}"
        " --out-md {output.md} --out-json {output.json} {params.rehearsal} > {log} 2>&1"


rule figure_netspace:
    input:
        [f"{NS}/evaluation/{d}/{s}" for s, d in NS_RUNS],
    output:
        # one folder: its files carry the dataset in their names (figures.figure_names), a number that the
        # profiles' netspace.datasets set; DVC tracks the folder (dvc.yaml figures_netspace)
        report(directory(NS_FIGURES_DIR), patterns=["{figure}.png"], caption="../report/netspace/figures.rst",
               category="NetSpace (ch. 5)", subcategory="Figures", labels={"figure": "{figure}", "profile": PROFILE}),
    params:
        settings=settings("profile"),
        out=lambda wildcards, output: output[0],
        code=code("figure_netspace"),
    log:
        log_of("figure_netspace"),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "sketch3d figure_netspace --evaluation {input} --settings {params.settings:q} --out {params.out} > {log} 2>&1"
