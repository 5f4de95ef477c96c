"""The inversion examples: a seeded draw of shapes that have the needed sketches; the targets folder."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from _inversion_fakes import install, write_sdf_targets

from sketch3d.reconstruction import targets as tg


def _shapes(n=6):
    rows = [{"shape_id": f"chair_{i:04d}", "category": "chair", "split": "test" if i < n else "train",
             "mesh_path": f"m/chair_{i:04d}.obj", "up_axis": "Y", "source": "procedural"} for i in range(n + 2)]
    rows.append({"shape_id": "lamp_0000", "category": "lamp", "split": "test", "mesh_path": "m/l.obj",
                 "up_axis": "Y", "source": "procedural"})
    return pd.DataFrame(rows)


def _index(shapes, azimuths=(0, 30), skip=()):
    return pd.DataFrame([{"image_id": f"{s}_az{a:03d}", "shape_id": s, "azimuth": a, "path": f"{s}_az{a:03d}.png"}
                         for s in shapes["shape_id"] for a in azimuths if (s, a) not in skip])


def test_select_is_seeded_and_keeps_category_split_and_views():
    shapes = _shapes()
    index = _index(shapes, skip={("chair_0002", 30)})
    a = tg.select_examples(shapes, index, 3, seed=1, views=[0, 30])
    b = tg.select_examples(shapes, index, 3, seed=1, views=[0, 30])
    pd.testing.assert_frame_equal(a, b)
    assert a["example"].tolist() == [0, 1, 2]
    assert set(a["shape_id"]) <= {"chair_0000", "chair_0001", "chair_0003", "chair_0004", "chair_0005"}
    candidates = ["chair_0000", "chair_0001", "chair_0003", "chair_0004", "chair_0005"]
    expect = [candidates[i] for i in np.random.default_rng(1).choice(5, size=3, replace=False)]
    assert a["shape_id"].tolist() == expect
    assert list(a.columns[:3]) == ["example", "shape_id", "category"]
    all_five = tg.select_examples(shapes, index, 5, seed=2, views=[0, 30])
    assert sorted(all_five["shape_id"]) == candidates
    with pytest.raises(tg.TargetError, match="only 5"):
        tg.select_examples(shapes, index, 6, seed=0, views=[0, 30])


def test_write_and_load_targets(tmp_path, monkeypatch):
    install(monkeypatch)
    monkeypatch.chdir(tmp_path)
    shapes = _shapes(4)
    shapes.to_csv("shapes.csv", index=False)
    folder = tmp_path / "sketches"
    folder.mkdir()
    index = _index(shapes, azimuths=(0, 30, 75))
    for i, rec in enumerate(index.itertuples()):
        Image.fromarray(np.full((8, 8), i, np.uint8), mode="L").save(folder / rec.path)
    index.to_csv(folder / "index.csv", index=False)
    settings = {"seed": 3, "reconstruction": {"targets": {"examples": 2}, "inversion": {"views": [0, 30]}}}
    ex = tg.write_targets(tmp_path / "shapes.csv", folder, settings, tmp_path / "targets")
    out = tmp_path / "targets"
    assert tg.read_examples(out)["shape_id"].tolist() == ex["shape_id"].tolist()
    written = pd.read_csv(out / "sketches" / "index.csv")
    assert len(written) == 4 and set(written["azimuth"]) == {0.0, 30.0}  # 2 examples x views 0, 30
    assert not written["path"].str.startswith("/").any()  # relative paths only
    grids = {s: np.full((4, 4, 4), k, np.float32) for k, s in enumerate(shapes["shape_id"])}
    write_sdf_targets(tmp_path / "sdf.npz", grids)
    t = tg.load_target(out, 1, tg.read_sdf_grids(tmp_path / "sdf.npz"))
    assert t.example == "01" and t.shape_id == ex["shape_id"].iloc[1]
    np.testing.assert_array_equal(t.sdf, grids[t.shape_id])
    assert sorted(t.sketches) == [0.0, 30.0]
    src = index[(index["shape_id"] == t.shape_id) & (index["azimuth"] == 30)].index[0]
    assert int(t.sketches[30.0][0, 0]) == src  # the copied raster is the source's
    with pytest.raises(tg.TargetError, match="example 7"):
        tg.load_target(out, 7)
    with pytest.raises(FileNotFoundError, match="sdf_targets"):
        tg.read_sdf_grids(tmp_path / "none.npz")
    np.savez(tmp_path / "bad.npz", x=np.zeros(2))
    with pytest.raises(ValueError, match="not an sdf_targets file"):
        tg.read_sdf_grids(tmp_path / "bad.npz")
