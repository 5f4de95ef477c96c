"""Demo shape collection: files, table, splits, determinism, families, errors."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh

from sketch3d.data.demo_shapes import FAMILY_SIZE, build_demo_shapes, mesh_to_obj_text, plan_demo_shapes
from sketch3d.data.manifest import SHAPE_COLUMNS, read_shapes, write_manifest
from sketch3d.data.procedural import build_shape

SPLITS = {"train": 5, "val": 2, "test": 3}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_table_files_and_splits(tmp_path):
    df = build_demo_shapes(tmp_path, ["chair", "lamp"], 10, SPLITS, seed=0)
    assert list(df.columns) == SHAPE_COLUMNS
    assert len(df) == 20
    for category in ("chair", "lamp"):
        sub = df[df["category"] == category]
        assert sub["split"].value_counts().to_dict() == SPLITS
        assert sorted(sub["shape_id"]) == [f"{category}_{i:04d}" for i in range(10)]
    assert (df["up_axis"] == "Y").all() and (df["source"] == "procedural").all()
    row = df.iloc[3]
    assert row["mesh_path"] == str(tmp_path / row["category"] / f"{row['shape_id']}.obj")
    assert sorted(p.name for p in (tmp_path / "chair").iterdir()) == sorted(
        [f"chair_{i:04d}.obj" for i in range(10)] + [f"chair_{i:04d}.json" for i in range(10)]
    )
    write_manifest(df, tmp_path / "shapes.csv", "shapes")  # the manifest accepts it
    assert read_shapes(tmp_path / "shapes.csv")["shape_id"].tolist() == df["shape_id"].tolist()


def test_obj_reloads_and_json_rebuilds_it(tmp_path):
    df = build_demo_shapes(tmp_path, ["lamp"], 4, {"train": 2, "val": 1, "test": 1}, seed=3)
    for path in df["mesh_path"]:
        params = json.loads(Path(path).with_suffix(".json").read_text())
        mesh = build_shape("lamp", params)
        assert Path(path).read_text() == mesh_to_obj_text(mesh)
        loaded = trimesh.load(path, process=False)
        assert len(loaded.vertices) == len(mesh.vertices) and len(loaded.faces) == len(mesh.faces)
        np.testing.assert_allclose(loaded.vertices, mesh.vertices, atol=1e-7)
        lo, hi = loaded.vertices.min(0), loaded.vertices.max(0)
        assert abs(np.linalg.norm(hi - lo) - 1) < 1e-6


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a = build_demo_shapes(tmp_path / "a", ["chair", "lamp"], 10, SPLITS, seed=1)
    b = build_demo_shapes(tmp_path / "b", ["chair", "lamp"], 10, SPLITS, seed=1)
    c = build_demo_shapes(tmp_path / "c", ["chair", "lamp"], 10, SPLITS, seed=2)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert a.drop(columns="mesh_path").equals(b.drop(columns="mesh_path"))
    fa, fc = _files(tmp_path / "a"), _files(tmp_path / "c")
    assert sum(fa[k] != fc[k] for k in fa) == len(fa)
    assert not a["split"].equals(c["split"])


def test_category_stream_independent_of_the_list():
    both = plan_demo_shapes(["chair", "lamp"], 8, {"train": 4, "val": 2, "test": 2}, seed=0)
    lamps = plan_demo_shapes(["lamp"], 8, {"train": 4, "val": 2, "test": 2}, seed=0)
    assert both[both["category"] == "lamp"].reset_index(drop=True).equals(lamps)


def test_families_and_random_shapes():
    plan = plan_demo_shapes(["chair"], 100, {"train": 50, "val": 10, "test": 40}, seed=0)
    sizes = plan[plan["family"] >= 0]["family"].value_counts()
    assert (plan["family"] == -1).sum() == 30
    assert sizes.sum() == 70
    assert sizes.max() <= FAMILY_SIZE[1] and (sizes >= FAMILY_SIZE[0]).sum() >= len(sizes) - 1
    fam = plan[plan["family"] == sizes.index[0]]
    assert len({json.dumps(p, sort_keys=True) for p in fam["params"]}) == len(fam)  # no duplicates
    assert len({p["leg_type"] for p in fam["params"]}) == 1


def test_rerun_replaces_old_files(tmp_path):
    build_demo_shapes(tmp_path, ["chair"], 10, SPLITS, seed=0)
    build_demo_shapes(tmp_path, ["chair"], 3, {"train": 1, "val": 1, "test": 1}, seed=0)
    assert len(list((tmp_path / "chair").glob("*.obj"))) == 3
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize(
    "categories, n, splits, match",
    [
        (["chair"], 10, {"train": 5, "val": 2, "test": 2}, "sum to 9 but profiles.demo.data.shapes_per_category is 10"),
        (["chair"], 10, {"train": 8, "test": 2}, "exactly the keys"),
        (["chair"], 10, {"train": 8, "val": 2, "test": 0, "extra": 0}, "exactly the keys"),
        (["chair"], 10, {"train": 12, "val": -2, "test": 0}, "profiles.demo.data.splits.val must be a non-negative"),
        (["chair"], 10, {"train": 5.0, "val": 2, "test": 3}, "profiles.demo.data.splits.train"),
        (["sofa"], 10, SPLITS, r"unknown categor.*'sofa'"),
        ([], 10, SPLITS, "non-empty list"),
        (["chair", "chair"], 10, SPLITS, "twice"),
        (["chair"], 0, {"train": 0, "val": 0, "test": 0}, "positive integer"),
    ],
)
def test_bad_requests_raise_clear_errors(tmp_path, categories, n, splits, match):
    with pytest.raises(ValueError, match=match):
        build_demo_shapes(tmp_path, categories, n, splits, seed=0)
    assert not list(tmp_path.iterdir())  # nothing written


def test_two_hundred_shapes_build_with_their_splits(tmp_path):
    # (their speed is no test's business: timed asserts fail on a loaded machine)
    df = build_demo_shapes(tmp_path, ["chair", "lamp"], 100, {"train": 50, "val": 10, "test": 40}, seed=0)
    assert len(df) == 200
    assert df.groupby("category").size().to_dict() == {"chair": 100, "lamp": 100}
    assert sorted(df.groupby("split").size().to_dict().items()) == [("test", 80), ("train", 100), ("val", 20)]
