"""Triangle meshes from signed distance fields, by marching cubes (Lorensen and Cline 1987, thesis [138]).

A grid ``grid[i, j, k]`` holds the SDF at the point ``(x_i, y_j, z_k)``, ``x_i = lo + i * (hi - lo) / (R - 1)``
(``numpy.linspace(lo, hi, R)`` on every axis, ``indexing="ij"``), negative inside. The iso-surface at ``level``
is extracted with ``skimage.measure.marching_cubes``; faces are wound so that normals point outwards (towards
increasing SDF), which makes ``trimesh``'s volume positive. SDF-StyleGAN (Zheng et al. 2022) extracts its
meshes at level 0.01 on a 64^3 grid (params ``reconstruction.generator.mc_level``, ``mc_resolution``).

With ``close=True`` (the default) the grid is padded by one cell of "outside" values, so a shape cut by the
grid's bound still gives a closed (watertight) surface, capped at the bound.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import trimesh
from skimage.measure import marching_cubes


class MeshingError(ValueError):
    """The SDF has no surface at the requested level, or the input is malformed."""


def _check_bound(bound) -> tuple[float, float]:
    try:
        lo, hi = (float(b) for b in bound)
    except (TypeError, ValueError):
        raise MeshingError(f"bound must be a pair (lo, hi) of numbers, got {bound!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise MeshingError(f"bound must be finite with lo < hi, got {bound!r}")
    return lo, hi


def grid_points(resolution: int, bound=(-1.0, 1.0)) -> np.ndarray:
    """The (R^3, 3) sample points of an R^3 grid over ``[lo, hi]^3``, in ``grid.reshape(-1)`` order."""
    if int(resolution) != resolution or resolution < 2:
        raise MeshingError(f"resolution must be an integer >= 2, got {resolution!r}")
    lo, hi = _check_bound(bound)
    axis = np.linspace(lo, hi, int(resolution))
    return np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)


def mesh_from_sdf_grid(grid, level: float = 0.0, bound=(-1.0, 1.0), *, close: bool = True,
                       largest_only: bool = False) -> trimesh.Trimesh:
    """Mesh of the ``level`` iso-surface of an SDF sampled on a regular R^3 grid over ``[lo, hi]^3``.

    grid: (R, R, R) array (numpy or anything ``numpy.asarray`` takes), negative inside, finite.
    level: the iso-value (SDF units of the grid; SDF-StyleGAN uses 0.01 on its cube).
    bound: (lo, hi), the coordinates of the grid's first and last samples on every axis.
    close: pad with outside values so that surfaces cut by the bound are capped (a watertight mesh).
    largest_only: keep only the connected component with the most faces (drops floating specks).
    Returns a ``trimesh.Trimesh`` in the grid's coordinates, outward normals.
    """
    arr = np.asarray(grid, dtype=np.float64)
    if arr.ndim != 3 or len(set(arr.shape)) != 1 or arr.shape[0] < 2:
        raise MeshingError(f"SDF grid must be a cube array (R, R, R) with R >= 2, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise MeshingError("SDF grid holds NaN or infinite values; fix the SDF before meshing")
    lo, hi = _check_bound(bound)
    level = float(level)
    res = arr.shape[0]
    spacing = (hi - lo) / (res - 1)
    origin = lo
    if close:
        # far outside at the pad, so the linear interpolation puts the cap (almost exactly) at the bound
        pad = level + 1e6 * max(float(np.ptp(arr)), spacing)
        arr = np.pad(arr, 1, mode="constant", constant_values=pad)
        origin = lo - spacing
    if not (arr.min() < level < arr.max()):
        raise MeshingError(
            f"SDF grid has no surface at level {level} (values in [{arr.min():.4g}, {arr.max():.4g}]); "
            "the shape is empty or fills the grid: check the SDF's sign (negative inside) and scale")
    # skimage's default winding ('descent') gives outward faces for values increasing outwards (an SDF)
    verts, faces, _normals, _values = marching_cubes(arr, level=level, spacing=(spacing,) * 3)
    # skimage already shares each vertex between the faces of its cube edge, so the faces are connected as
    # they should be; trimesh's processing would merge vertices closer than its tolerance, and at a cap the
    # vertices of neighbouring edges lie ~1e-7 cells apart (the far-outside pad), so it merged some of them
    # and tore the mesh (a grid that is all inside gave 50 pieces): no processing.
    mesh = trimesh.Trimesh(vertices=verts + origin, faces=faces, process=False)
    if largest_only and len(mesh.faces):
        parts = mesh.split(only_watertight=False)
        if len(parts) > 1:
            mesh = max(parts, key=lambda m: len(m.faces))
    return mesh


def sdf_grid_from_fn(fn: Callable, resolution: int, bound=(-1.0, 1.0), *, chunk: int = 65536,
                     as_torch: bool = False) -> np.ndarray:
    """Sample ``fn`` on the R^3 grid of :func:`grid_points`; returns (R, R, R) float64.

    fn: maps points (N, 3) to SDF values (N,). With ``as_torch`` it receives a float32 ``torch.Tensor``
    (evaluated under ``torch.no_grad``) and may return a tensor; otherwise a float64 numpy array.
    chunk: points per call, bounding memory.
    """
    if int(chunk) != chunk or chunk < 1:
        raise MeshingError(f"chunk must be a positive integer, got {chunk!r}")
    pts = grid_points(resolution, bound)
    out = np.empty(len(pts), dtype=np.float64)
    if as_torch:
        import torch

        with torch.no_grad():
            for s in range(0, len(pts), chunk):
                val = fn(torch.as_tensor(pts[s:s + chunk], dtype=torch.float32))
                out[s:s + chunk] = np.asarray(val.detach().cpu().double().numpy()
                                              if isinstance(val, torch.Tensor) else val).reshape(-1)
    else:
        for s in range(0, len(pts), chunk):
            val = np.asarray(fn(pts[s:s + chunk]), dtype=np.float64).reshape(-1)
            if len(val) != min(chunk, len(pts) - s):
                raise MeshingError(f"SDF function returned {len(val)} values for {min(chunk, len(pts) - s)} points")
            out[s:s + chunk] = val
    return out.reshape((int(resolution),) * 3)


def mesh_from_sdf_fn(fn: Callable, resolution: int, level: float = 0.0, bound=(-1.0, 1.0), *,
                     chunk: int = 65536, as_torch: bool = False, close: bool = True,
                     largest_only: bool = False) -> trimesh.Trimesh:
    """Mesh of ``fn``'s ``level`` set: :func:`sdf_grid_from_fn` then :func:`mesh_from_sdf_grid`."""
    grid = sdf_grid_from_fn(fn, resolution, bound, chunk=chunk, as_torch=as_torch)
    return mesh_from_sdf_grid(grid, level, bound, close=close, largest_only=largest_only)
