"""The learned mask's training set (which shapes, the count check) and its per-batch augmentation."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sketch3d.cli import main
from sketch3d.data.manifest import SHAPE_COLUMNS, read_shapes, write_manifest
from sketch3d.retrieval.mask_data import (
    THESIS_TRAIN_SHAPES,
    Augment,
    TrainingSetError,
    draw_batch,
    mask_train_set,
    select_training_shapes,
)


def test_the_training_set_is_every_shape_but_the_val_and_test_ones():
    # a hand-made list: 8 models, 2 validation and 1 test shape among them, one validation shape not in the copy
    candidates = ["c7", "a1", "b2", "d4", "e5", "f6", "g7", "h8"]
    excluded = {"b2", "e5", "h8", "zz"}
    chosen, summary = select_training_shapes(candidates, excluded, None, seed=0)
    assert chosen == ["a1", "c7", "d4", "f6", "g7"]
    assert summary["found"] == 8 and summary["excluded_val_test"] == 3 and summary["eligible"] == 5
    assert summary["chosen"] == 5 and summary["differs_from_thesis"] and summary["thesis"] == THESIS_TRAIN_SHAPES
    # a count below the eligible number: a seeded draw among them, the same for the same seed
    three, s3 = select_training_shapes(candidates, excluded, 3, seed=0)
    assert len(three) == 3 and set(three) <= set(chosen) and three == sorted(three) and s3["asked"] == 3
    assert select_training_shapes(list(reversed(candidates)), excluded, 3, seed=0)[0] == three
    draws = {tuple(select_training_shapes(candidates, excluded, 3, seed=k)[0]) for k in range(8)}
    assert len(draws) > 1
    assert select_training_shapes(candidates, excluded, 5, seed=0)[0] == chosen


def test_too_few_eligible_shapes_stop_with_the_count_and_the_fix():
    with pytest.raises(TrainingSetError) as err:
        select_training_shapes([f"m{i}" for i in range(10)], {"m0", "m1"}, 4475, seed=0, where="ShapeNetCore v2 at /x")
    text = str(err.value)
    for part in ("ShapeNetCore v2 at /x", "8 eligible shapes", "10 found", "2 of them in AmateurSketch's",
                 "retrieval.masks.train_set.shapes=4475", "4475 ShapeNet chairs", "6778",
                 "set retrieval.masks.train_set.shapes to 8"):
        assert part in text, part
    with pytest.raises(TrainingSetError, match="integer >= 2 or null"):
        select_training_shapes(["a", "b"], set(), 1, seed=0)


def _manifest(tmp_path, rows) -> str:
    df = pd.DataFrame(rows, columns=["shape_id", "category", "split"])
    df["mesh_path"] = [str(tmp_path / f"{s}.obj") for s in df["shape_id"]]
    df["up_axis"], df["source"] = "Y", "demo"
    write_manifest(df[SHAPE_COLUMNS], tmp_path / "shapes.csv", "shapes")
    return str(tmp_path / "shapes.csv")


def test_paper_set_from_a_shapenet_copy_and_the_command(tmp_path):
    root = tmp_path / "ShapeNetCore.v2"
    ids = [f"{i:032x}" for i in range(7)]
    for m in ids:
        (root / "03001627" / m / "models").mkdir(parents=True)
        (root / "03001627" / m / "models" / "model_normalized.obj").write_text("v 0 0 0\n")
    (root / "03001627" / "no_mesh").mkdir()  # a folder without a mesh is not a model
    shapes = _manifest(tmp_path, [(ids[0], "chair", "train"), (ids[1], "chair", "val"), (ids[2], "chair", "test"),
                                  ("l1", "lamp", "val")])
    settings = {"profile": "paper", "seed": 0, "data": {"shapenet_root": str(root)},
                "retrieval": {"masks": {"train_set": {"category": "chair", "shapes": 4, "view_set": "five"}}}}
    rc = main(["mask_train_set", "--settings", json.dumps(settings), "--shapes", shapes,
               "--out", str(tmp_path / "train.csv"), "--summary", str(tmp_path / "train.json")])
    assert rc == 0
    got = read_shapes(tmp_path / "train.csv")
    assert len(got) == 4 and set(got["shape_id"]) <= set(ids) - {ids[1], ids[2]}
    assert (got["split"] == "train").all() and got["mesh_path"].str.endswith("models/model_normalized.obj").all()
    summary = json.loads((tmp_path / "train.json").read_text())
    assert summary["found"] == 7 and summary["eligible"] == 5 and summary["chosen"] == 4
    assert summary["differs_from_thesis"] is True
    settings["retrieval"]["masks"]["train_set"]["shapes"] = 6
    with pytest.raises(TrainingSetError, match="5 eligible shapes"):
        mask_train_set(settings, tmp_path / "shapes.csv", tmp_path / "t2.csv", tmp_path / "t2.json")
    assert not (tmp_path / "t2.csv").exists()


def test_demo_set_is_its_generated_training_chairs(tmp_path):
    shapes = _manifest(tmp_path, [("c1", "chair", "train"), ("c2", "chair", "val"), ("c3", "chair", "train"),
                                  ("c4", "chair", "test"), ("l1", "lamp", "train")])
    settings = {"profile": "demo", "seed": 0,
                "retrieval": {"masks": {"train_set": {"category": "chair", "shapes": None, "view_set": "five"}}}}
    summary = mask_train_set(settings, tmp_path / "shapes.csv", tmp_path / "t.csv", tmp_path / "t.json")
    got = read_shapes(tmp_path / "t.csv")
    assert got["shape_id"].tolist() == ["c1", "c3"] and got["mesh_path"].tolist() == [str(tmp_path / "c1.obj"),
                                                                                        str(tmp_path / "c3.obj")]
    assert summary["chosen"] == 2 and "demo" in summary["source"]


def test_augmentation_ranges_and_batches():
    aug = Augment(129, translate=0.1, rotate=10, scale=0.1)
    ts = aug.draw(np.random.default_rng(0), 2000)
    box = np.array([t.box for t in ts])
    tx, ty, rot = (np.array([getattr(t, k) for t in ts]) for k in ("tx", "ty", "rot"))
    assert box.min() >= 129 - 22 and box.max() <= 129 + 22 and box.max() - box.min() >= 40  # +-10% of 224 px
    assert np.abs(tx).max() <= 22 and np.abs(ty).max() <= 22 and np.abs(tx).max() >= 21
    assert np.abs(rot).max() <= 10 and np.abs(rot).max() > 9.5 and np.all(tx == np.round(tx))
    assert abs(rot.mean()) < 0.5 and abs(tx.mean()) < 1  # centred
    a = draw_batch(np.random.default_rng(3), 20, 5, 6, aug)
    b = draw_batch(np.random.default_rng(3), 20, 5, 6, aug)
    assert a.transforms == b.transforms and np.array_equal(a.shapes, b.shapes)
    assert len(set(a.shapes)) == 6 and (a.v1 != a.v2).all() and len(a.transforms) == 12
    rng = np.random.default_rng(3)
    first, second = draw_batch(rng, 20, 5, 6, aug), draw_batch(rng, 20, 5, 6, aug)
    assert first.transforms != second.transforms
    assert draw_batch(np.random.default_rng(3), 20, 5, 6, None).transforms is None
    with pytest.raises(ValueError, match="translate must be in"):
        Augment(129, translate=0.6)


def test_preflight_names_a_synset_too_small_for_the_training_set(tmp_path):
    from sketch3d.retrieval.preflight import _mask_training_set

    for i in range(3):
        (tmp_path / "03001627" / f"m{i}" / "models").mkdir(parents=True)
        (tmp_path / "03001627" / f"m{i}" / "models" / "model_normalized.obj").write_text("v 0 0 0\n")
    params = {"data": {"shapenet_root": str(tmp_path)},
              "retrieval": {"masks": {"train_set": {"category": "chair", "shapes": 4475, "view_set": "five"}}}}
    (m,) = _mask_training_set(params, ".")
    assert "4475 chair models" in m.what and "this copy has 3" in m.what and "train_set.shapes" in m.how_to_get
    params["retrieval"]["masks"]["train_set"]["shapes"] = 3
    assert _mask_training_set(params, ".") == []
