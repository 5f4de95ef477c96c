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


# ----------------------------------------------------------------------------- the field's scores, brute force


def _brute(pp, pn, gp, gn, size, thresholds=(0.01, 0.02)):
    """Every pairwise distance written out (numpy broadcasting), no KD-tree: the definitions of
    shape_metrics.surface_scores computed independently."""
    d = np.sqrt(((pp[:, None, :] - gp[None, :, :]) ** 2).sum(-1)) / size  # [P, G]
    acc, comp = d.min(1), d.min(0)
    j, i = d.argmin(1), d.argmin(0)
    cos = lambda a, b: np.abs((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1))
    out = {"chamfer_l1": 1000 * (acc.mean() + comp.mean()) / 2, "chamfer_l2": 1000 * ((acc ** 2).mean() + (comp ** 2).mean()) / 2,
           "normal_consistency": (cos(pn, gn[j]).mean() + cos(gn, pn[i]).mean()) / 2}
    for t in thresholds:
        p, r = (acc < t).mean(), (comp < t).mean()
        out[f"f{round(t * 100)}"] = 0.0 if p + r == 0 else 2 * p * r / (p + r)
    return out


def test_surface_scores_against_brute_force():
    from sketch3d.reconstruction.shape_metrics import surface_scores

    rng = np.random.default_rng(3)
    gp = rng.uniform(-0.3, 0.3, (300, 3)) * [1.0, 0.5, 0.25]  # largest side ~0.6, along x
    pp = gp[:250] + rng.normal(0, 0.006, (250, 3))  # near the target, part of it missing
    pn, gn = rng.normal(size=(250, 3)), rng.normal(size=(300, 3))
    size = float(np.max(gp.max(0) - gp.min(0)))
    got, want = surface_scores(pp, pn, gp, gn), _brute(pp, pn, gp, gn, size)
    assert got["size"] == pytest.approx(size)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert 0 < got["f1"] < got["f2"] <= 1  # a threshold that decides: neither all nor none of the points


def test_surface_scores_of_a_shape_against_itself_and_a_shrunken_copy():
    from sketch3d.reconstruction.shape_metrics import sample_with_normals, surface_scores

    box = trimesh.creation.box([0.8, 0.4, 0.2])
    p, n = sample_with_normals(box, 2000, 0)
    same = surface_scores(p, n, p, n)
    assert same["chamfer_l1"] == 0 and same["f1"] == 1 and same["normal_consistency"] == pytest.approx(1)
    assert same["size"] == pytest.approx(0.8, abs=1e-3)
    # the yardstick is the target's: a copy scaled by 0.5 is farther, in units of the target's side 0.8
    q, m = sample_with_normals(box.copy().apply_scale(0.5), 2000, 1)
    shrunk = surface_scores(q, m, p, n)
    assert shrunk["size"] == pytest.approx(0.8, abs=1e-3)
    assert shrunk["f2"] < 0.2 and shrunk["chamfer_l1"] > 50  # distances of ~0.05-0.2 of the side
    # normals' orientation does not count (a marching-cubes mesh may face either way): |cosine|
    assert surface_scores(p, -n, p, n)["normal_consistency"] == pytest.approx(1)


def test_surface_scores_refuse_malformed_points():
    from sketch3d.reconstruction.shape_metrics import surface_scores

    p = np.zeros((4, 3))
    with pytest.raises(MetricError, match="span no volume"):
        surface_scores(p, p + 1, p, p + 1)
    with pytest.raises(MetricError, match="one normal per point"):
        surface_scores(np.eye(3), np.eye(3)[:2], np.eye(3), np.eye(3))
