"""How close a reconstructed shape is to its target: Chamfer distance between surfaces, volumetric IoU.

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
