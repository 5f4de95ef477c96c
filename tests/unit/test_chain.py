"""The DVC chain (issue 22): dvc.yaml's stages, expanded as DVC expands them, connect every table and figure
stage back to its chapter's downloads (paper) or the code that makes the demo's data, through the boundaries of
sketch3d.chain; and a DVC checkout's files get times in the chain's order before Snakemake reads them."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from sketch3d.chain import BOUNDARIES, CHAPTER_INPUTS, PROFILES, chain_stages
from sketch3d.table_stages import chapter_tables, table_stem

REPO = Path(__file__).resolve().parents[2]


def _fill(value, key, item):
    """DVC's `${key}`, `${item}` and `${item.field}` interpolation, for the strings of a stage."""
    if isinstance(value, dict):
        return {_fill(k, key, item): _fill(v, key, item) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, key, item) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m):
        expr = m.group(1)
        if expr == "key":
            return key
        if expr == "item":
            return item
        return item[expr.removeprefix("item.")]

    return re.sub(r"\$\{([\w.]+)\}", sub, value)


def _paths(entries):
    return [next(iter(e)) if isinstance(e, dict) else e for e in entries or []]


def expanded_stages(dvc_yaml: dict) -> dict[str, dict]:
    """name (``stage@item`` for a foreach) -> {"deps": [...], "outs": [...]}"""
    out = {}
    for name, stage in dvc_yaml["stages"].items():
        if "foreach" in stage:
            items = stage["foreach"]
            pairs = items.items() if isinstance(items, dict) else [(i, i) for i in items]
            for key, item in pairs:
                body = _fill(stage["do"], key, item)
                out[f"{name}@{key}"] = body
        else:
            out[name] = stage
    return {n: {"deps": _paths(s.get("deps")), "outs": _paths(s.get("outs")) + _paths(s.get("metrics"))}
            for n, s in out.items()}


def upstream(stages: dict[str, dict]) -> dict[str, set[str]]:
    """stage -> the stages owning an out that one of its deps is, is inside, or holds (DVC's edges)."""
    edges = {}
    for name, s in stages.items():
        edges[name] = {other for other, o in stages.items() if other != name
                       for dep in s["deps"] for out in o["outs"]
                       if dep == out or dep.startswith(out + "/") or out.startswith(dep + "/")}
    return edges


def ancestors(edges, name):
    seen, todo = set(), [name]
    while todo:
        for up in edges[todo.pop()] - seen:
            seen.add(up)
            todo.append(up)
    return seen


@pytest.fixture(scope="module")
def chain():
    stages = expanded_stages(yaml.safe_load((REPO / "dvc.yaml").read_text()))
    return stages, upstream(stages)


# the stages that bring a chapter's inputs: the paper's downloads, the demo's data made from code
PAPER_RAW = {"retrieval": "raw_amateursketch", "reconstruction": "raw_amateursketch",
             "sketchydepth": "raw_sketchycoco", "netspace": "raw_netspace"}
DEMO_ROOT = {"retrieval": "dataset", "reconstruction": "dataset", "sketchydepth": "scenes", "netspace": "zoo"}


@pytest.mark.parametrize("profile", PROFILES)
def test_every_table_stage_has_a_path_back_to_its_downloads(chain, profile):
    stages, edges = chain
    for c in chapter_tables():
        for t in c.tables:
            up = ancestors(edges, f"{table_stem(t)}@{profile}")
            root = PAPER_RAW[c.chapter] if profile == "paper" else f"{DEMO_ROOT[c.chapter]}@demo"
            assert root in up, f"{table_stem(t)}@{profile}: no path back to {root} (upstream: {sorted(up)})"
            # and through every boundary its chapter reads
            for b in CHAPTER_INPUTS[c.chapter]:
                assert f"{b}@{profile}" in up, (t, b)
    if profile == "demo":  # the demo's first stages depend on the code that makes its data
        assert "src/sketch3d/data/procedural" in stages["dataset@demo"]["deps"]


def test_every_figure_stage_and_boundary_reaches_a_first_stage(chain):
    stages, edges = chain
    firsts = {n for n, s in stages.items() if not edges[n]}
    assert firsts >= {"raw_amateursketch", "raw_sketchycoco", "raw_netspace", "dataset@demo", "scenes@demo",
                      "zoo@demo"}
    for name in stages:
        if name.startswith("figures_") or name.split("@")[0] in {b.name for b in BOUNDARIES}:
            assert name in firsts or ancestors(edges, name) & firsts, name
    # the paper's first boundaries read the downloads, not code standing in for them
    for b in ("dataset", "scenes", "zoo"):
        assert f"{b}@paper" not in firsts, b


def test_no_two_stages_own_overlapping_paths(chain):
    """DVC refuses overlapping outs (OverlappingOutputPathsError) only when it builds the graph: checked here."""
    stages, _ = chain
    owned = [(out, n) for n, s in stages.items() for out in s["outs"]]
    for out, n in owned:
        for other, m in owned:
            if m != n:
                assert not (out == other or other.startswith(out + "/")), f"{n} owns {out}, {m} owns {other}"


def test_boundary_stages_keep_the_run_cache_and_table_stages_force_their_targets(chain):
    assert "persist" not in chain_stages()  # a persist out turns DVC's run-cache off
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        cmd = stage.get("do", stage)["cmd"]
        persist = any(isinstance(o, dict) and next(iter(o.values())).get("persist")
                      for o in stage.get("do", stage).get("outs", []))
        # a persist out is not deleted by DVC: Snakemake, with no record of the change DVC saw, is told to redo it
        assert ("--force" in cmd) == (persist and name.startswith(("table_", "figures_"))), name


def test_checkout_times_follow_the_chain_and_spare_what_snakemake_wrote(tmp_path):
    """What a DVC checkout wrote (times in no order) gets times upstream-first; a file Snakemake recorded, and
    everything in a directory output it recorded, keeps its time; a second call changes nothing."""
    import os

    from sketch3d.chain import checkout_base, checkout_ranks, order_checkout_times

    res = tmp_path / "results/demo"
    files = {rel: res / rel for rel in ("data/items/a.npz", "data/shapes.csv", "renders/lines_five/chair/test/0.png",
                                        "features/RN50-layer3/box170/sketch_chair_test.npy",
                                        "retrieval/masks/binary/mask.pt", "tables/table_4_8.csv",
                                        "retrieval/baseline/chair_test.json", "logs/x.log", "inputs/fixture.zip")}
    for i, p in enumerate(files.values()):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
        later = 2e9 - 100 * i  # written downstream-first: every upstream file newer than its readers
        os.utime(p, (later, later))
    mine = {files["retrieval/baseline/chair_test.json"], res / "renders/lines_five/chair/test"}
    kept = {p: p.stat().st_mtime for p in (files["retrieval/baseline/chair_test.json"], files["logs/x.log"],
                                           files["inputs/fixture.zip"], files["renders/lines_five/chair/test/0.png"])}

    def written_here(path):
        return path in mine

    base = checkout_base(tmp_path / ".snakemake/stamp")
    assert base == checkout_base(tmp_path / ".snakemake/stamp")
    assert order_checkout_times(res, written_here, base) > 0
    t = {rel: p.stat().st_mtime for rel, p in files.items()}
    assert t["data/items/a.npz"] == t["data/shapes.csv"] < t["tables/table_4_8.csv"] == base
    assert t["data/shapes.csv"] < t["features/RN50-layer3/box170/sketch_chair_test.npy"] \
        < t["retrieval/masks/binary/mask.pt"] < t["tables/table_4_8.csv"]
    ranks = checkout_ranks()
    assert ranks["data/items"] < ranks["renders"] < ranks["features"] < ranks["retrieval/masks"]
    for p, before in kept.items():
        assert p.stat().st_mtime == before, p
    assert order_checkout_times(res, written_here, base) == 0


def test_a_boundary_listed_before_one_it_reads_is_refused(monkeypatch):
    import sketch3d.chain as chain_module

    a = chain_module.Boundary("a", "shared", ("r",), ("o",), after=("b",))
    b = chain_module.Boundary("b", "shared", ("s",), ("p",))
    monkeypatch.setattr(chain_module, "BOUNDARIES", (a, b))
    with pytest.raises(ValueError, match="lists a before"):
        chain_module.checkout_ranks()


def test_sources_must_be_given_for_every_profile(monkeypatch):
    import sketch3d.chain as chain_module

    broken = chain_module.Boundary("x", "shared", ("r",), ("o",), sources={"paper": ("a.zip",)})
    monkeypatch.setattr(chain_module, "BOUNDARIES", (broken,))
    with pytest.raises(ValueError, match="sources for"):
        chain_module.chain_stages()


def test_every_param_a_boundary_names_is_in_params_yaml():
    """DVC stops a stage whose params key is missing from params.yaml: each dotted key resolves (a profile's own
    keys, e.g. features.weights, come with "profiles.<profile>", which every stage has)."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for b in BOUNDARIES:
        for key in b.params:
            node = params
            for part in key.split("."):
                assert isinstance(node, dict) and part in node, f"boundary {b.name}: params.yaml has no {key}"
                node = node[part]


def test_every_boundary_rule_is_a_rule_of_the_workflow():
    text = "".join(p.read_text() for p in sorted((REPO / "workflow/rules").glob("*.smk")))
    rules = set(re.findall(r"^(?:rule|checkpoint) (\w+):", text, re.M))
    for b in BOUNDARIES:
        assert set(b.rules) <= rules, (b.name, set(b.rules) - rules)


def test_a_boundary_stage_runs_its_rules_for_the_chapters_that_read_it(chain):
    """`--until <its rules> -- <chapters>`: the jobs of its rules that those chapters need, and (paper) the
    preflight of those chapters' data only."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert stages["features"]["do"]["cmd"].endswith("--until extract_features -- retrieval reconstruction")  # the scores' retrieval row
    assert stages["dataset"]["do"]["cmd"].endswith(
        "--until prepare_dataset rasterize_sketches -- retrieval reconstruction netspace")
    assert stages["zoo"]["do"]["cmd"].endswith("--until train_member -- netspace")


def test_rules_files_name_the_defining_file_and_refuse_an_unknown_rule():
    from sketch3d.chain import rules_files

    assert rules_files(["train_mask", "extract_features"]) == [
        "workflow/rules/retrieval.smk", "workflow/rules/retrieval_inputs.smk", "workflow/rules/features.smk"]
    with pytest.raises(ValueError, match="rule no_such_rule: defined in 0 files"):
        rules_files(["no_such_rule"])
