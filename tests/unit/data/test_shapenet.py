"""Tests for sketch3d.data.shapenet."""
from pathlib import Path

import pytest

from sketch3d.data.manifest import SHAPE_COLUMNS
from sketch3d.data.shapenet import SYNSETS, ShapeNetError, index_shapenet, mesh_path


def _mesh(root: Path, synset: str, mid: str) -> Path:
    p = root / synset / mid / "models" / "model_normalized.obj"
    p.parent.mkdir(parents=True)
    p.write_text("v 0 0 0\n")
    return p


def test_synsets_and_mesh_path(tmp_path):
    assert SYNSETS == {"chair": "03001627", "lamp": "03636649"}
    assert mesh_path(tmp_path, "lamp", "abc") == tmp_path / "03636649" / "abc" / "models" / "model_normalized.obj"
    with pytest.raises(ValueError, match="unknown ShapeNet category 'sofa'"):
        mesh_path(tmp_path, "sofa", "abc")


def test_index_columns_and_splits(tmp_path):
    a, b = _mesh(tmp_path, "03001627", "a1"), _mesh(tmp_path, "03001627", "b2")
    df = index_shapenet(tmp_path, "chair", ["b2", "a1", "b2"], {"a1": "test", "b2": "train"})
    assert list(df.columns) == SHAPE_COLUMNS
    assert df["shape_id"].tolist() == ["b2", "a1"]  # order kept, repeat dropped
    assert df["mesh_path"].tolist() == [str(b), str(a)]
    assert df["split"].tolist() == ["train", "test"]
    assert set(df["up_axis"]) == {"Y"} and set(df["source"]) == {"shapenet"} and set(df["category"]) == {"chair"}
    nosplit = index_shapenet(tmp_path, "chair", ["a1"])
    assert nosplit["split"].isna().all()
    with pytest.raises(ValueError, match="no split given for 1 model id"):
        index_shapenet(tmp_path, "chair", ["a1", "b2"], {"a1": "test"})
    with pytest.raises(ValueError, match="unknown split\\(s\\) \\['holdout'\\]"):
        index_shapenet(tmp_path, "chair", ["a1"], {"a1": "holdout"})


def test_missing_meshes_one_error(tmp_path):
    _mesh(tmp_path, "03001627", "have")
    ids = ["have"] + [f"miss{i}" for i in range(8)]
    with pytest.raises(ShapeNetError) as info:
        index_shapenet(tmp_path, "chair", ids)
    msg = str(info.value)
    assert "8 of 9 chair meshes are missing" in msg
    assert "miss0/models/model_normalized.obj" in msg and "miss4" in msg and "miss5" not in msg  # first five shown
    assert "profiles.paper.data.shapenet_root" in msg and "03001627" in msg
    with pytest.raises(ShapeNetError, match="synset folder .*03636649 does not exist"):
        index_shapenet(tmp_path, "lamp", ["x"])
