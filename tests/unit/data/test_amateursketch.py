"""Tests for sketch3d.data.amateursketch (SVG parsing, indexing) and sketch3d.data.paper_dataset."""
import zipfile
from pathlib import Path

import numpy as np
import pytest

from sketch3d.data.amateursketch import (
    AmateurSketchError, find_split_lists, index_amateursketch, parse_svg,
)
from sketch3d.data.manifest import SHAPE_COLUMNS, SKETCH_COLUMNS, read_shapes, read_sketches, write_manifest
from sketch3d.data.paper_dataset import decide_splits, prepare_paper_data
from sketch3d.data.registry import Source
from sketch3d.data.sketch import load_sketch

SVG_HEAD = '<svg xmlns="http://www.w3.org/2000/svg" {attrs}>'


def _svg(body: str, attrs: str = 'width="800" height="600" viewBox="0 0 400 300"') -> str:
    return SVG_HEAD.format(attrs=attrs) + body + "</svg>"


def _mid(i: int, salt: str = "a") -> str:
    """A fake 32-hex ShapeNet model id."""
    return f"{salt * 4}{i:028x}"[:32]


def test_parse_svg_lines_widths_and_canvas(tmp_path):
    p = tmp_path / "s.svg"
    p.write_text(_svg(
        '<path d="M10 10 L100 10 L100 100" stroke="black" stroke-width="3" fill="none"/>'
        '<g stroke="#000" stroke-width="0.5"><polyline points="0,0 10,10 20,0" fill="none"/></g>'
        '<line x1="1" y1="2" x2="3" y2="4" stroke="black"/>'
        '<path d="M0 0 L 50 50" fill="red"/>'  # no stroke: invisible, skipped
    ))
    sk = parse_svg(p, default_width=1.5)
    assert sk.canvas == (800, 600)
    assert len(sk.strokes) == 3
    # viewBox 400x300 shown at 800x600: coordinates and widths scale by 2
    np.testing.assert_allclose(sk.strokes[0], [[20, 20], [200, 20], [200, 200]])
    np.testing.assert_allclose(sk.strokes[1], [[0, 0], [20, 20], [40, 0]])
    np.testing.assert_allclose(sk.strokes[2], [[2, 4], [6, 8]])
    assert sk.widths[:2] == [6.0, 1.0]
    assert sk.widths[2] == pytest.approx(2 * 1.5)  # no width in the SVG: default_width in user units
    assert sk.meta["source"] == "amateursketch" and sk.meta["widths_from_svg"] is False


def test_parse_svg_samples_curves_on_the_curve(tmp_path):
    p = tmp_path / "c.svg"
    p.write_text(_svg(
        '<path d="M 0 100 C 0 0 100 0 100 100" stroke="black" fill="none"/>'
        '<circle cx="200" cy="150" r="40" stroke="black" fill="none"/>',
        attrs='viewBox="0 0 300 200"',
    ))
    sk = parse_svg(p, step=2.0)
    assert sk.canvas == (300, 200)
    bez, circ = sk.strokes
    np.testing.assert_allclose(bez[0], [0, 100]), np.testing.assert_allclose(bez[-1], [100, 100])
    # independent check: every sample lies on the cubic B(t) for some t
    t = np.linspace(0, 1, 20001)[:, None]
    p0, p1, p2, p3 = (np.array(v, float) for v in ([0, 100], [0, 0], [100, 0], [100, 100]))
    curve = (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t ** 2 * p2 + t ** 3 * p3
    dist = np.min(np.linalg.norm(bez[:, None, :] - curve[None], axis=2), axis=1)
    assert dist.max() < 0.05
    # and the polyline follows the curve: every dense curve point is within step/4 (+ slack) of a polyline edge
    a, b = bez[:-1][None], bez[1:][None]
    c = curve[::10][:, None, :]
    u = np.clip(np.sum((c - a) * (b - a), axis=2) / np.maximum(np.sum((b - a) ** 2, axis=2), 1e-12), 0, 1)
    gap = np.min(np.linalg.norm(c - (a + u[..., None] * (b - a)), axis=2), axis=1)
    assert gap.max() < 0.5 + 0.05
    assert 10 <= len(bez) <= 101  # curve length ~ 200 px: at most one sample per 2 px
    r = np.linalg.norm(circ - [200, 150], axis=1)
    np.testing.assert_allclose(r, 40, atol=0.05)
    # chords stay close to the circle: tolerance step / 4 = 0.5 px (plus slack)
    mid = np.linalg.norm((circ[1:] + circ[:-1]) / 2 - [200, 150], axis=1)
    assert (40 - mid).max() < 0.55
    assert 15 < len(circ) < 130  # at most one point per 2 px of the 251 px circumference
    fine = parse_svg(p).strokes[1]  # default step: 300 / 448 px, tolerance ~0.17 px
    fmid = np.linalg.norm((fine[1:] + fine[:-1]) / 2 - [200, 150], axis=1)
    assert (40 - fmid).max() < 0.2 and len(fine) > len(circ)


def test_parse_svg_errors(tmp_path):
    p = tmp_path / "nocanvas.svg"
    p.write_text(SVG_HEAD.format(attrs="") + '<path d="M0 0 L1 1" stroke="black"/></svg>')
    with pytest.raises(AmateurSketchError, match="neither width/height nor viewBox"):
        parse_svg(p)
    p = tmp_path / "nostroke.svg"
    p.write_text(_svg('<path d="M0 0 L1 1" fill="black"/>'))
    with pytest.raises(AmateurSketchError, match="no stroked path.*1 element"):
        parse_svg(p)
    p = tmp_path / "broken.svg"
    p.write_text("<svg <<<")
    with pytest.raises(AmateurSketchError, match="broken.svg"):
        parse_svg(p)


def _write_sketch(path: Path, k: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_svg(f'<path d="M{10 + k} 10 L100 {20 + k} Q 150 150 50 120" stroke="black" stroke-width="2" fill="none"/>'))


def test_index_degrees_indices_and_category_folders(tmp_path):
    root = tmp_path / "as"
    ids = [_mid(i) for i in range(3)]
    for i, m in enumerate(ids):
        for az in (0, 30, 75):
            _write_sketch(root / "chair_svg" / f"{m}_{az}.svg", i)
    _write_sketch(root / "lamp_svg" / f"{_mid(9)}_45.svg")  # another category: ignored
    _write_sketch(root / "__MACOSX" / "chair_svg" / f"{_mid(8)}_0.svg")  # ignored
    df = index_amateursketch(root, "chair")
    assert list(df.columns[:7]) == SKETCH_COLUMNS
    assert len(df) == 9 and set(df["shape_id"]) == set(ids)
    assert sorted(df["azimuth"].unique()) == [0, 30, 75]
    assert (df["source"] == "amateursketch").all() and df["split"].isna().all()
    row = df[df["sketch_id"] == f"{ids[1]}_30"].iloc[0]
    assert row["shape_id"] == ids[1] and row["azimuth"] == 30 and Path(row["path"]).is_file()

    # lamp: 1-based view indices with an extra token and '-' separators
    lroot = tmp_path / "lamps"
    for k in (1, 2, 3):
        _write_sketch(lroot / f"{_mid(5, 'b')}-v{k}-p07.svg")
    ldf = index_amateursketch(lroot, "lamp")
    assert dict(zip(ldf["view_marker"], ldf["azimuth"])) == {"v1": 0, "v2": 45, "v3": 90}
    assert set(ldf["extra"]) == {"p07"}

    # bare 0-based indices
    iroot = tmp_path / "idx"
    for k in (0, 1, 2):
        _write_sketch(iroot / f"{_mid(6)}_{k}.svg")
    assert sorted(index_amateursketch(iroot, "chair")["azimuth"]) == [0, 30, 75]


def test_index_fails_clearly_on_unexpected_names(tmp_path):
    root = tmp_path / "as"
    _write_sketch(root / f"{_mid(1)}_30.svg")
    _write_sketch(root / "chair_001.svg")
    _write_sketch(root / f"{_mid(2)}.svg")
    with pytest.raises(AmateurSketchError) as info:
        index_amateursketch(root, "chair")
    msg = str(info.value)
    assert "2 of 3 chair SVG file(s)" in msg and "chair_001.svg" in msg and f"{_mid(2)}.svg" in msg
    assert "<32-hex ShapeNet model id>" in msg

    wrong = tmp_path / "wrong"
    _write_sketch(wrong / f"{_mid(1)}_az45.svg")  # 45 is a lamp azimuth, not a chair one
    with pytest.raises(AmateurSketchError, match="not one of the thesis azimuths \\[0, 30, 75\\]"):
        index_amateursketch(wrong, "chair")

    png = tmp_path / "png"
    png.mkdir()
    (png / "a.png").write_bytes(b"x")
    with pytest.raises(AmateurSketchError, match="no chair SVG sketches.*1 x .png"):
        index_amateursketch(png, "chair")


def test_find_split_lists(tmp_path):
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "chair_test.txt").write_text(f"{_mid(1)}\n{_mid(2)}_30.svg\n")
    (tmp_path / "lists" / "lamp_test.txt").write_text(f"{_mid(3)}\n")
    (tmp_path / "lists" / "val.csv").write_text(f"id\n{_mid(4)}\n")
    assert find_split_lists(tmp_path, "chair") == {"test": {_mid(1), _mid(2)}, "val": {_mid(4)}}


# ----------------------------------------------------------------------------- paper_dataset


def _fake_dataset(tmp_path: Path, n_shapes: dict[str, int], extra_files: dict[str, dict[str, str]] | None = None):
    """Zips under data_dir/downloads and a ShapeNet tree with every sketched mesh; returns (paper, sources)."""
    data_dir, shapenet = tmp_path / "data", tmp_path / "shapenet"
    az = {"chair": (0, 30, 75), "lamp": (0, 45, 90)}
    syn = {"chair": "03001627", "lamp": "03636649"}
    sources = {}
    for cat, n in n_shapes.items():
        name = f"amateursketch_{cat}"
        zpath = data_dir / "downloads" / f"{cat}.zip"
        zpath.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(zpath, "w") as zf:
            for i in range(n):
                m = _mid(i, "c" if cat == "chair" else "d")
                for a in az[cat]:
                    body = f'<path d="M{i} 5 L 60 {a % 50 + 10} C 10 10 30 40 90 90" stroke="black" stroke-width="2.5" fill="none"/>'
                    zf.writestr(f"{cat}_svg/{m}_{a}.svg", _svg(body, 'viewBox="0 0 256 256"'))
                mesh = shapenet / syn[cat] / m / "models" / "model_normalized.obj"
                mesh.parent.mkdir(parents=True)
                mesh.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
            for fname, text in (extra_files or {}).get(cat, {}).items():
                zf.writestr(fname, text)
        sources[name] = Source(name, "dataset", (), f"{cat}.zip", None, None, "downloads", "l", "c", "place it")
    paper = {
        "categories": list(n_shapes), "data_dir": str(data_dir), "shapenet_root": str(shapenet),
        "amateursketch_splits": {"val_shapes": 2, "test_shapes": {"chair": 4, "lamp": 3}},
        "clip_weights": "openai",
    }
    return paper, sources


def test_prepare_paper_data_seeded_split(tmp_path):
    paper, sources = _fake_dataset(tmp_path, {"chair": 12, "lamp": 8})
    out = tmp_path / "out"
    shapes, sketches = prepare_paper_data(paper, 0, out, sources=sources)
    assert list(shapes.columns[:6]) == SHAPE_COLUMNS and list(sketches.columns[:7]) == SKETCH_COLUMNS
    assert len(shapes) == 20 and len(sketches) == 60
    counts = shapes.groupby(["category", "split"]).size().to_dict()
    # test sizes as asked; validation = whole shapes (3 sketches each) reaching 6 sketches
    assert counts == {("chair", "test"): 4, ("chair", "val"): 2, ("chair", "train"): 6,
                      ("lamp", "test"): 3, ("lamp", "val"): 2, ("lamp", "train"): 3}
    assert set(shapes["split_source"]) == {"seeded-thesis-sizes+seeded-val"}
    # every sketch carries its shape's split; meshes exist; sketch JSONs load
    merged = sketches.merge(shapes[["shape_id", "split"]], on="shape_id", suffixes=("", "_shape"))
    assert (merged["split"] == merged["split_shape"]).all()
    assert all(Path(p).is_file() for p in shapes["mesh_path"])
    row = sketches[sketches["category"] == "lamp"].iloc[0]
    assert Path(row["path"]) == out / "sketches" / "lamp" / f"{row['sketch_id']}.json"
    sk = load_sketch(row["path"])
    assert sk.canvas == (256, 256) and sk.widths[0] == 2.5
    assert sk.meta["shape_id"] == row["shape_id"] and sk.meta["azimuth"] == row["azimuth"]
    # the manifests pass the project's own checks
    write_manifest(shapes, tmp_path / "shapes.csv", "shapes")
    write_manifest(sketches, tmp_path / "sketches.csv", "sketches")
    assert len(read_shapes(tmp_path / "shapes.csv")) == 20 and len(read_sketches(tmp_path / "sketches.csv")) == 60
    # same seed -> same split; another seed -> another one
    again, _ = prepare_paper_data(paper, 0, tmp_path / "out2", sources=sources)
    assert again["split"].tolist() == shapes["split"].tolist()
    other, _ = prepare_paper_data(paper, 1, tmp_path / "out3", sources=sources)
    assert other["split"].tolist() != shapes["split"].tolist()


def test_prepare_paper_data_uses_official_lists(tmp_path):
    test_ids = [_mid(i, "c") for i in (0, 5)]
    lists = {"chair": {"splits/test.txt": "\n".join(test_ids), "splits/val.txt": _mid(7, "c")}}
    paper, sources = _fake_dataset(tmp_path, {"chair": 9}, lists)
    shapes, sketches = prepare_paper_data(paper, 0, tmp_path / "out", sources=sources)
    split = dict(zip(shapes["shape_id"], shapes["split"]))
    assert sorted(k for k, v in split.items() if v == "test") == sorted(test_ids)
    assert [k for k, v in split.items() if v == "val"] == [_mid(7, "c")]
    assert set(shapes["split_source"]) == {"official-lists"}


def test_prepare_paper_data_fails_before_writing(tmp_path):
    paper, sources = _fake_dataset(tmp_path, {"chair": 8, "lamp": 6})
    # remove one lamp mesh: ShapeNet error names it, and no sketch folder is written
    missing = Path(paper["shapenet_root"]) / "03636649" / _mid(2, "d")
    for p in sorted(missing.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    missing.rmdir()
    out = tmp_path / "out"
    with pytest.raises(FileNotFoundError, match=f"(?s)1 of 6 lamp meshes are missing.*{_mid(2, 'd')}"):
        prepare_paper_data(paper, 0, out, sources=sources)
    assert not out.exists()
    # too few shapes for the requested test gallery
    paper2, sources2 = _fake_dataset(tmp_path / "b", {"chair": 3})
    paper2["amateursketch_splits"]["test_shapes"] = {"chair": 201}
    with pytest.raises(ValueError, match="3 sketched chair shapes, but the test gallery needs 201"):
        prepare_paper_data(paper2, 0, tmp_path / "b" / "out", sources=sources2)


def test_decide_splits_thesis_default_sizes(tmp_path):
    import pandas as pd
    rows = [(f"{_mid(i)}_{a}", _mid(i), a, "") for i in range(500) for a in (0, 30, 75)]
    df = pd.DataFrame(rows, columns=["sketch_id", "shape_id", "azimuth", "folder_split"])
    split, how = decide_splits(df, tmp_path, "chair", 0, 200, 201)
    values = list(split.values())
    # thesis: 201 test shapes (603 queries); 200 validation shapes of the training split, 3 sketches each
    assert values.count("test") == 201 and values.count("val") == 200 and values.count("train") == 99
    val_sketches = df[df["shape_id"].map(split) == "val"]
    assert len(val_sketches) == 600
    assert how == "seeded-thesis-sizes+seeded-val"


def test_the_thesis_test_set_is_asserted(tmp_path):
    """Default sizes: 201 chair shapes with 603 sketches, else the run stops naming both counts."""
    import pandas as pd

    from sketch3d.data.paper_dataset import SplitError, check_thesis_test_set

    rows = [(f"{_mid(i)}_{a}", _mid(i), a, "") for i in range(500) for a in (0, 30, 75)]
    df = pd.DataFrame(rows, columns=["sketch_id", "shape_id", "azimuth", "folder_split"])
    split, how = decide_splits(df, tmp_path, "chair", 0, 200, 201)
    check_thesis_test_set("chair", split, df, how)  # 201 shapes x 3 = 603: fine
    short = df[df["sketch_id"] != df[df["shape_id"].map(split) == "test"]["sketch_id"].iloc[0]]
    with pytest.raises(SplitError, match="201 shapes / 602 sketches, but the thesis tests on 201 shapes / 603"):
        check_thesis_test_set("chair", split, short, how)
