import json

import pandas as pd
import pytest

from sketch3d.report.comparison import Result, compare_with_thesis, to_markdown
from sketch3d.report.reference import thesis_table, thesis_value
from sketch3d.retrieval.methods import METHODS, TABLES, caption_rows
from sketch3d.retrieval.tables import table_4_8


def metrics_file(tmp_path, method, category, a1, a5, profile="demo"):
    p = tmp_path / f"{method}_{category}.json"
    p.write_text(json.dumps({"profile": profile, "method": method, "category": category, "n_queries": 30,
                             "n_shapes": 10, "acc@1": a1, "acc@5": a5, "chance@1": 10.0}))
    return p


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


def test_table_4_8_files(tmp_path):
    files = [metrics_file(tmp_path, m, c, 50.0, 75.0) for m in ("baseline", "obb") for c in ("chair", "lamp")]
    df = table_4_8(files, tmp_path / "t.csv", tmp_path / "t.md", tmp_path / "t.json")
    md = (tmp_path / "t.md").read_text()
    assert "NOT the thesis's" in md and "chair: 30 / 10 (chance acc@1 10.00)" in md
    assert "50.00 (51.58, -1.58)" in md  # Baseline chair acc@1
    assert pd.read_csv(tmp_path / "t.csv").shape[0] == len(df) == 8
    metrics = json.loads((tmp_path / "t.json").read_text())
    assert metrics["OBB"]["lamp"]["acc@5"] == 75.0


def test_a_table_refuses_methods_it_does_not_show(tmp_path, monkeypatch):
    import sketch3d.retrieval.methods as methods

    monkeypatch.setitem(methods.TABLES, "4.8", methods.Table("4.8", "T", ("obb",)))
    with pytest.raises(ValueError, match="does not show"):
        table_4_8([metrics_file(tmp_path, "baseline", "chair", 1.0, 2.0)], tmp_path / "t.csv", tmp_path / "t.md")


def test_paper_profile_has_no_demo_notice():
    df = compare_with_thesis([Result("OBB", "OBB", "chair", "paper", {"acc@1": 60.0})], "4.8")
    assert "NOT" not in to_markdown(df, "T")


def test_captions_and_rows_derive_from_the_methods():
    retrieval = {"baseline_box": 150, "obb_box": 100}
    text = caption_rows("4.8", retrieval)
    assert "150x150" in text and "100x100" in text and "170" not in text
    assert [METHODS[m].thesis_row for m in TABLES["4.8"].methods][:2] == ["Baseline", "OBB"]
