"""Ours beside the thesis's: the shared comparison and the thesis's tables shipped as data."""
import pandas as pd
import pytest

from sketch3d.report.comparison import Result, compare_with_thesis, to_markdown
from sketch3d.report.reference import thesis_table, thesis_value


def test_thesis_numbers_ship_with_the_package():
    t = thesis_table("4.8")
    assert thesis_value(t, "Baseline", "chair", "acc@1") == 51.58
    assert thesis_value(t, "OBB", "lamp", "acc@5") == 82.58
    assert thesis_value(t, "Nope", "lamp", "acc@5") is None

def test_comparison_against_thesis(tmp_path):
    df = compare_with_thesis([
        Result("OBB", "OBB", "chair", "demo", {"acc@1": 60.0, "acc@5": 80.0}),
        Result("Pixel", None, "lamp", "demo", {"acc@1": 20.0, "acc@5": 50.0}),
    ], "4.8")
    row = df[(df["method"] == "OBB") & (df["metric"] == "acc@1")].iloc[0]
    assert row["thesis"] == 65.17 and row["ours"] == 60.0 and row["difference"] == pytest.approx(-5.17)
    pix = df[df["method"] == "Pixel"]
    assert pix["thesis"].isna().all() and pix["difference"].isna().all()
    assert (df["note"].str.contains("NOT the thesis")).all()

def test_one_table_never_mixes_profiles():
    with pytest.raises(ValueError, match="several profiles"):
        compare_with_thesis([Result("OBB", "OBB", "chair", "demo", {"acc@1": 1.0}),
                             Result("OBB", "OBB", "lamp", "paper", {"acc@1": 1.0})], "4.8")

def test_paper_profile_has_no_demo_notice():
    df = compare_with_thesis([Result("OBB", "OBB", "chair", "paper", {"acc@1": 60.0})], "4.8")
    assert "NOT" not in to_markdown(df, "T")


def test_a_rehearsal_table_says_its_numbers_mean_nothing_in_every_file(tmp_path):
    import json as _json

    from sketch3d import REHEARSAL_NOTICE
    from sketch3d.report.comparison import write_comparison

    df = compare_with_thesis([Result("OBB", "OBB", "chair", "paper", {"acc@1": 1.5})], "4.8")
    out = {k: tmp_path / f"t.{k}" for k in ("csv", "md", "json")}
    write_comparison(df, "Table 4.8", out["csv"], out["md"], out["json"], rehearsal=True)
    assert REHEARSAL_NOTICE in out["md"].read_text()
    assert _json.loads(out["json"].read_text())["notice"] == REHEARSAL_NOTICE
    assert (pd.read_csv(out["csv"])["note"] == REHEARSAL_NOTICE).all()
    write_comparison(df, "Table 4.8", out["csv"], out["md"], out["json"])  # the paper profile's own: no notice
    assert "REHEARSAL" not in out["md"].read_text() and "notice" not in _json.loads(out["json"].read_text())


def test_every_table_command_takes_the_rehearsal_flag_and_its_rule_passes_it():
    import re
    from pathlib import Path

    from sketch3d.cli import commands

    rules = "".join(p.read_text() for p in (Path(__file__).resolve().parents[3] / "workflow/rules").glob("*.smk"))
    tables = [n for n in commands() if n.endswith("_table") and n != "human_study_table"]
    assert len(tables) == 6, tables
    for name in tables:
        flags = [f for a in commands()[name].arguments for f in a[0]]
        assert "--rehearsal" in flags, name
        block = re.search(rf"rule {name}:(.*?)(?=\nrule |\Z)", rules, re.S).group(1)
        assert "rehearsal=REHEARSAL_FLAG" in block and "{params.rehearsal}" in block, name
