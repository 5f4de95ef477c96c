"""Procedural chairs and lamps: parameters, normalisation, orientation, determinism, validation."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
import trimesh

from sketch3d.data.procedural import (
    CATEGORIES,
    PARAM_SPECS,
    Choice,
    build_shape,
    normalise_like_shapenet,
    sample_shape_params,
    vary_shape_params,
)

CHAIR_FULL = {  # every chair parameter but pedestal_arms is active here
    "seat_shape": "rounded", "seat_width": 0.5, "seat_depth": 0.45, "seat_height": 0.45,
    "seat_thickness": 0.05, "seat_corner": 0.5, "leg_type": "splayed", "leg_thickness": 0.04,
    "leg_inset": 0.1, "leg_splay": 0.15, "stretcher": True, "stretcher_height": 0.3,
    "pedestal_arms": 5, "back_type": "slats", "back_height": 0.45, "back_width": 0.85,
    "back_thickness": 0.04, "back_tilt": 10.0, "back_count": 4, "arm_type": "rails",
    "arm_height": 0.2, "arm_thickness": 0.05,
}
CHAIR_PEDESTAL = {**CHAIR_FULL, "leg_type": "pedestal"}
LAMP_FULL = {  # every lamp parameter is active here
    "lamp_type": "floor", "base_type": "tripod", "base_size": 1.0, "base_thickness": 0.2,
    "stem_type": "bent", "stem_height": 1.0, "stem_thickness": 1.0, "stem_joint": 0.6,
    "stem_bend": 45.0, "stem_heading": 0.0, "shade_type": "cone", "shade_size": 1.0,
    "shade_height": 1.0, "shade_tilt": 20.0, "second_arm": True, "second_arm_height": 0.6,
}
BASES = {"chair": [CHAIR_FULL, CHAIR_PEDESTAL], "lamp": [LAMP_FULL]}


def _same(a: trimesh.Trimesh, b: trimesh.Trimesh) -> bool:
    same_topology = a.vertices.shape == b.vertices.shape and np.array_equal(a.faces, b.faces)
    return same_topology and np.allclose(a.vertices, b.vertices)


def _other_value(spec, value):
    if isinstance(spec, Choice):
        return next(v for v in spec.values if v != value)
    if spec.integer:
        return int(spec.lo) if value != spec.lo else int(spec.hi)
    return spec.hi if abs(value - spec.hi) > 1e-6 else spec.lo


@pytest.mark.parametrize("category", CATEGORIES)
def test_sampled_params_are_json_and_complete(category):
    p = sample_shape_params(category, np.random.default_rng(3))
    assert set(p) == set(PARAM_SPECS[category])
    assert len(p) >= 10
    assert json.loads(json.dumps(p)) == p


@pytest.mark.parametrize("category", CATEGORIES)
def test_normalised_like_shapenet_and_small(category):
    rng = np.random.default_rng(11)
    for _ in range(25):
        m = build_shape(category, sample_shape_params(category, rng))
        lo, hi = m.vertices.min(0), m.vertices.max(0)
        assert abs(np.linalg.norm(hi - lo) - 1.0) < 1e-6
        np.testing.assert_allclose((lo + hi) / 2, 0.0, atol=1e-9)
        assert 0 < len(m.faces) < 3000


def test_normalise_against_hand_computation():
    box = trimesh.creation.box(bounds=[[1.0, 2.0, 3.0], [3.0, 6.0, 7.0]])  # extents 2, 4, 4: diagonal 6
    out = normalise_like_shapenet(box)
    np.testing.assert_allclose(out.vertices, (box.vertices - [2.0, 4.0, 5.0]) / 6.0)
    assert np.array_equal(box.vertices.min(0), [1.0, 2.0, 3.0])  # input untouched
    with pytest.raises(ValueError, match="single point"):
        normalise_like_shapenet(trimesh.Trimesh(vertices=[[1.0, 1, 1]] * 3, faces=[[0, 1, 2]], process=False))


def test_chair_back_is_at_minus_z_and_seat_mid_height():
    rng = np.random.default_rng(5)
    checked = 0
    for _ in range(40):
        p = sample_shape_params("chair", rng)
        if p["back_type"] == "none":
            continue
        v = build_shape("chair", p).vertices
        top = v[v[:, 1] > v[:, 1].max() - 0.02]
        assert (top[:, 2] < 0).all(), p
        checked += 1
    assert checked > 20


def test_chair_seat_height_against_hand_computation():
    p = {**CHAIR_FULL, "seat_shape": "box", "leg_type": "straight", "stretcher": False, "back_type": "panel",
         "back_tilt": 0.0, "arm_type": "none", "leg_inset": 0.0}
    v = build_shape("chair", p).vertices
    height = p["seat_height"] + p["back_height"]
    depth = p["seat_depth"]
    diagonal = np.sqrt(height**2 + p["seat_width"] ** 2 + depth**2)
    seat_top = (p["seat_height"] - height / 2) / diagonal
    assert abs(v[:, 1].max() - v[:, 1].min() - height / diagonal) < 1e-9
    front = v[np.isclose(v[:, 2], v[:, 2].max())]  # seat front edge at +Z
    assert np.isclose(front[:, 1].max(), seat_top)
    assert -0.25 < seat_top / (height / diagonal) < 0.25  # roughly at mid-height
    assert np.isclose(v[:, 2].min(), -depth / 2 / diagonal)  # back panel flush with the seat's back edge


def test_lamp_heading_zero_reaches_to_front():
    v = build_shape("lamp", {**LAMP_FULL, "second_arm": False, "base_type": "disc"}).vertices
    base = v[v[:, 1] < v[:, 1].min() + 1e-6]  # the disc's bottom face
    base_centre = (base.min(0) + base.max(0)) / 2
    upper = v[v[:, 1] > 0.1]
    assert upper[:, 2].max() - base_centre[2] > 0.3  # bent arm and shade reach towards +Z
    assert upper[:, 2].min() - base_centre[2] > -0.05  # ... and nothing reaches back
    assert abs(upper[:, 0].mean() - base_centre[0]) < 0.02


@pytest.mark.parametrize("category", CATEGORIES)
def test_deterministic_and_seed_dependent(category):
    a = sample_shape_params(category, np.random.default_rng(7))
    b = sample_shape_params(category, np.random.default_rng(7))
    c = sample_shape_params(category, np.random.default_rng(8))
    assert a == b and a != c
    assert _same(build_shape(category, a), build_shape(category, b))
    assert not _same(build_shape(category, a), build_shape(category, c))


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_parameter_changes_the_mesh(category):
    for name, spec in PARAM_SPECS[category].items():
        changed = []
        for base in BASES[category]:
            ref = build_shape(category, base)
            other = build_shape(category, {**base, name: _other_value(spec, base[name])})
            changed.append(not _same(ref, other))
        assert any(changed), f"{category} parameter {name} has no effect"


def test_inactive_parameter_has_no_effect():
    straight = {**CHAIR_FULL, "leg_type": "straight"}
    assert _same(build_shape("chair", straight), build_shape("chair", {**straight, "leg_splay": 0.25}))


@pytest.mark.parametrize("category", CATEGORIES)
def test_variants_are_close_and_keep_the_type(category):
    specs = PARAM_SPECS[category]
    rng = np.random.default_rng(2)
    proto = sample_shape_params(category, rng)

    def dist(a, b):
        return sum(abs(a[k] - b[k]) / (s.hi - s.lo) for k, s in specs.items() if not isinstance(s, Choice))

    near, far = [], []
    for _ in range(20):
        v = vary_shape_params(category, proto, rng)
        assert all(v[k] == proto[k] for k, s in specs.items() if isinstance(s, Choice) and s.major)
        build_shape(category, v)  # valid
        near.append(dist(proto, v))
        far.append(dist(proto, sample_shape_params(category, rng)))
    assert 0 < np.mean(near) < 0.5 * np.mean(far)


def test_bad_params_name_the_key():
    with pytest.raises(ValueError, match="missing key.*seat_width"):
        build_shape("chair", {k: v for k, v in CHAIR_FULL.items() if k != "seat_width"})
    with pytest.raises(ValueError, match="unknown key.*colour"):
        build_shape("chair", {**CHAIR_FULL, "colour": "red"})
    with pytest.raises(ValueError, match="'leg_type'.*'tentacles'"):
        build_shape("chair", {**CHAIR_FULL, "leg_type": "tentacles"})
    with pytest.raises(ValueError, match="'seat_height'.*outside"):
        build_shape("chair", {**CHAIR_FULL, "seat_height": 3.0})
    with pytest.raises(ValueError, match="'back_count'.*whole number"):
        build_shape("chair", {**CHAIR_FULL, "back_count": 2.5})
    with pytest.raises(ValueError, match="'second_arm'"):
        build_shape("lamp", {**LAMP_FULL, "second_arm": "yes"})
    with pytest.raises(ValueError, match="'stem_height'.*number"):
        build_shape("lamp", {**LAMP_FULL, "stem_height": "tall"})
    with pytest.raises(ValueError, match="unknown category 'sofa'"):
        build_shape("sofa", CHAIR_FULL)
    with pytest.raises(ValueError, match="unknown category"):
        sample_shape_params("table", np.random.default_rng(0))


@pytest.mark.parametrize("category", CATEGORIES)
def test_obj_round_trip_keeps_vertices(category):
    m = build_shape(category, sample_shape_params(category, np.random.default_rng(4)))
    text = trimesh.exchange.obj.export_obj(m, include_normals=False)
    back = trimesh.load(io.BytesIO(text.encode()), file_type="obj", process=False)
    assert len(back.vertices) == len(m.vertices) and len(back.faces) == len(m.faces)
    np.testing.assert_allclose(back.vertices, m.vertices, atol=1e-7)
