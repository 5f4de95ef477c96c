"""The workflow's DAG for both profiles, its seams (rule = command = function), the linter, the DVC
front end, and validation of bad parameters."""
from __future__ import annotations

import re
import shlex
import time

import pytest
import yaml

from workflow_helpers import BIN, REPO, make_project, run, snakemake
from sketch3d.cli import commands
from sketch3d.names import table_stem
from sketch3d.table_stages import all_tables

STAGE_RULES = ("prepare_dataset", "render_gallery", "rasterize_sketches", "extract_features", "retrieve",
               "retrieval_table", "figure_top5", "retrieval_grid", "grid_table", "mask_train_set",
               "render_mask_train", "train_mask", "domain_study", "figure_4_3", "figure_b_2")
GPU_RULES = ("extract_features", "retrieval_grid", "train_mask")
SD_GPU_RULES = ("label_depth", "train_gan", "generate", "image_metrics", "figure_depth_sketch")  # chapter 3 (train_labeller: demo only)
RC_GPU_RULES = ("invert", "reconstruction_scores")  # chapter 4.3 (scores: the generator decodes snapshots) (train_generator: demo only)
NS_GPU_RULES = ("train_member", "fit_sdf_mlp", "train_netspace", "optimise_latent")  # chapter 5
CHAPTERS = ("retrieval", "sketchydepth", "reconstruction", "netspace")
ALL_GPU_RULES = {*GPU_RULES, *SD_GPU_RULES, *RC_GPU_RULES, *NS_GPU_RULES}


@pytest.fixture(scope="module")
def plans(tmp_path_factory) -> dict[str, str]:
    """profile -> the dry run (`-n -p --forceall`) of every chapter: one DAG per profile, which the tests
    below read (the paper profile's DAG has thousands of jobs: building it once per test is CI's time)."""
    project = make_project(tmp_path_factory.mktemp("plans"))
    answers = project / "data/human_study/answers_p1.csv"  # the human study's table is built once answers exist
    answers.parent.mkdir(parents=True, exist_ok=True)
    answers.write_text("participant,item,triplet_id,chosen\np1,1,test_00000,ours\n")
    return {profile: snakemake("-n", "-p", "--forceall", "--cores", "1", "--config", f"profile={profile}",
                               "--", *CHAPTERS, cwd=project).stdout for profile in ("demo", "paper")}


def test_demo_dry_run_lists_the_slice(project):
    out = snakemake("-n", "--cores", "1", cwd=project).stdout
    for rule in STAGE_RULES:
        assert re.search(rf"^(rule|checkpoint) {rule}:", out, re.M), rule
    assert "results/demo/tables/table_4_8.csv" in out


def test_each_chapter_is_a_target_and_all_is_the_listed_chapters(project):
    chapters = yaml.safe_load((REPO / "src/sketch3d/params.schema.yaml").read_text())["properties"]["chapters"]
    assert chapters["items"]["enum"] == list(CHAPTERS)
    one = snakemake("-n", "--cores", "1", "retrieval", cwd=project).stdout
    everything = snakemake("-n", "--cores", "1", cwd=project).stdout
    assert "rule retrieval_table:" in one and "rule figure_top5:" in one
    jobs = re.compile(r"^(\w+)\s+(\d+)$", re.M)
    assert {k: v for k, v in jobs.findall(one) if k not in ("all", "retrieval", "total")} == {
        k: v for k, v in jobs.findall(everything) if k not in ("all", "retrieval", "total")}


def _shell_commands(out: str) -> dict[str, list[str]]:
    """rule name -> shell commands of a dry run's jobs (-p prints them)."""
    found: dict[str, list[str]] = {}
    for block in out.split("\n\n"):
        rule = re.search(r"^(?:local)?(?:rule|checkpoint) (\w+):", block, re.M)
        if rule:
            lines = [line for line in block.splitlines() if line.startswith("sketch3d ") or " sketch3d " in line]
            found.setdefault(rule.group(1), []).extend(lines)
    return found


def test_each_rule_runs_its_namesake_command_and_has_a_design_row(plans):
    """One name per stage: rule X runs `sketch3d X`, and docs/design.md has a row for it."""
    design = (REPO / "docs/design.md").read_text()
    seen = {}
    for out in plans.values():
        seen.update(_shell_commands(out))
    assert {"prepare_scenes", "train_gan", "human_study_table", "invert", "train_generator", "train_member",
            "fit_sdf_mlp", "optimise_latent", "fetch_netspace"} <= set(seen)
    targets = {"all", *CHAPTERS}
    known = commands()
    for rule, shells in seen.items():
        if rule in targets:
            continue
        assert shells, f"rule {rule} runs no sketch3d command"
        for shell in shells:
            words = shlex.split(shell.split(">")[0])
            assert words[words.index("sketch3d") + 1] == rule, f"rule {rule} runs {shell}"
        assert rule in known, f"rule {rule}: no `sketch3d {rule}` command"
        assert re.search(rf"^\| `{rule}` \|", design, re.M), f"docs/design.md has no row for rule {rule}"
    assert {"fetch", *STAGE_RULES} <= set(seen)


def test_every_log_lives_under_its_rules_folder(project):
    out = snakemake("-n", "--forceall", "--cores", "1", cwd=project).stdout
    logs = re.findall(r"(?:rule|checkpoint) (\w+):\n(?:    .*\n)*?    log: (\S+)", out)
    assert {rule for rule, _ in logs} == set(STAGE_RULES)
    for rule, log in logs:
        assert log.startswith(f"results/demo/logs/{rule}/"), (rule, log)


def test_no_job_input_is_an_absolute_path(plans):
    """Snakemake records each job's input set; an absolute path (the thesis tables the table rules read from the
    package) differs between clones, so results moved to another clone would rerun their tables."""
    for profile, out in plans.items():
        inputs = [p for line in re.findall(r"^\s+input: (.*)$", out, re.M) for p in line.split(", ")]
        assert any("reference/table_" in p for p in inputs), profile  # the table rules' inputs are listed
        absolute = sorted({p for p in inputs if p.startswith("/")})
        assert not absolute, (profile, absolute[:5])


def test_every_dvc_output_is_a_snakemake_target_of_its_profile(plans, project):
    """Each DVC stage owns what its command makes: an out is a target of its command, or (a boundary stage run
    with ``--until <rules>`` or through a target rule, sketch3d.chain) an output of one of those rules' jobs or
    a folder of such outputs;
    all of it under the results folder of the stage's profile."""
    from dvc.repo import Repo

    from sketch3d.chain import BOUNDARIES

    goals = {b.name: b for b in BOUNDARIES if b.goal}
    stages = list(Repo(str(REPO)).index.stages)
    assert {s.addressing for s in stages} >= {"table_4_8@demo", "table_4_8@paper", "features@paper"}
    targets: dict[str, list[str]] = {}
    for stage in stages:
        outs = [str(o.def_path) for o in stage.outs]
        words = shlex.split(stage.cmd)
        profile = next(w.split("=", 1)[1] for w in words if w.startswith("profile="))
        until = words[words.index("--until") + 1:words.index("--") if "--" in words else None] \
            if "--until" in words else []
        goal = goals.get(stage.addressing.split("@")[0])
        if goal is not None:  # asked through a target rule of the workflow: its outs are made by the boundary's rules
            assert goal.goal in words, f"{stage.addressing}: its command does not ask for {goal.goal}"
            until = list(goal.rules)
        made_by = {path for rule, line in re.findall(r"^(?:rule|checkpoint) (\w+):\n(?:    .*\n)*?    output: (.*)$",
                                                      plans[profile], re.M) if rule in until
                   for path in line.split(", ")}
        for out in outs:
            if until:
                assert any(p == out or p.startswith(out + "/") for p in made_by), \
                    f"{stage.addressing}: output {out} is made by none of its rules {until}"
            else:
                assert out in words, f"{stage.addressing}: output {out} is not a target of its command"
                targets.setdefault(profile, []).append(out)
            if out.startswith("results/"):
                assert out.startswith(f"results/{profile}/"), f"{stage.addressing}: {out} is not of profile {profile}"
    # Snakemake makes each of them in that profile: an output of a job of the chapters' DAG, or (a download no
    # chapter reads in this profile, e.g. CIFAR-10 beside the paper's Tiny-ImageNet) of a dry run that asks for it
    for profile, outs in targets.items():
        made = {path for line in re.findall(r"^    output: (.*)$", plans[profile], re.M) for path in line.split(", ")}
        rest = [out for out in dict.fromkeys(outs) if out not in made]
        if rest:
            snakemake("-n", "--cores", "1", "--config", f"profile={profile}", "--", *rest, cwd=project)


def test_every_dvc_plot_is_a_curves_file_snakemake_makes_in_its_profile(plans):
    """dvc.yaml's top-level plots (the training curves) name files, or folders of files, that a job of that
    profile's DAG writes, each a training loop's curves.csv: a renamed or moved curve fails here."""
    plots = yaml.safe_load((REPO / "dvc.yaml").read_text())["plots"]
    paths = [next(iter(p)) if isinstance(p, dict) else p for p in plots]
    assert any("/zoo_curves" in p for p in paths) and any("/masks/" in p for p in paths)
    for path in paths:
        profile = path.split("/")[1]
        made = {out for line in re.findall(r"^    output: (.*)$", plans[profile], re.M) for out in line.split(", ")}
        found = [out for out in made if out == path or out.startswith(path + "/")]
        assert found, f"dvc.yaml plot {path}: no job of the {profile} profile writes it"
        assert all(out.endswith("/curves.csv") for out in found), path


def test_paper_dag_has_every_table_and_figure_and_marks_gpu_rules(plans):
    out = plans["paper"]
    for table in all_tables():  # every chapter's (sketch3d.table_stages)
        assert f"results/paper/tables/{table_stem(table)}.csv" in out, table
    for figure in ("fig_4_1.png", "fig_4_2.png", "fig_4_3.png", "fig_B_2.png", "top5_chair.png", "top5_lamp.png"):
        assert f"results/paper/figures/{figure}" in out, figure
    assert "results/paper/retrieval/masks/binary/curves.png" in out
    assert set(GPU_RULES) <= _gpu_rules_of(out)


def test_chapter_3_paper_dag_has_its_table_and_figures_and_marks_gpu_rules(plans):
    out = plans["paper"]
    for target in ("tables/table_3_1.csv", "figures/fig_3_3.png", "figures/fig_3_4.png", "figures/fig_3_5.png",
                   "figures/fig_3_6.gif", "figures/fig_3_7.png", "figures/fig_A_1.png", "figures/fig_A_4.png",
                   "sketchydepth/human_study/page.html", "sketchydepth/human_study/items.json"):
        assert f"results/paper/{target}" in out, target
    for model in ("baseline", "sketchydepth", "no_depth", "no_joint"):
        assert f"results/paper/sketchydepth/models/{model}/final.pt" in out, model
    assert "rule train_labeller:" not in out  # the paper profile labels with the official MiDaS weights
    assert set(SD_GPU_RULES) <= _gpu_rules_of(out)


def test_chapter_3_paper_run_offline_stops_naming_each_missing_input(project):
    proc = snakemake("--cores", "1", "--config", "profile=paper", "chapters=[sketchydepth]", "--", "sketchydepth",
                     cwd=project, check=False, timeout=120)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    for item in ("sketchycoco_scene", "sketchycoco_others", "midas_v21-f6b98070.pt",
                 "pt_inception-2015-12-05-6726825d.pth"):
        assert item in text, f"{item} not named in:\n{text[-3000:]}"
    assert "amateursketch" not in text.lower()  # only the listed chapters' inputs are asked for
    assert not (project / "results" / "paper" / "sketchydepth").exists(), "a job ran before the check"


def test_chapter_3_models_and_depth_models_match_the_networks(plans):
    """The workflow's models (Table 3.1's rows) are the package's networks, and exactly those with G_d write a
    depth map (the rules derive both from the package)."""
    from sketch3d.sketchydepth.networks import MODELS
    from sketch3d.sketchydepth.tables import THESIS_ROWS

    assert set(THESIS_ROWS) == set(MODELS)
    shells = _shell_commands(plans["paper"])["generate"]
    models = {shlex.split(s)[shlex.split(s).index("--model") + 1]: "--out-depth" in s for s in shells}
    assert models == {m: "G_d" in spec.generators for m, spec in MODELS.items()}


def test_paper_dry_run_needs_no_data(plans):
    out = plans["paper"]
    assert "results/paper/tables/table_4_8.csv" in out
    assert "rule fetch:" in out and "data/paper/downloads/AmateurSketch-3DChair.zip" in out
    assert "results/demo/" not in out  # profiles never share outputs


def test_paper_run_offline_stops_before_any_job(project):
    start = time.monotonic()
    proc = snakemake("--cores", "1", "--config", "profile=paper", cwd=project, check=False, timeout=120)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    for item in ("amateursketch_chair", "amateursketch_lamp", "ShapeNet", "RN101"):
        assert item.lower() in text.lower(), f"{item} not named in:\n{text[-3000:]}"
    assert not (project / "results" / "paper" / "data").exists(), "a job ran before the check"
    assert time.monotonic() - start < 90


@pytest.mark.parametrize("override, key", [("seed=-3", "seed"), ("profile=thesis", "profile")])
def test_bad_parameter_is_named_before_any_job(project, override, key):
    proc = snakemake("-n", "--cores", "1", "--config", override, cwd=project, check=False)
    assert proc.returncode != 0
    assert f"invalid parameter '{key}'" in proc.stdout + proc.stderr


def test_lint_is_clean(project):
    proc = snakemake("--lint", cwd=project, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _gpu_rules_of(out: str) -> set:
    """The GPU rules (ALL_GPU_RULES) seen in a dry run's output, each declaring one GPU; every other rule must
    not claim a GPU."""
    seen = set()
    for block in out.split("\n\n"):
        rule = re.search(r"^(?:local)?(?:rule|checkpoint) (\w+):", block, re.M)
        if rule and rule.group(1) in ALL_GPU_RULES:
            seen.add(rule.group(1))
            assert "gpu=1" in block, f"{rule.group(1)} does not declare a GPU"
        elif rule:
            assert "gpu=" not in block, f"{rule.group(1)} claims a GPU it does not use"
    return seen


def test_chapter_4_3_paper_dag_has_its_table_and_figures_and_marks_gpu_rules(plans):
    out = plans["paper"]
    for target in ("tables/table_reconstruction.csv", "figures/reconstruction", "reconstruction/sdf/targets.npz",
                   "reconstruction/generator/mean_style.npz"):
        assert f"results/paper/{target}" in out, target
    for supervision in ("sdf", "clip", "clip_argmax", "clip_lines"):
        assert f"results/paper/reconstruction/inversions/{supervision}/09" in out, supervision  # 10 examples
    assert "rule train_generator:" not in out  # the paper profile inverts the official generator
    assert set(RC_GPU_RULES) <= _gpu_rules_of(out)


def test_chapter_4_3_scores_read_the_retrieval_ranking_as_a_file(plans):
    """The retrieval baseline: chapter 4.3's scores job takes chapter 4.2's ranking of the examples' category and
    split (reconstruction.scores.retrieval_method) as an input file, which a retrieve job makes; no import."""
    for profile, out in plans.items():  # the demo ranks with Baseline (its time budget), the paper the full method
        method = {"demo": "baseline", "paper": "binary_chair"}[profile]
        ranking = f"results/{profile}/retrieval/{method}/chair_test.npz"
        blocks = {re.search(r"^(?:local)?rule (\w+):", b, re.M).group(1): b for b in out.split("\n\n")
                  if re.search(r"^(?:local)?rule (\w+):", b, re.M)
                  and re.search(r"^\s+(output|input): .*" + re.escape(ranking), b, re.M)}
        scores = blocks.get("reconstruction_scores", "")
        assert re.search(r"^\s+input: .*" + re.escape(ranking), scores, re.M), profile
        assert f"--retrieval {ranking} --shapes results/{profile}/data/shapes.csv" in scores, profile
        assert re.search(r"^\s+output: .*" + re.escape(ranking), blocks.get("retrieve", ""), re.M), profile


def test_chapter_4_3_paper_run_offline_stops_naming_each_missing_input(project):
    proc = snakemake("--cores", "1", "--config", "profile=paper", "chapters=[reconstruction]", "--", "reconstruction",
                     cwd=project, check=False, timeout=120)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    for item in ("epoch=199.ckpt", "SDF-StyleGAN", "amateursketch_chair", "ShapeNet"):
        assert item in text, f"{item} not named in:\n{text[-3000:]}"
    assert "amateursketch_lamp" not in text  # only the chairs are inverted
    assert not (project / "results" / "paper" / "reconstruction").exists(), "a job ran before the check"


def test_chapter_5_paper_dag_has_its_tables_and_figures_and_marks_gpu_rules(plans):
    out = plans["paper"]
    for target in ("tables/table_5_1.csv", "tables/table_C_1.csv", "figures/netspace",
                   "netspace/sdf_mlps/chairs/train-598.pt", "netspace/sdf_mlps/chairs/test-200.pt",
                   "netspace/models/chairs/sdf/model.pt"):
        assert f"results/paper/{target}" in out, target
    for dataset in ("tinyimagenet", "cifar10"):  # both image sets side by side (netspace.datasets)
        for target in ("netspace/zoo/{}/teacher-resnet56.pt", "netspace/evaluation/{}/multi",
                       "netspace/zoo/{}/multi-resnet32-train-099.pt", "netspace/zoo/{}/single-resnet8-test-015.pt",
                       "netspace/models/{}/single/model.pt", "netspace/models/{}/unseen/model.pt"):
            assert f"results/paper/{target.format(dataset)}" in out, target.format(dataset)
    assert "results/paper/netspace/latent/tinyimagenet/" in out  # Table 5.1: the thesis's Tiny-ImageNet only
    assert "results/paper/netspace/latent/cifar10/" not in out
    assert "rule fetch_netspace:" in out and "data/paper/downloads/tiny-imagenet-200.zip" in out
    assert "data/paper/downloads/cifar-10-python.tar.gz" in out
    assert set(NS_GPU_RULES) <= _gpu_rules_of(out)


def test_chapter_5_paper_dag_has_no_output_path_shared_by_the_datasets(plans):
    # every NetSpace job's outputs: two jobs (e.g. one per dataset) never write the same path; each path of a
    # zoo, model, evaluation or LSO names its dataset (or the SDF setting's chairs): netspace/<boundary>/<dataset>/
    jobs = re.findall(r"^rule (\w+):\n(?:    .*\n)*?    output: (.*)$", plans["paper"], re.M)
    seen: dict[str, str] = {}
    for rule, outputs in jobs:
        for path in outputs.split(", "):
            assert path not in seen, f"{path}: written by {seen.get(path)} and {rule}"
            seen[path] = rule
            if "/netspace/" in path:
                assert re.search(r"/netspace/\w+/(tinyimagenet|cifar10|chairs)/", path), path
    assert sum(rule == "train_member" for rule, _ in jobs) == 2 * sum(
        1 for rule, o in jobs if rule == "train_member" and "/tinyimagenet/" in o)


def test_chapter_5_paper_run_offline_stops_naming_each_missing_input(project):
    proc = snakemake("--cores", "1", "--config", "profile=paper", "chapters=[netspace]", "--", "netspace",
                     cwd=project, check=False, timeout=120)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    for item in ("tiny-imagenet-200.zip", "amateursketch_chair", "ShapeNet"):
        assert item in text, f"{item} not named in:\n{text[-3000:]}"
    assert not (project / "results" / "paper" / "netspace").exists(), "a job ran before the check"


def test_variation_pages_follow_the_runs_beside_the_profile(project):
    """A table gets its variation page (and the `all` target it) once runs of it with other seeds lie beside the
    profile's results; the page's job reads those runs and the CPU kinds' runs, nothing else."""
    assert "table_variation" not in snakemake("-n", "--cores", "1", cwd=project).stdout
    for run in ("demo-seed1", "demo-seed2", "demo-cpu_avx2emu"):
        path = project / f"results/{run}/tables/table_4_8.json"
        path.parent.mkdir(parents=True)
        path.write_text('{"x": {"chair": {"acc@1": 1.0}}}')
    out = snakemake("-n", "-p", "--cores", "1", cwd=project).stdout
    [cmd] = [line for line in out.splitlines() if "sketch3d table_variation" in line]
    assert "--table 4_8" in cmd and "--reference results/demo/tables/table_4_8.json" in cmd
    assert ("--seeds results/demo-seed1/tables/table_4_8.json results/demo-seed2/tables/table_4_8.json "
            "--cpus results/demo-cpu_avx2emu/tables/table_4_8.json") in cmd
    assert "results/demo/tables/variation/table_4_8.md" in out


def test_loading_the_workflow_imports_no_torch_matplotlib_or_blender(project):
    """Snakemake loads the workflow and evaluates its input functions for every call, a dry run included: the rules
    read names from light modules (sketchydepth.names, reconstruction.names, netspace.names, netspace.zoo_plan,
    netspace.datasets), so that no call pays seconds for torch or Matplotlib."""
    probe = ("import sys\nfrom snakemake.cli import main\nsys.argv = ['snakemake', '-n', '--cores', '1']\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "print('HEAVY', sorted(m for m in ('torch', 'matplotlib', 'open_clip', 'bpy', 'trimesh', 'sklearn') "
             "if m in sys.modules))\n")
    out = run([str(BIN / "python"), "-c", probe], cwd=project).stdout
    assert "HEAVY []" in out, out[-2000:]
