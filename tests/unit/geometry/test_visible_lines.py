"""Visible feature lines of meshes: hidden-line removal, feature edges, chaining."""
from __future__ import annotations


import numpy as np
import pytest
import trimesh

from sketch3d.geometry.camera import View
from sketch3d.geometry.visible_lines import visible_feature_lines
from _helpers import _box, _length, _segments_on


def _dist_to_segment(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = b - a
    t = np.clip(((p - a) @ d) / (d @ d), 0, 1)
    return np.linalg.norm(p - (a + t[:, None] * d), axis=1)


def test_cube_front_view_is_the_square_outline_only():
    cube = _box([0.5, 0.5, 0.5])
    view = View(0.0, 0.0, 2.5)
    lines = visible_feature_lines(cube, view, 256)
    corners, _ = view.project(np.array([[x, y, 0.25] for x in (-0.25, 0.25) for y in (-0.25, 0.25)]), 256)
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    assert len(lines) == 4  # four straight edges; 90 degree corners are not chained
    pts = np.concatenate(lines)
    # every endpoint is a front corner, every corner is used twice
    d = np.linalg.norm(pts[:, None, :] - corners[None], axis=2)
    assert d.min(axis=1).max() < 1e-6
    np.testing.assert_array_equal(np.sort((d < 1e-6).sum(axis=0)), [2, 2, 2, 2])
    # nothing inside the square: the back face's edges and the receding edges are hidden
    dense = _segments_on(lines)
    on_border = np.minimum.reduce([np.abs(dense[:, 0] - lo[0]), np.abs(dense[:, 0] - hi[0]),
                                   np.abs(dense[:, 1] - lo[1]), np.abs(dense[:, 1] - hi[1])])
    assert on_border.max() < 1e-6
    assert _length(lines) == pytest.approx(4 * (hi[0] - lo[0]), rel=1e-9)


def test_cube_three_quarter_view_hides_the_far_corner():
    h = 0.25
    cube = _box([2 * h] * 3)
    view = View(30.0, 20.0, 2.5)
    lines = visible_feature_lines(cube, view, 256)
    verts = np.array([[x, y, z] for x in (-h, h) for y in (-h, h) for z in (-h, h)])
    uv, _ = view.project(verts, 256)
    far = uv[0]  # (-h, -h, -h) faces away from a camera at +x, +y, +z
    dense = _segments_on(lines)
    assert np.linalg.norm(dense - far, axis=1).min() > 5.0
    # the nine visible edges are those not touching the far corner
    visible_edges = [(i, j) for i in range(8) for j in range(i + 1, 8)
                     if np.sum(verts[i] != verts[j]) == 1 and 0 not in (i, j)]
    assert len(visible_edges) == 9
    expected = sum(np.linalg.norm(uv[i] - uv[j]) for i, j in visible_edges)
    assert _length(lines) == pytest.approx(expected, rel=1e-6)
    for i, j in visible_edges:  # each visible edge is covered by the drawing
        mid = (uv[i] + uv[j]) / 2
        assert min(_dist_to_segment(mid[None], a, b)[0] for l in lines for a, b in zip(l[:-1], l[1:])) < 1e-6


def test_occluder_hides_and_clips_lines_behind_it():
    front = _box([0.4, 0.4, 0.1], [0, 0, 0.3])
    view = View(0.0, 0.0, 2.5)
    # a small box fully behind the big one: only the big square remains
    hidden = trimesh.util.concatenate([front, _box([0.1, 0.1, 0.1], [0, 0, -0.2])])
    np.testing.assert_allclose(_length(visible_feature_lines(hidden, view, 256)),
                               _length(visible_feature_lines(front, view, 256)), rtol=1e-9)
    # a wide bar behind it sticks out left and right: its lines stop at the big square's sides
    bar = _box([1.0, 0.1, 0.1], [0, 0, -0.2])
    lines = visible_feature_lines(trimesh.util.concatenate([front, bar]), view, 256)
    square, _ = view.project(np.array([[-0.2, -0.2, 0.35], [0.2, 0.2, 0.35]]), 256)
    dense = _segments_on(lines)
    inside = ((dense[:, 0] > square[0, 0] + 1.5) & (dense[:, 0] < square[1, 0] - 1.5)
              & (dense[:, 1] < square[0, 1] - 1.5) & (dense[:, 1] > square[1, 1] + 1.5))
    assert not inside.any()
    bar_uv, _ = view.project(np.array([[-0.5, 0.05, -0.15], [0.5, 0.05, -0.15]]), 256)
    visible_bar = 2 * (square[0, 0] - bar_uv[0, 0])  # the top edge of the bar, both visible pieces
    assert _length(lines) > _length(visible_feature_lines(front, view, 256)) + 2 * visible_bar


def test_open_mesh_boundary_edges_are_lines():
    quad = trimesh.Trimesh(vertices=[[-0.3, -0.3, 0], [0.3, -0.3, 0], [0.3, 0.3, 0], [-0.3, 0.3, 0]],
                           faces=[[0, 1, 2], [0, 2, 3]])
    view = View(20.0, 10.0, 2.5)
    uv, _ = view.project(quad.vertices, 256)
    expected = sum(np.linalg.norm(uv[i] - uv[(i + 1) % 4]) for i in range(4))
    assert _length(visible_feature_lines(quad, view, 256)) == pytest.approx(expected, rel=1e-6)


def test_curved_silhouettes_chain_into_long_strokes():
    cyl = trimesh.creation.cylinder(radius=0.3, height=0.8, sections=32)
    lines = visible_feature_lines(cyl, View(75.0, 20.0, 2.5), 256)
    assert len(lines) <= 6  # two rims and two side lines, not dozens of pieces
    assert max(len(l) for l in lines) >= 16


def test_feature_lines_of_a_few_thousand_faces_stay_in_the_image():
    # (not timed: a timed assert fails on a loaded machine)
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=0.5)  # 5120 faces
    lines = visible_feature_lines(sphere, View(30.0, 20.0, 2.5), 256)
    assert lines
    points = np.concatenate([np.asarray(l, dtype=float).reshape(-1, 2) for l in lines])
    assert points.min() >= 0 and points.max() <= 256


def test_mesh_behind_the_camera_has_no_lines():
    behind = _box([0.5, 0.5, 0.5], [0, 0, 3.0])
    assert visible_feature_lines(behind, View(0.0, 0.0, 2.5), 256) == []
