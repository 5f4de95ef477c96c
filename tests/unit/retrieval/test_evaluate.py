import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw

from sketch3d.imageset import write_index
from sketch3d.retrieval.evaluate import retrieve
from sketch3d.retrieval.ranking import shape_distances

THESIS_CHOICE = {"obb_box": 129, "augment": {"translate": [19, -4], "rotate": -23.5}}


def test_shape_distances_min_and_mean_over_views_against_a_loop():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(4, 50)).astype(np.float32)
    g = rng.normal(size=(6, 50)).astype(np.float32)
    shapes = ["b", "a", "b", "c", "a", "c"]
    for how, reduce in (("min", min), ("mean", lambda v: sum(v) / len(v))):
        d, order = shape_distances(q, g, shapes, chunk_size=4, how=how)
        assert order == ["a", "b", "c"]
        for i in range(4):
            for j, s in enumerate(order):
                views = [float(np.mean((q[i] - g[k]) ** 2)) for k in range(6) if shapes[k] == s]
                assert d[i, j] == pytest.approx(reduce(views), rel=1e-5)


def _image_set(folder, items):
    folder.mkdir(parents=True)
    rows = []
    for image_id, shape_id, az, (x0, y0, x1, y1) in items:
        img = Image.new("L", (224, 224), 255)
        ImageDraw.Draw(img).rectangle((x0, y0, x1, y1), outline=0, width=3)
        path = folder / f"{image_id}.png"
        img.save(path)
        rows.append({"image_id": image_id, "shape_id": shape_id, "azimuth": az, "path": str(path)})
    write_index(folder, pd.DataFrame(rows))


def test_pixel_retrieval_finds_identical_drawings(tmp_path):
    boxes = {"wide": (20, 90, 200, 130), "tall": (90, 20, 130, 200), "square": (60, 60, 160, 160)}
    _image_set(tmp_path / "gallery", [(f"{s}_az{a:03d}", s, a, b) for s, b in boxes.items() for a in (0, 30)])
    _image_set(tmp_path / "sketches", [(f"{s}_q", s, 0, b) for s, b in boxes.items()])
    params = {"profile": "demo", "retrieval": {"baseline_box": 170, "choices": ["thesis"], "thesis_choice": THESIS_CHOICE,
              "distance": "mse",
              "view_reduction": "min", "topk": [1, 5], "chunk_size": 2, "pixel_size": 28}}
    m = retrieve("pixel", params, tmp_path / "sketches", tmp_path / "gallery", tmp_path / "r.npz",
                      tmp_path / "r.json", "chair", "test")
    assert m["acc@1"] == 100.0 and m["n_queries"] == 3 and m["n_shapes"] == 3
    assert "NOT the thesis" in json.loads((tmp_path / "r.json").read_text())["notice"]
    data = np.load(tmp_path / "r.npz")
    assert data["dist"].shape == (3, 3) and list(data["ranks"]) == [0, 0, 0]


def test_clip_method_without_features_is_refused(tmp_path):
    _image_set(tmp_path / "g", [("a_az000", "a", 0, (10, 10, 50, 50))])
    params = {"profile": "demo", "retrieval": {"baseline_box": 170, "choices": ["thesis"], "thesis_choice": THESIS_CHOICE,
              "distance": "mse",
              "view_reduction": "min", "topk": [1], "chunk_size": 2, "pixel_size": 28}}
    with pytest.raises(ValueError, match="needs CLIP feature files"):
        retrieve("obb", params, tmp_path / "g", tmp_path / "g", tmp_path / "r.npz", tmp_path / "r.json",
                      "chair", "test")
    with pytest.raises(ValueError, match="unknown retrieval method"):
        retrieve("nope", params, tmp_path / "g", tmp_path / "g", tmp_path / "r.npz", tmp_path / "r.json",
                      "chair", "test")


def test_metrics_record_where_the_split_came_from(tmp_path):
    boxes = {"wide": (20, 90, 200, 130), "tall": (90, 20, 130, 200)}
    _image_set(tmp_path / "gallery", [(f"{s}_az000", s, 0, b) for s, b in boxes.items()])
    _image_set(tmp_path / "sketches", [(f"{s}_q", s, 0, b) for s, b in boxes.items()])
    shapes = tmp_path / "shapes.csv"
    pd.DataFrame({"shape_id": ["wide", "tall", "other"], "category": ["chair", "chair", "lamp"],
                  "split": ["test", "test", "test"], "mesh_path": ["a.obj", "b.obj", "c.obj"], "up_axis": "Y",
                  "source": "x", "split_source": ["official-lists", "official-lists", "seeded"]}).to_csv(shapes, index=False)
    params = {"profile": "paper", "retrieval": {"baseline_box": 170, "choices": ["thesis"], "thesis_choice": THESIS_CHOICE,
              "distance": "mse",
              "view_reduction": "min", "topk": [1], "chunk_size": 2, "pixel_size": 28}}
    m = retrieve("pixel", params, tmp_path / "sketches", tmp_path / "gallery", tmp_path / "r.npz", tmp_path / "r.json",
                 "chair", "test", shapes_csv=shapes)
    assert m["split_source"] == "official-lists" and "notice" not in m
    assert json.loads((tmp_path / "r.json").read_text())["split_source"] == "official-lists"
