"""How close a reconstructed shape is to its target: Chamfer distance between surfaces, volumetric IoU, and
(:func:`surface_scores`, below) the scores the field prints: Chamfer-L1/L2 x10^3, F-score at 1 %/2 % of the
target's largest side, normal consistency (the chapter's table uses these; definitions and sources there).

The thesis (4.3.3) shows its inversions as figures only and reports no number; these two scores are the
usual ones of SDF-StyleGAN's and other shape papers' evaluations, with the definitions stated here.

- Chamfer distance (:func:`chamfer_distance`): ``n_points`` points are sampled uniformly on each surface
  (area-weighted, seeded, the same stream for both); CD = (mean over a in A of min_b |a - b| + mean over b in B of min_a |b - a|) / 2,
  the mean of the two directed mean distances, in the meshes' units (the mesh frame: bounding-box diagonal
  1). Two surfaces at a constant offset d (concentric spheres) score d. ``squared=True`` averages squared
  distances instead (the "L2" Chamfer of point-cloud papers); ``to_surface=True`` measures each sample's
  exact distance to the other *surface* (not to its samples), which removes the sampling bias (slower).
- Volumetric IoU (:func:`volumetric_iou`): two SDF grids sampled at the same points (the generator's cube
  grid); a point is inside where SDF < ``level``; IoU = |inside A and inside B| / |inside A or inside B|,
  every grid point standing for an equal cell.
"""
from __future__ import annotations

import numpy as np
import trimesh
from scipy.spatial import cKDTree


class MetricError(ValueError):
    """Malformed input to a shape metric."""


def _check_mesh(mesh, name: str) -> trimesh.Trimesh:
    if not isinstance(mesh, trimesh.Trimesh):
        raise MetricError(f"{name} must be a trimesh.Trimesh (trimesh.load(path, force='mesh')), got "
                          f"{type(mesh).__name__}")
    if len(mesh.faces) == 0 or not mesh.area > 0:
        raise MetricError(f"{name} has no surface (no faces or zero area): nothing to sample")
    return mesh


def sample_surface(mesh: trimesh.Trimesh, n_points: int, seed: int | np.random.Generator) -> np.ndarray:
    """``n_points`` points uniform on the surface (area-weighted), reproducible from ``seed``."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(int(seed))
    points, _faces = trimesh.sample.sample_surface(mesh, int(n_points), seed=rng)
    return np.asarray(points, dtype=np.float64)


def chamfer_distance(mesh_a: trimesh.Trimesh, mesh_b: trimesh.Trimesh, n_points: int = 10000,
                     seed: int | np.random.Generator = 0, *, squared: bool = False,
                     to_surface: bool = False) -> float:
    """Symmetric Chamfer distance between two meshes' surfaces (definition in the module docstring).

    n_points: samples per surface (10000; params ``reconstruction.scores.points``).
    seed: a seed (or a numpy Generator, which draws one); each surface is sampled from a fresh stream of it,
      so identical meshes score exactly 0.
    squared: average squared distances (then the result is in squared units).
    to_surface: distances from each sample to the other mesh's surface (``trimesh.proximity``), exact.
    """
    a, b = _check_mesh(mesh_a, "mesh_a"), _check_mesh(mesh_b, "mesh_b")
    if int(n_points) != n_points or n_points < 1:
        raise MetricError(f"n_points must be a positive integer, got {n_points!r}")
    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(2 ** 63))
    # both surfaces sampled from the same stream: identical meshes get identical samples (distance 0)
    pa, pb = sample_surface(a, n_points, seed), sample_surface(b, n_points, seed)
    if to_surface:
        d_ab = trimesh.proximity.closest_point(b, pa)[1]
        d_ba = trimesh.proximity.closest_point(a, pb)[1]
    else:
        d_ab = cKDTree(pb).query(pa)[0]
        d_ba = cKDTree(pa).query(pb)[0]
    if squared:
        d_ab, d_ba = d_ab ** 2, d_ba ** 2
    return float((np.mean(d_ab) + np.mean(d_ba)) / 2.0)


def volumetric_iou(sdf_a, sdf_b, level: float = 0.0) -> float:
    """Intersection over union of the insides (SDF < ``level``) of two SDF grids of the same shape.

    Both grids must sample the same points (e.g. the generator's cube grid, ``sketch3d.geometry.sdf``);
    1.0 when both are empty (identical shapes).
    """
    a, b = np.asarray(sdf_a), np.asarray(sdf_b)
    if a.shape != b.shape:
        raise MetricError(f"SDF grids differ in shape: {a.shape} vs {b.shape}; sample both on the same grid")
    if a.size == 0:
        raise MetricError("SDF grids are empty")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise MetricError("SDF grids hold NaN or infinite values")
    ia, ib = a < level, b < level
    union = int(np.count_nonzero(ia | ib))
    if union == 0:
        return 1.0
    return float(np.count_nonzero(ia & ib) / union)


# ----------------------------------------------------------------------------- the scores the field uses
# Occupancy Networks (Mescheder et al. 2019, ``im2mesh/eval.py``) and the papers after it score a reconstruction by
# its surface samples against the ground truth's: Chamfer-L1 = (accuracy + completeness) / 2 with accuracy the mean
# distance of the reconstruction's samples to the nearest ground-truth sample and completeness the reverse;
# Chamfer-L2 the same with squared distances; normal consistency = the mean |cosine| between each sample's normal
# and its nearest sample's normal, both directions averaged; F-score at threshold t (Tatarchenko et al. 2019,
# "What do single-view 3D reconstruction networks learn?"): precision = share of the reconstruction's samples
# within t of the ground truth's, recall = the reverse, F = 2PR / (P + R).
#
# The shape's size. Distances are divided by the TARGET's largest bounding-box side (so the target spans 1 along
# its largest side), and the F-score thresholds are 1 % and 2 % of that side: SDF-StyleGAN's training data are
# normalised by exactly this size (largest side 1.6 in its cube), Occupancy Networks' ShapeNet by the same
# (largest side 1), and Tatarchenko et al. take 1 % of the side of the shape's volume. The target's size, not
# the reconstruction's: a shrunken reconstruction must not shrink its own yardstick.
# Chamfer is printed x 10^3 (as DeepSDF's and SDF-StyleGAN's tables print it); F-scores and normal
# consistency as fractions in [0, 1].

F_THRESHOLDS = (0.01, 0.02)  # fractions of the target's largest side


def sample_with_normals(mesh: trimesh.Trimesh, n_points: int, seed: int | np.random.Generator):
    """``n_points`` points uniform on the surface and the unit normals of the faces they lie on."""
    _check_mesh(mesh, "mesh")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(int(seed))
    points, faces = trimesh.sample.sample_surface(mesh, int(n_points), seed=rng)
    return np.asarray(points, dtype=np.float64), np.asarray(mesh.face_normals[faces], dtype=np.float64)


def largest_side(points) -> float:
    """The largest side of the axis-aligned bounding box of ``points`` [N, 3]."""
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or len(p) == 0:
        raise MetricError(f"points must have shape [N, 3] with N > 0, got {p.shape}")
    side = float(np.max(p.max(axis=0) - p.min(axis=0)))
    if not side > 0:
        raise MetricError("the target's points span no volume (largest side 0): no size to measure against")
    return side


def surface_scores(pred_points, pred_normals, gt_points, gt_normals, size: float | None = None,
                   thresholds=F_THRESHOLDS) -> dict:
    """The field's surface scores of a reconstruction's samples (``pred``) against the target's (``gt``).

    size: the yardstick (default: the largest bounding-box side of ``gt_points``). Returns ``chamfer_l1`` and
    ``chamfer_l2`` (x 10^3, distances in units of ``size``), ``normal_consistency`` and ``f1``, ``f2``, ... (the
    F-score at each threshold, named by its percentage of ``size``), and ``size``.
    """
    pp, gp = np.asarray(pred_points, dtype=np.float64), np.asarray(gt_points, dtype=np.float64)
    pn, gn = np.asarray(pred_normals, dtype=np.float64), np.asarray(gt_normals, dtype=np.float64)
    for name, a in (("pred_points", pp), ("gt_points", gp), ("pred_normals", pn), ("gt_normals", gn)):
        if a.ndim != 2 or a.shape[1] != 3 or len(a) == 0:
            raise MetricError(f"{name} must have shape [N, 3] with N > 0, got {a.shape}")
    if pn.shape != pp.shape or gn.shape != gp.shape:
        raise MetricError("each point set needs one normal per point")
    size = largest_side(gp) if size is None else float(size)
    d_pg, i_pg = cKDTree(gp).query(pp)  # accuracy side: reconstruction -> target
    d_gp, i_gp = cKDTree(pp).query(gp)  # completeness side: target -> reconstruction
    d_pg, d_gp = d_pg / size, d_gp / size

    def unit(n):
        return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)

    pn, gn = unit(pn), unit(gn)
    nc = (np.mean(np.abs(np.sum(pn * gn[i_pg], axis=1))) + np.mean(np.abs(np.sum(gn * pn[i_gp], axis=1)))) / 2
    out = {"chamfer_l1": 1e3 * float(np.mean(d_pg) + np.mean(d_gp)) / 2,
           "chamfer_l2": 1e3 * float(np.mean(d_pg ** 2) + np.mean(d_gp ** 2)) / 2,
           "normal_consistency": float(nc), "size": size}
    for t in thresholds:
        precision, recall = float(np.mean(d_pg < t)), float(np.mean(d_gp < t))
        out[f"f{round(t * 100):d}"] = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return out
