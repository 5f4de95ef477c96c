"""Chamfer distance and volumetric IoU against exact values.

Chamfer of concentric spheres (radii 0.5, 0.4) is 0.1 exactly; measured to the other surface it is within
0.002 (the icospheres' facets sag by < 0.001); between samples (2000 a side, spacing ~0.02) it is biased
upwards by a fraction of the spacing (measured 0.1019): within 0.005. IoU on a 96^3 grid over [-1, 1]^3
(step 0.021) is within 1 % of the exact lens ratio; boxes whose faces lie midway between grid planes
are counted exactly.
"""
import math

import numpy as np
import pytest
import trimesh

from sketch3d.geometry.meshing import grid_points
from sketch3d.reconstruction.shape_metrics import MetricError, chamfer_distance, volumetric_iou


@pytest.fixture(scope="module")
def spheres():
    return trimesh.creation.icosphere(4, 0.5), trimesh.creation.icosphere(4, 0.4)


def test_chamfer_identical_meshes_is_zero(spheres):
    a, _ = spheres
    assert chamfer_distance(a, a.copy(), 2000, 0) == 0.0
    assert chamfer_distance(a, a.copy(), 500, 1, to_surface=True) < 1e-9


def test_chamfer_concentric_spheres_is_the_radius_difference(spheres):
    a, b = spheres
    assert chamfer_distance(a, b, 500, 0, to_surface=True) == pytest.approx(0.1, abs=2e-3)
    assert chamfer_distance(a, b, 2000, 0) == pytest.approx(0.1, abs=5e-3)
    assert chamfer_distance(a, b, 2000, 0) == chamfer_distance(b, a, 2000, 0)  # symmetric
    assert chamfer_distance(a, b, 2000, 0, squared=True) == pytest.approx(0.01, rel=0.1)


def test_chamfer_is_reproducible_from_the_seed(spheres):
    a, b = spheres
    moved = b.copy()
    moved.apply_translation([0.05, 0.0, 0.0])
    assert chamfer_distance(a, moved, 300, 7) == chamfer_distance(a, moved, 300, 7)
    assert chamfer_distance(a, moved, 300, 7) != chamfer_distance(a, moved, 300, 8)


def lens_volume(r1, r2, d):
    return math.pi * (r1 + r2 - d) ** 2 * (d * d + 2 * d * r2 - 3 * r2 * r2 + 2 * d * r1 + 6 * r1 * r2 - 3 * r1 * r1) / (12 * d)


def test_iou_of_two_spheres():
    res, r1, r2, d = 96, 0.5, 0.4, 0.3
    p = grid_points(res)
    a = (np.linalg.norm(p, axis=1) - r1).reshape(res, res, res)
    b = (np.linalg.norm(p - [d, 0, 0], axis=1) - r2).reshape(res, res, res)
    inter = lens_volume(r1, r2, d)
    exact = inter / (4 / 3 * math.pi * (r1 ** 3 + r2 ** 3) - inter)
    assert volumetric_iou(a, b) == pytest.approx(exact, rel=0.01)
    assert volumetric_iou(a, a) == 1.0


def test_iou_of_two_boxes():
    # grid step 0.025; every face midway between two grid planes, so counting grid points is exact
    res = 81
    p = grid_points(res)

    def box(centre, half):
        q = np.abs(p - centre) - half
        return (np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(axis=1), 0)).reshape(res, res, res)

    ha, hb, shift = np.array([0.5125, 0.3125, 0.4125]), np.array([0.3125] * 3), np.array([0.4, 0.1, 0.0])
    a, b = box(np.zeros(3), ha), box(shift, hb)
    overlap = np.prod(np.clip(np.minimum(ha, shift + hb) - np.maximum(-ha, shift - hb), 0, None))
    exact = overlap / (8 * ha.prod() + 8 * hb.prod() - overlap)
    assert volumetric_iou(a, b) == pytest.approx(exact, rel=1e-9)
    far = box(np.array([2.0, 0, 0]), hb)  # outside the grid: empty
    assert volumetric_iou(a, far) == 0.0
    assert volumetric_iou(far, far) == 1.0


def test_bad_inputs_raise(spheres):
    with pytest.raises(MetricError, match="same grid"):
        volumetric_iou(np.zeros((4, 4, 4)), np.zeros((5, 5, 5)))
    with pytest.raises(MetricError, match="NaN"):
        volumetric_iou(np.full((2, 2, 2), np.nan), np.zeros((2, 2, 2)))
    with pytest.raises(MetricError, match="trimesh"):
        chamfer_distance(np.zeros((3, 3)), spheres[0])
    with pytest.raises(MetricError, match="n_points"):
        chamfer_distance(spheres[0], spheres[1], 0)
