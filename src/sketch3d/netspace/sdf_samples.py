"""SDF samples of one chair, the regression target of one SDF MLP of the NetSpace zoo (thesis 5.4, C.5).

The thesis fits each MLP to the SDF of one ShapeNet chair "computed with the code provided with [141]"
(DeepSDF's sampler: points near the surface, perturbed by small Gaussian offsets, plus points uniform in the
bounding cube). We follow that recipe with our own distances (``sketch3d.geometry.sdf``: exact point-to-face
distances, winding-number signs, so the procedural shapes' overlapping closed parts and ShapeNet's small
holes are handled), in the SDF generator's cube frame ([-1, 1]^3, ``geometry.sdf.mesh_to_cube``), the frame
in which every SDF of the pipeline is meshed and compared.

Settings (``netspace.sdf_samples``):

- ``uniform``: points uniform in the cube;
- ``surface``: points on the surface (area-weighted), each moved by N(0, sigma^2) per axis, half with
  ``sigma_near``, half with ``sigma_far`` (DeepSDF: 0.0025 and 0.025 of its unit-sphere scale; ours in cube
  units, where a chair spans about 1.4).
"""
from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import trimesh

from sketch3d.atomic import atomic_path
from sketch3d.geometry.sdf import mesh_to_cube_mesh, signed_distance

KEYS = ("uniform", "surface", "sigma_near", "sigma_far")


def _check(settings: dict) -> dict:
    missing = [k for k in KEYS if k not in settings]
    if missing:
        raise ValueError(f"netspace.sdf_samples lacks {missing}; add them to params.yaml (see "
                         "sketch3d.netspace.sdf_samples)")
    s = {k: settings[k] for k in KEYS}
    for k in ("uniform", "surface"):
        if int(s[k]) < 1:
            raise ValueError(f"netspace.sdf_samples.{k} must be a positive count, got {s[k]!r}")
    for k in ("sigma_near", "sigma_far"):
        if not float(s[k]) > 0:
            raise ValueError(f"netspace.sdf_samples.{k} must be a positive distance (cube units), got {s[k]!r}")
    return s


def sample_sdf(mesh: trimesh.Trimesh, settings: dict, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(points [N, 3], sdf [N]) float32 in the cube frame for a mesh in the pipeline's mesh frame."""
    s = _check(settings)
    rng = np.random.default_rng(seed)
    cube = mesh_to_cube_mesh(mesh)
    n_surface = int(s["surface"])
    on_surface, _ = trimesh.sample.sample_surface(cube, n_surface, seed=int(rng.integers(2**31)))
    sigma = np.where(np.arange(n_surface) < n_surface // 2, float(s["sigma_near"]), float(s["sigma_far"]))
    near = on_surface + rng.normal(size=on_surface.shape) * sigma[:, None]
    uniform = rng.uniform(-1.0, 1.0, size=(int(s["uniform"]), 3))
    points = np.clip(np.concatenate([near, uniform]), -1.0, 1.0)
    sdf = signed_distance(cube, points)
    return points.astype(np.float32), sdf.astype(np.float32)


def chair_ids(shapes_csv: Path, split: str, category: str = "chair") -> list[str]:
    """The category's shape ids in one split of a shapes table, sorted: the order the zoo's MLPs of that split
    take them in (MLP ``<split>-<i>`` fits the i-th), so growing a count adds MLPs and changes none."""
    shapes = pd.read_csv(shapes_csv)
    keep = (shapes["category"] == category) & (shapes["split"] == split)
    ids = sorted(shapes.loc[keep, "shape_id"].astype(str))
    if not ids:
        raise ValueError(f"{shapes_csv}: no {category} shape in split {split!r}; the SDF MLP zoo needs some")
    return ids


def sdf_samples(shapes_csv: Path, split: str, index: int, settings: dict, seed: int, out: Path,
                category: str = "chair") -> str:
    """Write the SDF samples of the ``index``-th shape (sorted ids) of ``category`` in ``split`` to ``out`` (.npz:
    points, sdf, shape_id); return its id. Seeded by the global seed and the shape id, never by a count."""
    ids = chair_ids(shapes_csv, split, category)
    if not 0 <= index < len(ids):
        raise ValueError(f"SDF MLP {split}-{index:03d}: {shapes_csv} has only {len(ids)} {category} shapes in split "
                         f"{split!r}; lower netspace.sdf_mlps.count.{split}")
    shape_id = ids[index]
    shapes = pd.read_csv(shapes_csv).set_index("shape_id")
    mesh_path = Path(shapes.loc[shape_id, "mesh_path"])
    if not mesh_path.is_file():
        raise FileNotFoundError(f"{mesh_path} (shape {shape_id} of {shapes_csv}) is missing; rerun the data stage")
    mesh = trimesh.load(mesh_path, force="mesh", process=False)
    own_seed = (int(seed) * 1_000_003 + zlib.crc32(shape_id.encode())) % 2**32
    points, sdf = sample_sdf(mesh, settings, own_seed)
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, points=points, sdf=sdf, shape_id=np.array(shape_id))
    return shape_id
