"""Ours beside the thesis's: the shared comparison and the thesis's tables shipped as data."""
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
