"""The augmentation bank for mask training: transform ranges, distinct copies, the [shapes, views, copies, D] layout."""
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from sketch3d.features.transforms import Transform
from sketch3d.retrieval import mask_bank as mb


def test_pool_ranges_are_the_thesis_s():
    pool = mb.augmentation_pool(np.random.default_rng(0), 40, 129, 0.1, 10, 0.1)
    assert len({t.name for t in pool}) == 40
    for t in pool:
        assert abs(t.box - 129) <= 22.4 + 0.5 and abs(t.tx) <= 22.4 and abs(t.ty) <= 22.4 and abs(t.rot) <= 10
        assert float(t.tx).is_integer() and (2 * t.rot).is_integer()
    again = mb.augmentation_pool(np.random.default_rng(0), 40, 129, 0.1, 10, 0.1)
    assert [t.name for t in again] == [t.name for t in pool]
    with pytest.raises(ValueError, match="translate"):
        mb.augmentation_pool(np.random.default_rng(0), 4, 129, 0.7, 10, 0.1)


def test_copies_are_distinct_per_image():
    w = mb.assign_copies(np.random.default_rng(1), 50, 3, 8)
    assert w.shape == (50, 3) and all(len(set(r)) == 3 for r in w) and w.min() >= 0 and w.max() < 8
    with pytest.raises(ValueError, match="copies"):
        mb.assign_copies(np.random.default_rng(1), 5, 9, 8)


def test_bank_layout(tmp_path, monkeypatch):
    """Row [s, v, c] holds the feature of shape s's view v under its c-th transform."""
    from sketch3d.imageset import write_index

    rows = []
    for s in ("b", "a"):
        for az in (30, 0):
            p = tmp_path / f"{s}_{az}.png"
            Image.new("L", (224, 224), 255).save(p)
            rows.append({"image_id": f"{s}_{az}", "shape_id": s, "azimuth": az, "path": str(p)})
    write_index(tmp_path, pd.DataFrame(rows))
    code = {}

    def fake_embed(paths, spec, t, cache, **kw):
        return np.array([[hash((p.name, t.name)) % 1000, 0] for p in paths], np.float32)

    monkeypatch.setattr("sketch3d.features.extract.embed_images", fake_embed)
    monkeypatch.setattr("sketch3d.features.stage.feature_spec", lambda params: None)
    params = {"seed": 0, "features": {"batch_size": 2, "dtype": "float32"},
              "retrieval": {"obb_box": 129, "masks": {"augment": {"pool": 4, "copies": 2, "translate": 0.1,
                                                                 "rotate": 10, "scale": 0.1, "dtype": "float32"}}}}
    shape = mb.mask_bank(tmp_path, params, tmp_path / "cache", tmp_path / "bank.npy", tmp_path / "bank.csv")
    assert shape == (2, 2, 2, 2)
    bank = np.load(tmp_path / "bank.npy")
    ids = pd.read_csv(tmp_path / "bank.csv")
    assert list(ids["shape_id"][::4]) == ["a", "b"] and list(ids["azimuth"][:4]) == [0, 0, 30, 30]
    for i, r in ids.iterrows():
        s, v, c = i // 4, (i // 2) % 2, i % 2
        name = f"{r['shape_id']}_{r['azimuth']}.png"
        assert bank[s, v, c, 0] == hash((name, Transform.parse(r["transform"]).name)) % 1000
        code[(s, v)] = code.get((s, v), set()) | {r["transform"]}
    assert all(len(t) == 2 for t in code.values())
