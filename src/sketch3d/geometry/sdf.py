"""Signed distances of meshes, and the one map between the pipeline's mesh frame and the SDF generator's cube.

Two frames:

- the MESH frame of the whole pipeline: Y up, front +Z, ShapeNetCore v2 normalisation (bounding-box centre at
  the origin, bounding-box diagonal 1; ``sketch3d.data.procedural.build.normalise_like_shapenet``);
- the CUBE frame of SDF-StyleGAN (Zheng et al. 2022): the generator's SDF is a function of points in
  [-1, 1]^3. Its training SDFs come from ShapeNetCore **v1** meshes (the DualOctreeGNN data pipeline it
  cites: ``tools/shapenet.py`` there), centred on their bounding box with the largest side scaled to
  [-0.8, 0.8], sampled on 128^3 grid points spanning [-1, 1].

``mesh_to_cube(p) = CUBE_SCALE * CUBE_ROTATION @ p`` is the fixed similarity between them:

- ``CUBE_ROTATION``: ShapeNetCore v1 is v2 turned by -90 degrees about Y (SDF-StyleGAN's
  ``utils/utils.py: shapenet_v2_to_v1_orientation``, scipy ``Rotation.from_euler('y', -90)``), so the
  v2 front (+Z) faces -X in the cube; Y stays up. A proper rotation (no mirror), so signs are kept.
- ``CUBE_SCALE = 2``: the official data scale each shape so its largest side spans 1.6; a fixed map
  cannot, so one mesh unit becomes 2 cube units. A typical chair (largest side ~0.72 of its unit
  bounding-box diagonal; the demo's chairs: 0.59-0.85) then spans ~1.44 of the cube, close to the
  official 1.6, and every shape whose largest side is under 1 mesh unit (all, with a unit diagonal)
  stays inside [-1, 1]^3.

Distances scale with the map: ``sdf_cube = CUBE_SCALE * sdf_mesh`` (:func:`sdf_mesh_to_cube`).

Grids follow the official ``get_voxel_coordinates``: ``grid[i, j, k]`` is the value at cube point
``(x_i, y_j, z_k)`` with ``x = y = z = linspace(-1, 1, R)`` (:func:`grid_points`, ``ij`` order).

Signs: inside negative. The sign is the generalised winding number (Jacobson et al. 2013), not ray
parity: the demo's procedural meshes are unions of closed, overlapping parts (a point inside two parts
has winding number 2, ray parity calls it outside), and ShapeNet meshes have small holes that the
winding number tolerates. On a grid, only points near the surface (and one point per connected region
away from it) need their winding number: the rest take the sign of their region (:func:`sdf_grid`).
Distances are to the mesh's faces: where closed parts overlap, the faces inside the union count too,
so values inside such a mesh can be smaller in magnitude than the union's true distance; the zero set
and the values outside are exact.
"""
from __future__ import annotations

import numpy as np
import trimesh
from scipy import ndimage
from scipy.spatial import cKDTree

CUBE_SCALE = 2.0
CUBE_ROTATION = np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # R_y(-90 deg): v2 -> v1

_POINT_CHUNK = 2048


def _as_points(points, what: str = "points") -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"{what} must have shape [N, 3], got {p.shape}")
    return p


def _rotate(points, matrix: np.ndarray):
    """``points @ matrix.T`` for numpy arrays or torch tensors (differentiable; torch imported lazily)."""
    if isinstance(points, np.ndarray):
        return points @ matrix.T
    import torch

    if isinstance(points, torch.Tensor):
        return points @ torch.as_tensor(matrix.T, dtype=points.dtype, device=points.device)
    return np.asarray(points, dtype=np.float64) @ matrix.T


def mesh_to_cube(points):
    """Points [..., 3] of the mesh frame -> the generator's cube frame (numpy or torch, differentiable)."""
    return _rotate(points, CUBE_ROTATION) * CUBE_SCALE


def cube_to_mesh(points):
    """Points [..., 3] of the generator's cube frame -> the mesh frame (inverse of :func:`mesh_to_cube`)."""
    return _rotate(points, CUBE_ROTATION.T) / CUBE_SCALE


def sdf_mesh_to_cube(values):
    """Signed distances in mesh units -> cube units."""
    return values * CUBE_SCALE


def sdf_cube_to_mesh(values):
    """Signed distances in cube units -> mesh units."""
    return values / CUBE_SCALE


def mesh_to_cube_mesh(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """A copy of ``mesh`` (mesh frame) moved into the cube frame."""
    out = mesh.copy()
    out.vertices = mesh_to_cube(np.asarray(mesh.vertices, dtype=np.float64))
    return out


def cube_to_mesh_mesh(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """A copy of ``mesh`` (cube frame, e.g. marching cubes of a generated SDF) moved into the mesh frame."""
    out = mesh.copy()
    out.vertices = cube_to_mesh(np.asarray(mesh.vertices, dtype=np.float64))
    return out


def grid_points(resolution: int) -> np.ndarray:
    """The [R^3, 3] cube points of an R^3 grid over [-1, 1]^3, ``ij`` order (x slowest, as the official code)."""
    if int(resolution) != resolution or resolution < 2:
        raise ValueError(f"grid resolution must be an integer >= 2, got {resolution!r}")
    axis = np.linspace(-1.0, 1.0, int(resolution))
    return np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)


def _check_mesh(mesh) -> trimesh.Trimesh:
    if not isinstance(mesh, trimesh.Trimesh):
        raise TypeError(f"expected a trimesh.Trimesh, got {type(mesh).__name__} (load with force='mesh')")
    if len(mesh.faces) == 0:
        raise ValueError("the mesh has no faces: no signed distance can be computed")
    return mesh


def _pair_distances(tris: np.ndarray, q: np.ndarray, pt_idx: np.ndarray, tri_idx: np.ndarray) -> np.ndarray:
    """Smallest exact distance per point of ``q`` over the (point, triangle) pairs given."""
    best = np.full(len(q), np.inf)
    for s in range(0, len(tri_idx), 1_000_000):
        ti, pi = tri_idx[s:s + 1_000_000], pt_idx[s:s + 1_000_000]
        closest = trimesh.triangles.closest_point(tris[ti], q[pi])
        np.minimum.at(best, pi, np.linalg.norm(closest - q[pi], axis=1))
    return best


def _split(mesh: trimesh.Trimesh, max_edge: float) -> tuple[np.ndarray, np.ndarray]:
    """The mesh's vertices and faces with every edge split to at most ``max_edge`` (same surface)."""
    vertices, faces = np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces)
    return trimesh.remesh.subdivide_to_size(vertices, faces, max_edge=max_edge, max_iter=40)


def unsigned_distance(mesh: trimesh.Trimesh, points, max_edge: float | None = None) -> np.ndarray:
    """Exact distance from each point [N, 3] to the mesh surface, [N] (the mesh's units).

    Long triangles are first split to edges of at most ``max_edge`` (default 1/16 of the mesh's largest
    side; the surface is unchanged), so every triangle lies within r of its centroid. A k-d tree of the
    centroids bounds each point's distance from above by its nearest centroid's distance u; every
    triangle whose centroid lies within u + r is a candidate, so no closer one is missed. The candidate
    sets grow with the distance: for many points far from the surface use :func:`sdf_grid`'s far field.
    Point-triangle distances: ``trimesh.triangles.closest_point``.
    """
    mesh = _check_mesh(mesh)
    p = _as_points(points)
    if max_edge is None:
        max_edge = (float(np.ptp(mesh.vertices, axis=0).max()) or 1.0) / 16.0
    vertices, faces = _split(mesh, max_edge)
    tris = vertices[faces]
    centroids = tris.mean(axis=1)
    radius = float(np.linalg.norm(tris - centroids[:, None], axis=-1).max())
    tree = cKDTree(centroids)
    out = np.empty(len(p))
    for start in range(0, len(p), _POINT_CHUNK):
        q = p[start:start + _POINT_CHUNK]
        bound, _ = tree.query(q)
        lists = tree.query_ball_point(q, bound + radius + 1e-12)
        counts = np.fromiter((len(c) for c in lists), dtype=np.int64, count=len(lists))
        tri_idx = np.fromiter((i for c in lists for i in c), dtype=np.int64, count=int(counts.sum()))
        pt_idx = np.repeat(np.arange(len(q)), counts)
        best = np.full(len(q), np.inf)
        for s in range(0, len(tri_idx), 1_000_000):
            ti, pi = tri_idx[s:s + 1_000_000], pt_idx[s:s + 1_000_000]
            closest = trimesh.triangles.closest_point(tris[ti], q[pi])
            np.minimum.at(best, pi, np.linalg.norm(closest - q[pi], axis=1))
        out[start:start + len(q)] = best
    return out


def winding_number(mesh: trimesh.Trimesh, points) -> np.ndarray:
    """Generalised winding number of each point [N, 3] (Jacobson et al. 2013), [N]: 1 inside a closed
    outward-oriented surface, 0 outside, k inside k overlapping closed parts. Triangle solid angles by
    Van Oosterom and Strackee's formula; O(N x faces), so call it on the points that need it."""
    mesh = _check_mesh(mesh)
    p = _as_points(points)
    tris = np.asarray(mesh.triangles, dtype=np.float64)
    out = np.empty(len(p))
    chunk = max(1, 4_000_000 // max(1, len(tris)))
    for start in range(0, len(p), chunk):
        q = p[start:start + chunk, None, :]
        a, b, c = tris[None, :, 0] - q, tris[None, :, 1] - q, tris[None, :, 2] - q
        la, lb, lc = (np.linalg.norm(v, axis=-1) for v in (a, b, c))
        det = np.einsum("nfi,nfi->nf", a, np.cross(b, c))
        den = (la * lb * lc + np.einsum("nfi,nfi->nf", a, b) * lc + np.einsum("nfi,nfi->nf", b, c) * la
               + np.einsum("nfi,nfi->nf", c, a) * lb)
        out[start:start + len(q)] = (2.0 * np.arctan2(det, den)).sum(axis=1) / (4.0 * np.pi)
    return out


def signed_distance(mesh: trimesh.Trimesh, points) -> np.ndarray:
    """Signed distance [N] (inside negative) from points [N, 3] to ``mesh``, in the mesh's own frame
    and units; sign from the winding number (inside where it is >= 0.5)."""
    p = _as_points(points)
    dist = unsigned_distance(mesh, p)
    inside = np.abs(winding_number(mesh, p)) >= 0.5
    return np.where(inside, -dist, dist)


def sdf_grid(mesh: trimesh.Trimesh, resolution: int, frame: str = "mesh", exact_band: float = 1.5) -> np.ndarray:
    """Signed distances of ``mesh`` on the R^3 cube grid (:func:`grid_points`), float32 [R, R, R], cube units.

    ``frame``: "mesh" when the mesh is in the pipeline's mesh frame (it is mapped with
    :func:`mesh_to_cube`), "cube" when it already is in the cube frame. ``exact_band``: points within
    this many grid steps of the surface get exact distances (:func:`unsigned_distance`); farther ones
    the distance to the nearest of dense surface samples (the vertices of the mesh split to a quarter
    step within 4 steps of the surface, to half a step beyond): never too small, and too large by at
    most s^2 / (2 d) for sample spacing s, under 1/30 of a step (mesh2sdf, which made the official training SDFs, is exact only in a narrow band too).

    Signs: grid points farther than half a grid step from the surface are split into 6-connected regions
    (two neighbours both farther than h/2 from the surface have no surface between them, so each
    region has one sign); each region takes the winding-number sign of one of its points; points
    within h/2 of the surface get their own winding number.
    """
    if frame not in ("mesh", "cube"):
        raise ValueError(f"frame must be 'mesh' or 'cube', got {frame!r}")
    mesh = _check_mesh(mesh)
    cube_mesh = mesh_to_cube_mesh(mesh) if frame == "mesh" else mesh
    points = grid_points(resolution)
    r = int(resolution)
    step = 2.0 / (r - 1)
    fine, _ = _split(cube_mesh, step / 4)
    dist, _ = cKDTree(fine).query(points, distance_upper_bound=4 * step)
    far = ~np.isfinite(dist)
    if far.any():
        coarse, _ = _split(cube_mesh, step / 2)
        dist[far], _ = cKDTree(coarse).query(points[far])
    band = dist <= exact_band * step
    if band.any():
        dist[band] = unsigned_distance(cube_mesh, points[band], max_edge=2 * step)
    dist = dist.reshape(r, r, r)
    far = dist > step / 2
    labels, n_regions = ndimage.label(far)
    inside = np.zeros((r, r, r), dtype=bool)
    if n_regions:
        flat = labels.ravel()
        first = np.full(n_regions + 1, -1, dtype=np.int64)
        order = np.flatnonzero(flat)
        first[flat[order[::-1]]] = order[::-1]  # the first point of each region
        reps = first[1:]
        region_inside = np.abs(winding_number(cube_mesh, points[reps])) >= 0.5
        lookup = np.concatenate([[False], region_inside])
        inside = lookup[labels]
    near = ~far
    if near.any():
        inside[near] = np.abs(winding_number(cube_mesh, points[near.ravel()])) >= 0.5
    return np.where(inside, -dist, dist).astype(np.float32)
