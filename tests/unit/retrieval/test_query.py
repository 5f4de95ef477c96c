"""`sketch3d query SKETCH --meshes DIR`: a user's sketch against a user's folder of meshes."""
from pathlib import Path

import pytest
import trimesh

import sketch3d.features.extract as extract_mod
from sketch3d.cli import main
from sketch3d.config import load_params
from sketch3d.data.quickdraw import bundled_quickdraw
from sketch3d.retrieval.query import query_meshes

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "meshes"
    d.mkdir()
    trimesh.creation.box(extents=(1, 2, 1)).export(d / "tall_box.obj")
    trimesh.creation.cylinder(radius=0.5, height=0.3).export(d / "disc.off")
    (d / "broken.ply").write_text("ply but not really\n")
    (d / "readme.txt").write_text("not a mesh")
    return d


def test_query_ranks_the_readable_meshes_names_the_others_and_reuses_its_cache(folder, tmp_path, monkeypatch):
    pytest.importorskip("bpy")
    params = load_params(REPO / "tests/data/params_tiny.yaml")
    builds = []
    real = extract_mod.load_backbone
    monkeypatch.setattr(extract_mod, "load_backbone", lambda *a, **k: builds.append(1) or real(*a, **k))
    sketch = bundled_quickdraw("chair")
    results, skipped = query_meshes(sketch, params, folder, tmp_path / "cache", top=5, index=1,
                                    figure=tmp_path / "top.png")
    assert sorted(name for name, _ in results) == ["disc.off", "tall_box.obj"]
    assert [d for _, d in results] == sorted(d for _, d in results)
    assert {s.path: s.reason.split(" (")[0] for s in skipped} == {
        "broken.ply": "cannot be read as a mesh", "readme.txt": "not a mesh file"}
    assert (tmp_path / "top.png").stat().st_size > 0
    assert len(builds) == 2  # the gallery's renders, then the sketch
    renders = sorted((tmp_path / "cache" / "renders").rglob("*.png"))
    stamps = [p.stat().st_mtime_ns for p in renders]
    again, _ = query_meshes(sketch, params, folder, tmp_path / "cache", top=5, index=1)
    assert again == results
    assert [p.stat().st_mtime_ns for p in renders] == stamps, "a second query rendered again"
    assert len(builds) == 3, "a second query embedded the gallery again"


def test_query_errors_name_the_fix(tmp_path, caplog):
    assert main(["query", "--meshes", str(tmp_path / "nope"), str(bundled_quickdraw("chair")),
                 "--params", str(REPO / "params.yaml")]) == 1
    assert "is not a folder" in caplog.text
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "a.txt").write_text("x")
    assert main(["query", str(bundled_quickdraw("chair")), "--meshes", str(empty),
                 "--params", str(REPO / "params.yaml")]) == 1
    assert "no readable mesh" in caplog.text and "a.txt: not a mesh file" in caplog.text
    assert main(["query", str(bundled_quickdraw("chair")), "--params", str(REPO / "params.yaml")]) == 1
    assert "give --meshes DIR" in caplog.text
