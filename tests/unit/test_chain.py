"""The DVC chain (issue 22): dvc.yaml's stages, expanded as DVC expands them, connect every table and figure
stage back to its chapter's downloads (paper) or the code that makes the demo's data, through the boundaries of
sketch3d.chain; and Snakemake's rerun triggers leave out `mtime` wherever the chain runs it."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from sketch3d.chain import BOUNDARIES, CHAPTER_INPUTS, PROFILES, RERUN_TRIGGERS, chain_stages
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


def test_boundary_stages_keep_the_run_cache_and_run_snakemake_without_mtime():
    text = chain_stages()
    assert "persist" not in text  # a persist out turns DVC's run-cache off
    assert "mtime" not in RERUN_TRIGGERS
    for line in re.findall(r"cmd: (.*)", text):
        assert f"--rerun-triggers {' '.join(RERUN_TRIGGERS)}" in line, line
    profile = yaml.safe_load((REPO / "workflow/profiles/default/profile.yaml").read_text())
    assert profile["rerun-triggers"] == list(RERUN_TRIGGERS)


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
