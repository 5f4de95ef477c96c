"""`sketch3d query`: the thesis's best method (OBB, Augm. (4 imgs), learned binary mask), a folder of sketches,
transparent PNGs, provenance at the top of the output, random weights refused outside the demo."""
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import trimesh
from PIL import Image

import sketch3d.features.extract as extract_mod
from sketch3d.cli import main
from sketch3d.config import load_params
from sketch3d.data.quickdraw import bundled_quickdraw, read_quickdraw
from sketch3d.data.sketch import rasterize
from sketch3d.features.backbone import CLIP_MEAN, CLIP_STD
from sketch3d.features.box import read_grey
from sketch3d.features.transforms import Transform
from sketch3d.imageset import write_index
from sketch3d.retrieval.choice import ChoiceError
from sketch3d.retrieval.query import query_meshes, query_setup, read_sketches

REPO = Path(__file__).resolve().parents[3]
POOL = 16  # the stand-in network: CLIP-normalised pixels averaged over 16 x 16 blocks, [3, 14, 14]
DIM = 3 * (224 // POOL) ** 2


class PoolNet(torch.nn.Module):
    def forward(self, x):
        return torch.nn.functional.avg_pool2d(x, POOL)


@pytest.fixture
def pool_net(monkeypatch):
    """A cheap deterministic stand-in for the CLIP network (its construction costs seconds); counts builds."""
    builds = []
    monkeypatch.setattr(extract_mod, "inference_model", lambda *a, **k: builds.append(1) or PoolNet())
    monkeypatch.setattr(extract_mod, "feature_dim", lambda *a, **k: DIM)
    return builds


def pooled(grey: np.ndarray) -> np.ndarray:
    """The stand-in network's feature of a 224 x 224 grey image, computed with numpy."""
    x = grey.astype(np.float32)[..., None] / 255.0
    x = (x - np.array(CLIP_MEAN, np.float32)) / np.array(CLIP_STD, np.float32)  # [H, W, 3]
    blocks = x.reshape(224 // POOL, POOL, 224 // POOL, POOL, 3).mean(axis=(1, 3))  # [14, 14, 3]
    return blocks.transpose(2, 0, 1).reshape(-1)


@pytest.fixture
def setup_dirs(tmp_path):
    """QuickDraw sketches (the three bundled files, an opaque PNG of chair #0 and its transparent twin), a gallery of
    three 'shapes' of two views each (other bundled drawings), and a results folder with the searches' choices and a
    learned mask."""
    queries = tmp_path / "queries"
    queries.mkdir()
    for cat in ("chair", "floor_lamp", "table"):
        shutil.copy(bundled_quickdraw(cat), queries / f"{cat}.ndjson")
    grey = np.asarray(rasterize(read_quickdraw(bundled_quickdraw("chair"), limit=1)[0]))
    Image.fromarray(grey).save(queries / "chair_opaque.png")
    rgba = np.zeros((*grey.shape, 4), np.uint8)  # black ink whose alpha is the ink; RGB of empty pixels black too
    rgba[..., 3] = 255 - grey
    Image.fromarray(rgba, "RGBA").save(queries / "chair_transparent.png")

    gallery = tmp_path / "gallery"
    gallery.mkdir()
    rows = []
    for cat in ("chair", "floor_lamp", "table"):
        for view, drawing in enumerate(read_quickdraw(bundled_quickdraw(cat), limit=3)[1:]):
            path = gallery / f"{cat}_{view}.png"
            rasterize(drawing).save(path)
            rows.append({"image_id": path.stem, "shape_id": f"{cat}_shape", "azimuth": 30.0 * view, "path": path})
    write_index(gallery, pd.DataFrame(rows))

    results = tmp_path / "results"
    grids = results / "retrieval" / "grids"
    grids.mkdir(parents=True)
    (grids / "box.json").write_text(json.dumps({"grid": "box", "choice": {"box": 150, "fraction": 0.67}}))
    (grids / "affine.json").write_text(json.dumps({"grid": "affine", "choice": {
        "box": 150, "translation": [-12, 7], "rotation": 31.5}}))
    masks = results / "retrieval" / "masks" / "binary"
    masks.mkdir(parents=True)
    np.save(masks / "best_chair.npy", np.random.default_rng(0).random(DIM) < 0.5)
    (masks / "best_chair.json").write_text(json.dumps({"step": 40}))
    return queries, gallery, results


def _query(queries, gallery, results, tmp_path, *extra):
    out = tmp_path / "rankings.csv"
    rc = main(["query", "--queries", str(queries), "--gallery", str(gallery), "--results", str(results),
               "--out", str(out), "--cache", str(tmp_path / "cache"), "--params", str(REPO / "params.yaml"),
               "--profile", "demo", "--top", "5", *extra])
    return rc, out


def test_query_folder_ranks_with_augm4_and_the_mask_and_a_transparent_png_as_its_opaque_twin(
        setup_dirs, tmp_path, pool_net, capsys):
    queries, gallery, results = setup_dirs
    rc, out = _query(queries, gallery, results, tmp_path)
    assert rc == 0
    head = capsys.readouterr().out
    df = pd.read_csv(out, dtype={"shape_id": str})
    assert list(df.columns) == ["sketch", "rank", "shape_id", "distance"]
    names = ["chair.ndjson", "chair_opaque.png", "chair_transparent.png", "floor_lamp.ndjson", "table.ndjson"]
    assert sorted(df["sketch"].unique()) == names and len(df) == 5 * 3  # 3 shapes: top 5 holds them all
    for _, one in df.groupby("sketch"):
        assert one["rank"].tolist() == [1, 2, 3] and one["distance"].is_monotonic_increasing
    rows = {n: one[["shape_id", "distance"]].to_numpy().tolist() for n, one in df.groupby("sketch")}
    assert rows["chair_transparent.png"] == rows["chair_opaque.png"] == rows["chair.ndjson"]

    # provenance at the top: profile, method, where the box and transforms came from, the mask, the weights
    assert "profile: demo" in head and "method: Binary (best chairs) (binary_chair)" in head
    assert "box 150 px, transforms translate (-12, 7) px and rotate 31.5 deg: this run's searches" in head
    assert f"mask: {results / 'retrieval/masks/binary/best_chair.npy'} (sha256 " in head
    assert "weights: CLIP RN50 layer3: random init (seed 0), NOT pretrained" in head
    assert head.index("# profile") < head.index("ranking(s) written")

    # independently: each copy's pixels as the pipeline's feature stage makes them from the files
    # (load_transformed), the stand-in's feature by numpy, the 4 averaged, masked, MSE, min over a shape's views
    copies = [Transform(150), Transform(150, -12, 7), Transform(150, rot=31.5), Transform(150, -12, 7, 31.5)]
    mask = np.load(results / "retrieval/masks/binary/best_chair.npy")

    def feature(path):
        return np.mean([pooled(extract_mod.load_transformed(path, t)) for t in copies], axis=0)[mask]

    q = feature(queries / "chair_transparent.png")
    index = pd.read_csv(gallery / "index.csv")
    views = {}
    for _, r in index.iterrows():
        views.setdefault(r["shape_id"], []).append(np.mean((q - feature(gallery / r["path"])) ** 2))
    expected = sorted((min(v), s) for s, v in views.items())
    got = rows["chair_transparent.png"]
    assert [s for s, _ in got] == [s for _, s in expected]
    np.testing.assert_allclose([d for _, d in got], [d for d, _ in expected], rtol=1e-5)
    assert len(pool_net) == 1  # every copy of both sides through one network build

    # a second run embeds nothing (the cache keys the transformed pixels)
    rc, again = _query(queries, gallery, results, tmp_path)
    assert rc == 0 and len(pool_net) == 1
    assert pd.read_csv(again, dtype={"shape_id": str}).equals(df)


def test_without_a_mask_or_searches_it_falls_back_and_says_so(setup_dirs, tmp_path, pool_net, capsys):
    queries, gallery, _ = setup_dirs
    rc, out = _query(queries, gallery, tmp_path / "no_results", tmp_path)
    assert rc == 0
    head = capsys.readouterr().out
    assert "method: OBB, Augm. (4 imgs) (obb_augm4)" in head and "no learned mask at" in head
    assert "mask: none" in head
    thesis = load_params(REPO / "params.yaml", {"profile": "demo"})["retrieval"]["thesis_choice"]
    assert (f"box {thesis['obb_box']} px, transforms translate ({thesis['augment']['translate'][0]}, "
            f"{thesis['augment']['translate'][1]}) px and rotate {thesis['augment']['rotate']} deg: the thesis's "
            "choice (retrieval.thesis_choice): the searches' results") in head
    assert len(pd.read_csv(out)) == 15


def test_choice_and_mask_follow_the_pipeline(setup_dirs):
    _, _, results = setup_dirs
    params = load_params(REPO / "params.yaml", {"profile": "paper"})
    assert params["retrieval"]["choices"][0] == "search"
    params["features"]["weights"] = "random"
    main = query_setup(params, results, allow_random_weights=True)
    assert main.retrieval["obb_box"] == 150 and main.mask_path == results / "retrieval/masks/binary/best_chair.npy"
    # the thesis's choice (another choice in the paper profile): its values, and its own mask or none
    thesis = query_setup(params, results, allow_random_weights=True, choice="thesis")
    assert thesis.retrieval["obb_box"] == params["retrieval"]["thesis_choice"]["obb_box"]
    assert thesis.mask_path is None and thesis.method.name == "obb_augm4"
    assert any("retrieval/masks/binary@thesis/best_chair.npy" in n for n in thesis.notes)
    # a stale Table 4.2 search (run on another box than Table 4.1 chose) is refused, as the pipeline refuses it
    grids = results / "retrieval/grids"
    (grids / "box.json").write_text(json.dumps({"grid": "box", "choice": {"box": 170}}))
    with pytest.raises(ChoiceError, match="stale"):
        query_setup(params, results, allow_random_weights=True)


def test_random_weights_are_refused_outside_the_demo_unless_asked(setup_dirs, tmp_path, caplog, monkeypatch):
    queries, gallery, results = setup_dirs
    monkeypatch.setattr(extract_mod, "inference_model", lambda *a, **k: pytest.fail("network built"))
    params = load_params(REPO / "params.yaml", {"profile": "demo"})
    params["profile"] = "paper"  # with the demo's random weights
    assert main(["query", "--queries", str(queries), "--gallery", str(gallery), "--out", str(tmp_path / "o.csv"),
                 "--settings", json.dumps(params)]) == 1
    assert "would rank with untrained weights" in caplog.text and "--allow-random-weights" in caplog.text
    assert not (tmp_path / "o.csv").exists()
    allowed = query_setup(params, results, allow_random_weights=True)
    assert any("WARNING: untrained weights" in line for line in allowed.header())
    rehearsal = {**params, "rehearsal": True, "profile": "paper"}
    with pytest.raises(ValueError, match="rehearsal"):
        query_setup(rehearsal, results)


def test_query_arguments_and_sketch_errors(setup_dirs, tmp_path, caplog):
    queries, gallery, results = setup_dirs
    assert main(["query", "--queries", str(queries), "--gallery", str(gallery)]) == 1
    assert "give --out FILE.csv" in caplog.text
    blank = tmp_path / "blank"
    blank.mkdir()
    Image.new("RGBA", (40, 30), (0, 0, 0, 0)).save(blank / "empty.png")  # transparent black: no ink on white
    with pytest.raises(ValueError, match="empty.png has no ink"):
        read_sketches([blank / "empty.png"])
    # a wide PNG keeps its aspect ratio (no stretching to a square before the box fitting)
    wide = np.full((50, 200), 255, np.uint8)
    wide[20:30, 10:190] = 0
    Image.fromarray(wide).save(blank / "wide.png")
    img = read_sketches([blank / "wide.png"])["wide.png"]
    assert img.size == (200, 50)
    fitted = np.asarray(Transform(129).apply(read_grey(blank / "wide.png")))
    ink = np.argwhere(fitted < 200)
    assert np.ptp(ink[:, 1]) + 1 == 129 and np.ptp(ink[:, 0]) + 1 < 10


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
    sketches = read_sketches([bundled_quickdraw("chair")], index=1)
    setup = query_setup(params, tmp_path / "results")
    results, skipped = query_meshes(sketches, setup, params, folder, tmp_path / "cache", top=5,
                                    figure=tmp_path / "top.png")
    ranked = results["chair.ndjson"]
    assert sorted(name for name, _ in ranked) == ["disc.off", "tall_box.obj"]
    assert [d for _, d in ranked] == sorted(d for _, d in ranked)
    assert {s.path: s.reason.split(" (")[0] for s in skipped} == {
        "broken.ply": "cannot be read as a mesh", "readme.txt": "not a mesh file"}
    assert (tmp_path / "top.png").stat().st_size > 0
    assert len(builds) == 1  # every copy of the gallery and the sketch through one build
    renders = sorted((tmp_path / "cache" / "renders").rglob("*.png"))
    stamps = [p.stat().st_mtime_ns for p in renders]
    again, _ = query_meshes(sketches, setup, params, folder, tmp_path / "cache", top=5)
    assert again == results
    assert [p.stat().st_mtime_ns for p in renders] == stamps, "a second query rendered again"
    assert len(builds) == 1, "a second query embedded again"


def test_query_errors_name_the_fix(tmp_path, caplog):
    sketch = str(bundled_quickdraw("chair"))
    assert main(["query", "--meshes", str(tmp_path / "nope"), sketch, "--params", str(REPO / "params.yaml"),
                 "--profile", "demo", "--results", str(tmp_path)]) == 1
    assert "is not a folder" in caplog.text
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "a.txt").write_text("x")
    assert main(["query", sketch, "--meshes", str(empty), "--params", str(REPO / "params.yaml"),
                 "--profile", "demo", "--results", str(tmp_path)]) == 1
    assert "no readable mesh" in caplog.text and "a.txt: not a mesh file" in caplog.text
    assert main(["query", sketch, "--params", str(REPO / "params.yaml")]) == 1
    assert "give --meshes DIR" in caplog.text
