"""Retrieval tables (Table 4.8): metric files -> ours beside the thesis's; rows and captions from the methods."""
import json

import pandas as pd
import pytest

from sketch3d.retrieval.methods import METHODS, TABLES, caption_rows
from sketch3d.retrieval.tables import retrieval_table


def metrics_file(tmp_path, method, category, a1, a5, profile="demo"):
    p = tmp_path / f"{method}_{category}.json"
    p.write_text(json.dumps({"profile": profile, "method": method, "category": category, "n_queries": 30,
                             "n_shapes": 10, "acc@1": a1, "acc@5": a5, "chance@1": 10.0}))
    return p

def test_table_4_8_files(tmp_path):
    files = [metrics_file(tmp_path, m, c, 50.0, 75.0) for m in ("baseline", "obb") for c in ("chair", "lamp")]
    df = retrieval_table("4.8", files, tmp_path / "t.csv", tmp_path / "t.md", tmp_path / "t.json")
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
        retrieval_table("4.8", [metrics_file(tmp_path, "baseline", "chair", 1.0, 2.0)], tmp_path / "t.csv",
                        tmp_path / "t.md")

def test_captions_and_rows_derive_from_the_methods():
    retrieval = {"baseline_box": 150, "obb_box": 100}
    text = caption_rows("4.8", retrieval, "RN50")
    assert "150x150" in text and "100x100" in text and "170" not in text
    assert "CLIP RN50 layer-3" in text and "RN101" not in text
    assert [METHODS[m].thesis_row("4.8") for m in TABLES["4.8"].methods] == [
        "Baseline", "OBB", "OBB, Augm. (2 imgs)", "OBB, Augm. (4 imgs)", "Binary (best chairs)",
        "Binary (best lamps)", None]
    assert [METHODS[m].thesis_row("B.2") for m in TABLES["B.2"].methods] == [
        "Baseline", "Baseline w/ centering", "OBB", None]


def test_baseline_fits_only_the_sketches():
    """Thesis B.3.1: Baseline = sketches centred and fitted to 170x170, renderings as rendered; Table B.2's
    'Baseline w/ centering' also centres the renderings (not scaled); Table 4.6's 'ResNet101 CLIP' fits both to
    170x170 (4.2.3.2); OBB fits both to 129x129."""
    r = {"baseline_box": 170, "obb_box": 129}
    boxes = {m: (METHODS[m].box("sketch", r), METHODS[m].box("gallery", r)) for m in METHODS}
    assert boxes == {"baseline": (170, None), "baseline_centering": (170, "centred"), "obb": (129, 129),
                     "rn101_clip_box170": (170, 170),
                     "obb_min": (129, 129), "obb_mean": (129, 129), "pixel": (129, 129),
                     "lines_asis": (None, None), "rgb_asis": (None, None),
                     "binary_chair_box170": (170, 170), "vit_lines_asis": (None, None), "vit_rgb_asis": (None, None),
                     **{m: (170, 170) for m in ("vit_clip_box170", "vit_imagenet_box170", "rn101_imagenet_box170")},
                     **{m: (129, 129) for m in METHODS
                        if m.startswith(("obb_augm", "views_", "binary_", "continuous_")) and "box170" not in m}}


def test_table_b_2_compares_each_row_with_its_own_thesis_row(tmp_path):
    files = [metrics_file(tmp_path, m, "chair", 50.0, 75.0) for m in ("baseline", "baseline_centering", "obb")]
    df = retrieval_table("B.2", files, tmp_path / "t.csv", tmp_path / "t.md")
    acc1 = df[df["metric"] == "acc@1"].set_index("method")["thesis"]
    assert acc1.to_dict() == {"Baseline": 51.58, "Baseline w/ centering": 57.71, "OBB": 65.17}


def test_b_2_centring_and_4_6_resnet_clip_are_two_methods():
    """The thesis prints different numbers for B.2's 'Baseline w/ centering' and 4.6's 'ResNet101 CLIP': each row
    has its own method, and each method one of the two thesis rows."""
    r = {"baseline_box": 170, "obb_box": 129, "augment": {"translate": [19, -4], "rotate": -23.5}}
    assert TABLES["4.6"].methods[2] == "rn101_clip_box170" and "baseline_centering" in TABLES["B.2"].methods
    assert METHODS["baseline_centering"].thesis_rows == {"B.2": "Baseline w/ centering"}
    assert METHODS["rn101_clip_box170"].thesis_rows == {"4.6": "ResNet101 CLIP"}
    assert METHODS["baseline_centering"].features_name("gallery", r) == "boxcentred"
    assert METHODS["rn101_clip_box170"].features_name("gallery", r) == "box170"
    assert {METHODS[m].features_name("sketch", r) for m in ("baseline", "baseline_centering", "rn101_clip_box170")} \
        == {"box170"}


def test_table_4_3_compares_min_and_mean_on_the_validation_split():
    from sketch3d.retrieval.methods import get_table

    t = get_table("4.3")
    assert t.split == "val"
    r = {"obb_box": 129, "view_reduction": "mean"}
    assert {m: METHODS[m].view_reduction(r) for m in t.methods} == {"obb_mean": "mean", "obb_min": "min"}
    assert METHODS["obb"].view_reduction(r) == "mean"  # the other rows follow retrieval.view_reduction
    assert [METHODS[m].thesis_row("4.3") for m in t.methods] == ["Average", "Minimum"]


def test_every_thesis_row_a_method_names_exists_in_that_thesis_table():
    """A typo in a thesis row label would silently leave the thesis column empty."""
    from sketch3d.report.reference import thesis_table

    for m in METHODS.values():
        for number, row in m.thesis_rows.items():
            labels = set(thesis_table(number)["method"])
            assert row in labels, f"{m.name}: {row!r} is not a row of thesis Table {number}: {sorted(labels)}"
    for t in TABLES.values():
        rows = [METHODS[m].thesis_row(t.number) for m in t.methods]
        assert any(rows), f"Table {t.number} compares no row with the thesis"


def test_grid_tables_name_every_thesis_row_in_the_thesis_order():
    """Tables 4.1 and 4.2 pick their thesis rows by name (not by position): every row of the thesis's table is
    named once, as its CSV spells it, in its order."""
    from sketch3d.report.reference import thesis_table
    from sketch3d.retrieval.grid_tables import GRID_TABLES, GRIDS

    assert GRIDS == ("box", "affine") and list(GRID_TABLES) == ["4.1", "4.2"]
    for number, t in GRID_TABLES.items():
        thesis = list(dict.fromkeys(thesis_table(number)["method"]))
        assert list(t.thesis_rows.values()) == thesis, number
