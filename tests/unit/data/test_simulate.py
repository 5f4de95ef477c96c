"""Simulated amateur sketches: settings, degradations, the demo set."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import trimesh
import yaml

from sketch3d.data import simulate
from sketch3d.data.manifest import SHAPE_COLUMNS, SKETCH_COLUMNS
from sketch3d.data.simulate import (
    SimulationSettings,
    _perturb_mesh,
    build_demo_sketches,
    load_yup_mesh,
    simulate_sketch,
    sketch_rng,
    visible_feature_lines,
)
from sketch3d.data.sketch import load_sketch, validate
from sketch3d.geometry import visible_lines
from sketch3d.geometry.camera import View
from _helpers import _box, _length, _segments_on

ZERO = SimulationSettings(azimuth_jitter=0, elevation_jitter=0, proportion_jitter=0, warp=0, wobble=0,
                          overshoot=(0, 0), drop_prob=0, double_prob=0, width=(2.0, 2.0))


def _box_chair(seat_h=0.45, back_h=0.45, leg=0.05) -> trimesh.Trimesh:
    w = d = 0.45
    parts = [_box([w, 0.05, d], [0, seat_h, 0]), _box([w, back_h, 0.05], [0, seat_h + back_h / 2, -d / 2 + 0.025])]
    for sx in (-1, 1):
        for sz in (-1, 1):
            parts.append(_box([leg, seat_h, leg], [sx * (w / 2 - leg / 2), seat_h / 2, sz * (d / 2 - leg / 2)]))
    mesh = trimesh.util.concatenate(parts)
    mesh.apply_translation(-mesh.bounds.mean(axis=0))
    mesh.apply_scale(1.0 / np.linalg.norm(mesh.extents))
    return mesh


# ----------------------------------------------------------------------------- settings


def test_settings_defaults_match_params_yaml():
    params = yaml.safe_load((Path(__file__).parents[3] / "params.yaml").read_text())
    assert SimulationSettings.from_dict(params["profiles"]["demo"]["data"]["sketch"]) == SimulationSettings()


def test_settings_reject_unknown_and_bad_values():
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['wobbel'\]"):
        SimulationSettings.from_dict({"wobbel": 1.0})
    with pytest.raises(ValueError, match="drop_prob must lie in"):
        SimulationSettings(drop_prob=1.5)
    with pytest.raises(ValueError, match="width must be"):
        SimulationSettings(width=(3.0, 1.0))
    with pytest.raises(ValueError, match="overshoot must be a pair"):
        SimulationSettings(overshoot=0.1)
    assert SimulationSettings.from_dict({"width": [1, 2]}).width == (1.0, 2.0)


# ----------------------------------------------------------------------------- simulation


def test_zero_settings_give_the_clean_lines():
    chair = _box_chair()
    sketch = simulate_sketch(chair, 30.0, 20.0, 2.5, ZERO, np.random.default_rng(3))
    clean = visible_feature_lines(chair, View(30.0, 20.0, 2.5), 256)
    assert len(sketch.strokes) == len(clean)
    for a, b in zip(sketch.strokes, clean):
        np.testing.assert_array_equal(a, b)
    assert sketch.widths == [2.0] * len(clean)
    assert sketch.canvas == (256, 256)


def test_simulation_is_deterministic_and_seed_dependent():
    chair = _box_chair()
    settings = SimulationSettings()
    a = simulate_sketch(chair, 30.0, 20.0, 2.5, settings, np.random.default_rng(7))
    b = simulate_sketch(chair, 30.0, 20.0, 2.5, settings, np.random.default_rng(7))
    c = simulate_sketch(chair, 30.0, 20.0, 2.5, settings, np.random.default_rng(8))
    assert a.meta == b.meta and a.widths == b.widths
    assert all(np.array_equal(x, y) for x, y in zip(a.strokes, b.strokes)) and len(a.strokes) == len(b.strokes)
    assert a.meta["drawn_view"] != c.meta["drawn_view"]
    validate(a)


def test_simulation_records_views_and_respects_ranges():
    chair = _box_chair()
    settings = SimulationSettings()
    for seed in range(5):
        s = simulate_sketch(chair, 75.0, 20.0, 2.5, settings, np.random.default_rng(seed))
        assert s.meta["view"] == {"azimuth": 75.0, "elevation": 20.0, "distance": 2.5, "lens_mm": 50.0}
        assert abs(s.meta["drawn_view"]["azimuth"] - 75.0) <= 12.0
        assert abs(s.meta["drawn_view"]["elevation"] - 20.0) <= 6.0
        assert all(0.85 <= p <= 1.15 for p in s.meta["proportions"])
        assert all(1.5 <= w <= 3.5 for w in s.widths)
        assert s.meta["source"] == "simulated"


def test_proportion_jitter_keeps_the_bounding_box_diagonal():
    chair = _box_chair()
    settings = SimulationSettings(**{**ZERO.to_dict(), "proportion_jitter": 0.15})
    s = simulate_sketch(chair, 0.0, 20.0, 2.5, settings, np.random.default_rng(0))
    scales = np.array(s.meta["proportions"])
    assert np.abs(scales - 1).max() > 0.01
    scaled = _perturb_mesh(chair, scales)
    assert np.linalg.norm(scaled.extents) == pytest.approx(np.linalg.norm(chair.extents))
    np.testing.assert_allclose(scaled.bounds.mean(axis=0), chair.bounds.mean(axis=0), atol=1e-12)
    ratio = (scaled.extents / chair.extents) / (scales / scales[0])
    np.testing.assert_allclose(ratio, ratio[0])  # the axes were scaled relative to each other as drawn
    lines = visible_feature_lines(scaled, View(0.0, 20.0, 2.5), 256)
    assert len(s.strokes) == len(lines)
    for a, b in zip(s.strokes, lines):
        np.testing.assert_array_equal(a, b)


def test_drop_prob_one_keeps_the_longest_stroke():
    chair = _box_chair()
    settings = SimulationSettings(**{**ZERO.to_dict(), "drop_prob": 1.0})
    clean = visible_feature_lines(chair, View(30.0, 20.0, 2.5), 256)
    longest = max(clean, key=lambda l: _length([l]))
    for seed in range(3):
        s = simulate_sketch(chair, 30.0, 20.0, 2.5, settings, np.random.default_rng(seed))
        assert len(s.strokes) == 1
        np.testing.assert_array_equal(s.strokes[0], longest)


def test_drop_and_double_change_the_stroke_count():
    chair = _box_chair()
    n_clean = len(visible_feature_lines(chair, View(30.0, 20.0, 2.5), 256))
    doubled = simulate_sketch(chair, 30.0, 20.0, 2.5, SimulationSettings(**{**ZERO.to_dict(), "double_prob": 1.0}),
                              np.random.default_rng(0))
    assert len(doubled.strokes) == 2 * n_clean
    offset = np.linalg.norm(doubled.strokes[1].mean(axis=0) - doubled.strokes[0].mean(axis=0))
    assert 0.9 <= offset <= 2.6
    counts = [len(simulate_sketch(chair, 30.0, 20.0, 2.5, SimulationSettings(**{**ZERO.to_dict(), "drop_prob": 0.5}),
                                  np.random.default_rng(seed)).strokes) for seed in range(6)]
    assert all(1 <= c < n_clean for c in counts)


def test_overshoot_changes_stroke_length_within_range():
    chair = _box_chair()
    clean = visible_feature_lines(chair, View(30.0, 20.0, 2.5), 256)
    for lo, hi in ((0.1, 0.1), (-0.1, -0.1)):
        s = simulate_sketch(chair, 30.0, 20.0, 2.5, SimulationSettings(**{**ZERO.to_dict(), "overshoot": (lo, hi)}),
                            np.random.default_rng(0))
        for a, b in zip(s.strokes, clean):
            assert _length([a]) == pytest.approx((1 + 2 * lo) * _length([b]), rel=1e-6)


def test_degradations_move_lines_but_keep_them_near():
    chair = _box_chair()
    s = simulate_sketch(chair, 30.0, 20.0, 2.5, SimulationSettings(**{**ZERO.to_dict(), "wobble": 1.2, "warp": 0.04}),
                        np.random.default_rng(0))
    clean = _segments_on(visible_feature_lines(chair, View(30.0, 20.0, 2.5), 256))
    pts = np.concatenate(s.strokes)
    d = np.min(np.linalg.norm(pts[:, None, :] - clean[None, ::4], axis=2), axis=1)
    assert d.mean() > 0.5  # visibly moved
    assert d.max() < 0.04 * 256 * 2 + 5  # but no further than warp + wobble allow


# ----------------------------------------------------------------------------- demo set


def _shapes(tmp_path: Path) -> pd.DataFrame:
    rows = []
    for i, (cat, mesh) in enumerate([("chair", _box_chair()), ("chair", _box_chair(back_h=0.2)),
                                     ("lamp", trimesh.creation.cylinder(radius=0.1, height=0.9, sections=16))]):
        path = tmp_path / "meshes" / f"{cat}_{i}.obj"
        path.parent.mkdir(parents=True, exist_ok=True)
        mesh.export(path)
        rows.append({"shape_id": f"{cat}_{i:04d}", "category": cat, "split": ["train", "test", "val"][i],
                     "mesh_path": str(path), "up_axis": "Y", "source": "test"})
    return pd.DataFrame(rows, columns=SHAPE_COLUMNS)


def test_build_demo_sketches_writes_files_and_table(tmp_path):
    shapes = _shapes(tmp_path)
    azimuths = {"chair": [0, 30, 75], "lamp": [0, 45, 90]}
    table = build_demo_sketches(shapes, azimuths, 20.0, 2.5, SimulationSettings(), 0, tmp_path / "sk")
    assert list(table.columns) == SKETCH_COLUMNS
    assert table["sketch_id"].tolist() == ["chair_0000_az000", "chair_0000_az030", "chair_0000_az075",
                                           "chair_0001_az000", "chair_0001_az030", "chair_0001_az075",
                                           "lamp_0002_az000", "lamp_0002_az045", "lamp_0002_az090"]
    assert table["split"].tolist() == ["train"] * 3 + ["test"] * 3 + ["val"] * 3
    assert table["azimuth"].tolist() == [0, 30, 75, 0, 30, 75, 0, 45, 90]
    assert set(table["source"]) == {"simulated"}
    assert Path(table["path"][0]) == tmp_path / "sk" / "chair" / "chair_0000_az000.json"
    s = load_sketch(table["path"][7])
    assert s.meta["sketch_id"] == "lamp_0002_az045" and s.meta["view"]["azimuth"] == 45.0

    # a sketch depends on (seed, sketch_id) only: building a subset in another order gives the same file
    sub = build_demo_sketches(shapes.iloc[[2, 1]], azimuths, 20.0, 2.5, SimulationSettings(), 0, tmp_path / "sub")
    for sid in ("lamp_0002_az090", "chair_0001_az030"):
        a = json.loads(Path(table.set_index("sketch_id").loc[sid, "path"]).read_text())
        b = json.loads(Path(sub.set_index("sketch_id").loc[sid, "path"]).read_text())
        assert a == b
    other = build_demo_sketches(shapes.iloc[[0]], azimuths, 20.0, 2.5, SimulationSettings(), 1, tmp_path / "s1")
    assert load_sketch(other["path"][0]).meta["drawn_view"] != load_sketch(table["path"][0]).meta["drawn_view"]


def test_build_demo_sketches_errors(tmp_path):
    shapes = _shapes(tmp_path)
    with pytest.raises(ValueError, match=r"no sketch azimuths for categories \['lamp'\]"):
        build_demo_sketches(shapes, {"chair": [0]}, 20.0, 2.5, SimulationSettings(), 0, tmp_path / "x")
    with pytest.raises(ValueError, match="lacks columns"):
        build_demo_sketches(shapes.drop(columns=["up_axis"]), {"chair": [0], "lamp": [0]}, 20.0, 2.5,
                            SimulationSettings(), 0, tmp_path / "x")
    bad = shapes.copy()
    bad.loc[0, "mesh_path"] = str(tmp_path / "missing.obj")
    with pytest.raises(FileNotFoundError, match="missing.obj"):
        build_demo_sketches(bad, {"chair": [0], "lamp": [0]}, 20.0, 2.5, SimulationSettings(), 0, tmp_path / "x")


def test_sketch_rng_is_stable_and_id_dependent():
    a = sketch_rng(0, "chair_0001_az030").random(3)
    np.testing.assert_array_equal(a, sketch_rng(0, "chair_0001_az030").random(3))
    assert not np.array_equal(a, sketch_rng(0, "chair_0001_az075").random(3))
    assert not np.array_equal(a, sketch_rng(1, "chair_0001_az030").random(3))


def test_load_yup_mesh_converts_z_up(tmp_path):
    mesh = _box([0.1, 0.2, 0.3])
    path = tmp_path / "m.obj"
    mesh.export(path)
    np.testing.assert_allclose(load_yup_mesh(path, "Y").extents, [0.1, 0.2, 0.3])
    np.testing.assert_allclose(load_yup_mesh(path, "Z").extents, [0.1, 0.3, 0.2])
    with pytest.raises(ValueError, match="up_axis must be 'Y' or 'Z'"):
        load_yup_mesh(path, "X")


def test_mesh_behind_the_camera_cannot_be_sketched():
    behind = _box([0.5, 0.5, 0.5], [0, 0, 3.0])
    with pytest.raises(ValueError, match="no visible lines"):
        simulate_sketch(behind, 0.0, 0.0, 2.5, ZERO, np.random.default_rng(0))


def test_visible_feature_lines_is_re_exported():
    assert simulate.visible_feature_lines is visible_lines.visible_feature_lines
