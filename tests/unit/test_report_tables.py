import json

import pandas as pd
import pytest

from sketch3d.report.reference import thesis_table, thesis_value
from sketch3d.report.tables import compare_with_thesis, to_markdown, write_comparison


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
    files = [metrics_file(tmp_path, "obb", "chair", 60.0, 80.0), metrics_file(tmp_path, "pixel", "lamp", 20.0, 50.0)]
    df = compare_with_thesis(files, "4.8")
    row = df[(df["method"] == "OBB") & (df["metric"] == "acc@1")].iloc[0]
    assert row["thesis"] == 65.17 and row["ours"] == 60.0 and row["difference"] == pytest.approx(-5.17)
    pix = df[df["method"].str.startswith("Pixel")]
    assert pix["thesis"].isna().all() and pix["difference"].isna().all()
    assert (df["note"].str.contains("NOT the thesis")).all()


def test_markdown_and_files(tmp_path):
    files = [metrics_file(tmp_path, m, c, 50.0, 75.0) for m in ("baseline", "obb") for c in ("chair", "lamp")]
    df = write_comparison(files, "4.8", "T", tmp_path / "t.csv", tmp_path / "t.md", tmp_path / "t.json")
    md = (tmp_path / "t.md").read_text()
    assert "NOT the thesis's" in md
    assert "50.00 (51.58, -1.58)" in md  # Baseline chair acc@1
    assert pd.read_csv(tmp_path / "t.csv").shape[0] == len(df) == 8
    metrics = json.loads((tmp_path / "t.json").read_text())
    assert metrics["OBB"]["lamp"]["acc@5"] == 75.0


def test_paper_profile_has_no_demo_notice(tmp_path):
    df = compare_with_thesis([metrics_file(tmp_path, "obb", "chair", 60.0, 80.0, profile="paper")], "4.8")
    assert "NOT" not in to_markdown(df, "T")
