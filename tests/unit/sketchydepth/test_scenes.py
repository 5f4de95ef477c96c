import hashlib
import json
import math

import numpy as np
import pytest

from sketch3d import DEMO_NOTICE
from sketch3d.cli import main
from sketch3d.sketchydepth.scenes import (
    CAMERA_HEIGHT,
    Layout,
    SceneError,
    Thing,
    make_scene,
    prepare_scenes,
    relative_inverse_depth,
    render_scene,
    split_kinds,
)
from sketch3d.sketchydepth.triplets import read_depths, read_triplets

SKY = ((40, 90, 180), (170, 205, 235))
GRASS = ((90, 120, 70), (50, 130, 40))


def _settings(**scenes):
    cfg = {"train": 6, "val": 2, "test": 3, "labeller": 4, "bo_fraction": 0.25, "max_things": 3, "trees": [0, 3],
           "shapes": ["house", "ball", "animal"]}
    cfg.update(scenes)
    return {"profile": "demo", "seed": 3, "sketchydepth": {"image_size": 32, "scenes": cfg}}


def _focal(size):  # 60 degrees horizontal field of view, computed apart from the module
    return (size / 2) / math.tan(math.pi / 6)


def test_scenes_are_seeded_and_independent_of_the_split_length():
    a = make_scene(7, "train", 4, "fb", 32, 3, (0, 3))
    b = make_scene(7, "train", 4, "fb", 32, 3, (0, 3))
    for field in ("image", "depth", "sketch", "partial", "foreground"):
        assert np.array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.image, make_scene(8, "train", 4, "fb", 32, 3, (0, 3)).image)
    assert not np.array_equal(a.image, make_scene(7, "val", 4, "fb", 32, 3, (0, 3)).image)
    kinds = split_kinds(7, "train", 8, 0.25)
    assert kinds.count("bo") == 2 and kinds == split_kinds(7, "train", 8, 0.25)


def test_ground_and_sky_depth_follow_the_pinhole_camera():
    size, horizon = 40, 0.4
    scene = render_scene(Layout(horizon, (), (), SKY, GRASS, 0.0), size, np.random.default_rng(0))
    rows = np.arange(size) + 0.5
    h = size * horizon
    expected = np.where(rows > h, _focal(size) * CAMERA_HEIGHT / np.maximum(rows - h, 1e-9), np.inf)
    np.testing.assert_allclose(scene.depth[:, 5], expected.astype(np.float32), rtol=1e-6)
    assert (scene.inverse_depth[rows < h] == 0).all()
    assert scene.kind == "bo" and not scene.foreground.any()
    assert np.array_equal(scene.partial, scene.sketch)


def test_nearer_object_has_larger_inverse_depth_and_is_bigger_and_lower():
    size, horizon = 64, 0.45
    near = Thing("ball", 0.25, 4.0, 1.0, 1.0, (200, 30, 30))
    far = Thing("ball", 0.75, 10.0, 1.0, 1.0, (30, 30, 200))
    scene = render_scene(Layout(horizon, (), (near, far), SKY, GRASS, 0.0), size, np.random.default_rng(1))
    left, right = scene.foreground.copy(), scene.foreground.copy()
    left[:, size // 2:] = False
    right[:, : size // 2] = False
    assert left.any() and right.any()
    assert scene.inverse_depth[left].min() > scene.inverse_depth[right].max()
    rows_l, rows_r = np.nonzero(left)[0], np.nonzero(right)[0]
    assert np.ptp(rows_l) > np.ptp(rows_r)  # nearer: taller on screen
    assert rows_l.max() > rows_r.max()  # farther: stands higher, nearer the horizon
    for thing, rows in ((near, rows_l), (far, rows_r)):  # each stands on its own ground row
        base = size * horizon + _focal(size) * CAMERA_HEIGHT / thing.z
        assert abs(rows.max() + 0.5 - base) <= 1.0
        assert abs((np.ptp(rows) + 1) - _focal(size) * thing.height / thing.z) <= 2.0
    # the ball's surface: its nearest point, the centre, is radius metres in front of its centre's distance
    assert abs(scene.depth[left].min() - (near.z - near.width / 2)) < 0.1


def test_partial_image_is_the_scene_on_foreground_and_the_sketch_elsewhere():
    for i in range(6):
        s = make_scene(2, "test", i, "fb", 48, 3, (1, 3))
        fg = s.foreground
        assert s.kind == "fb" and fg.any()
        assert np.array_equal(s.partial[fg], s.image[fg])
        assert np.array_equal(s.partial[~fg], s.sketch[~fg])
        grey = s.sketch[..., 0]
        assert (s.sketch == grey[..., None]).all()  # strokes are grey, on white
        assert (grey == 255).mean() > 0.8 and (grey < 128).any()
        bo = make_scene(2, "test", i, "bo", 48, 3, (1, 3))
        assert bo.kind == "bo" and not bo.foreground.any() and np.array_equal(bo.partial, bo.sketch)


def test_relative_inverse_depth_scales_each_map_to_0_255_nearest_brightest():
    d = np.array([[1.0, 2.0], [4.0, np.inf]], np.float32)
    assert relative_inverse_depth(d).tolist() == [[255, 128], [64, 0]]
    assert relative_inverse_depth(d * 10).tolist() == [[255, 128], [64, 0]]


def _files(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_prepare_scenes_writes_readable_sets_byte_identically(tmp_path):
    manifest = prepare_scenes(_settings(), tmp_path / "a")
    prepare_scenes(_settings(), tmp_path / "b")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    for split, n in (("train", 6), ("val", 2), ("test", 3), ("labeller", 4)):
        t = read_triplets(tmp_path / "a" / split, tmp_path / "a" / "labeller_depth" if split == "labeller" else None)
        assert len(t) == n and t.partial.shape == (n, 32, 32, 3)
        assert t.kinds.count("bo") == round(n * 0.25) == manifest["splits"][split]["bo"]
        # the depth labels' source (label_depth): the demo's scene images as they are, the set's own image column
        sources = (tmp_path / "a" / split / "scenes.csv")
        assert sources.is_file() == (split != "labeller")
        assert split == "labeller" or sources.read_text().splitlines()[1:] == [f"{i},image/{i}.png" for i in t.ids]
    ids, depth = read_depths(tmp_path / "a" / "labeller_depth")
    assert len(ids) == 4 and depth.max() == 255 and depth.min() == 0
    written = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert written["notice"] == DEMO_NOTICE and written["splits"]["train"]["n"] == 6


def test_bad_settings_are_named_before_anything_is_written(tmp_path):
    with pytest.raises(SceneError, match="bo_fraction"):
        prepare_scenes(_settings(bo_fraction=1.5), tmp_path / "x")
    with pytest.raises(SceneError, match="shapes"):
        prepare_scenes(_settings(shapes=["dragon"]), tmp_path / "x")
    bad = _settings()
    del bad["sketchydepth"]["scenes"]
    with pytest.raises(SceneError, match="sketchydepth.scenes"):
        prepare_scenes(bad, tmp_path / "x")
    with pytest.raises(SceneError, match="profile"):
        prepare_scenes({**_settings(), "profile": "other"}, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_prepare_scenes_command(tmp_path):
    settings = json.dumps(_settings(train=2, val=1, test=1, labeller=1))
    assert main(["prepare_scenes", "--settings", settings, "--out", str(tmp_path / "o")]) == 0
    assert len(read_triplets(tmp_path / "o" / "train")) == 2
