"""SDF grids of a shapes table's meshes prepared as SDF-StyleGAN's training data: the inversion's 3D targets
(thesis eq. 4.6) and the demo generator's training data.

The facts, from the official data preparation (SDF-StyleGAN's README points to DualOctreeGNN's
``tools/shapenet.py``, ``run_mesh2sdf``; github microsoft/DualOctreeGNN at 29eed84, and the ``mesh2sdf``
package it calls, 1.1.0):

- per-shape scale: the mesh's axis-aligned bounding box is centred at the origin (``center = (bbmin +
  bbmax) / 2``) and scaled by ``2 * 0.8 / max(bbmax - bbmin)``: the box's largest side becomes 1.6
  (``mesh_scale = 0.8``), the shape lies in [-0.8, 0.8]^3 of mesh2sdf's [-1, 1]^3 (:func:`normalisation`);
- watertight: ``mesh2sdf.compute(vertices, faces, 128, fix=True, level=0.015)``: the unsigned distance on
  the 128^3 grid, marching cubes of its ``level`` set (a closed shell around every sheet, open parts
  included), the component of largest bounding-box side kept, and the signed distance of that shell
  recomputed on the grid (:func:`prepare_sdf`). ``level`` 0.015 is ~0.96 voxel at 128^3 (the script's
  comment: "2/128 = 0.015625"; mesh2sdf's docstring recommends 2/size); at another resolution R we keep
  the same 0.96 voxel (``level * 128 / R``), otherwise a coarse grid misses a shell that thin;
- the grid: mesh2sdf samples the points ``-1 + 2 i / R`` (i = 0..R-1; its origin -1, spacing 2/R);
  SDF-StyleGAN's training reads the array as values at ``linspace(-1, 1, R)`` (``F.interpolate(...,
  align_corners=True)`` and ``get_voxel_coordinates`` in network/model.py). We store the array as
  mesh2sdf writes it and read it, as the training did, at ``geometry.sdf.grid_points(R)``: in the
  generator's cube the shape is stretched by R / (R - 1) about -1 (at 128: largest side 1.6126, centre
  offset 1/127), exactly as in the data the generator learned. :func:`mesh_to_target_cube` is that map
  for a mesh, so the scores sample the shape where its grid puts it;
- orientation: our meshes are ShapeNet v2 (the pipeline's mesh frame, ``geometry.sdf``), the official data
  v1; ``geometry.sdf.CUBE_ROTATION`` turns v2 into v1 before the normalisation (a rotation about the up
  axis: the bounding box and its largest side are the same).

Values are distances in mesh2sdf's units (its [-1, 1]^3), inside negative, float32, as the official files.

Resolution (``reconstruction.targets.sdf_resolution``): the official 128 in the paper profile (~20 CPU-s per
shape here); the demo 32 and the rehearsal 16.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import trimesh

from sketch3d.atomic import atomic_path
from sketch3d.data.manifest import read_shapes, resolve
from sketch3d.data.simulate import load_yup_mesh
from sketch3d.geometry.sdf import CUBE_ROTATION

log = logging.getLogger("sketch3d")

OFFICIAL_RESOLUTION = 128  # tools/shapenet.py: size = 128
OFFICIAL_LEVEL = 0.015     # tools/shapenet.py: level = 0.015 (at 128^3)
LARGEST_SIDE = 1.6         # tools/shapenet.py: scale = 2.0 * mesh_scale / max side, mesh_scale = 0.8
FORMAT = 2                 # 2: mesh2sdf targets with per-shape normalisation (1: winding-number grids, fixed scale)


class SdfTargetError(ValueError):
    """A mesh or a targets file that cannot give SDF targets."""


def watertight_level(resolution: int, level: float = OFFICIAL_LEVEL) -> float:
    """mesh2sdf's shell level at ``resolution``: ``level`` at 128^3, the same fraction of a voxel elsewhere."""
    return float(level) * OFFICIAL_RESOLUTION / int(resolution)


def normalisation(mesh: trimesh.Trimesh) -> tuple[np.ndarray, float]:
    """(centre [3] in the mesh frame, scale): ``scale * ROT @ (p - centre)`` puts ``mesh`` (mesh frame, v2) in
    v1 orientation, its bounding box centred with largest side ``LARGEST_SIDE``."""
    v = np.asarray(mesh.vertices, dtype=np.float64)
    lo, hi = v.min(0), v.max(0)
    side = float((hi - lo).max())
    if not side > 0:
        raise SdfTargetError("the mesh has a zero-size bounding box: no shape to scale")
    return (lo + hi) / 2.0, LARGEST_SIDE / side


def to_mesh2sdf_frame(points, center, scale) -> np.ndarray:
    """Mesh-frame points -> mesh2sdf's [-1, 1]^3 (v1 orientation, per-shape normalisation)."""
    return (np.asarray(points, dtype=np.float64) - np.asarray(center)) @ CUBE_ROTATION.T * float(scale)


def grid_stretch(resolution: int) -> float:
    """R / (R - 1): mesh2sdf's point ``-1 + 2i/R`` is the generator's ``-1 + 2i/(R-1)`` (module doc)."""
    return int(resolution) / (int(resolution) - 1.0)


def target_affine(center, scale, resolution: int) -> np.ndarray:
    """[4, 4]: mesh-frame points (homogeneous) -> the generator's cube, where the target grid of ``prepare_sdf``
    (with this ``center``, ``scale`` and ``resolution``) puts the shape: ``k * (scale * ROT @ (p - center) + 1)
    - 1`` with ``k = grid_stretch(resolution)``."""
    k = grid_stretch(resolution)
    a = np.eye(4)
    a[:3, :3] = k * float(scale) * CUBE_ROTATION
    a[:3, 3] = -a[:3, :3] @ np.asarray(center, dtype=np.float64) + (k - 1.0)
    return a


def apply_affine(mesh: trimesh.Trimesh, affine: np.ndarray) -> trimesh.Trimesh:
    """A copy of ``mesh`` with its vertices moved by ``affine`` [4, 4]."""
    out = mesh.copy()
    out.vertices = np.asarray(mesh.vertices, dtype=np.float64) @ affine[:3, :3].T + affine[:3, 3]
    return out


def mesh_to_target_cube(mesh: trimesh.Trimesh, center, scale, resolution: int) -> trimesh.Trimesh:
    """A copy of ``mesh`` (mesh frame) in the generator's cube where its target grid puts it (``target_affine``)."""
    return apply_affine(mesh, target_affine(center, scale, resolution))


def prepare_sdf(mesh: trimesh.Trimesh, resolution: int, level: float = OFFICIAL_LEVEL, name: str = "mesh"
                ) -> tuple[np.ndarray, np.ndarray, float]:
    """(grid [R, R, R] float32, centre, scale) of ``mesh`` (mesh frame) as the official data preparation makes
    it (module doc). ``name`` names the mesh in errors."""
    import mesh2sdf

    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise SdfTargetError(f"{name}: no triangles to compute an SDF from (expected a triangle mesh); check the file")
    resolution = int(resolution)
    if resolution < 8:
        raise SdfTargetError(f"sdf_resolution must be >= 8, got {resolution}")
    try:
        center, scale = normalisation(mesh)
    except SdfTargetError as error:
        raise SdfTargetError(f"{name}: {error}; check the file") from None
    vertices = to_mesh2sdf_frame(mesh.vertices, center, scale)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    try:
        sdf = mesh2sdf.compute(vertices, faces, resolution, fix=True, level=watertight_level(resolution, level))
    except (ValueError, RuntimeError) as error:  # marching cubes finds no shell: a degenerate mesh
        raise SdfTargetError(f"{name}: mesh2sdf found no watertight shell at level "
                             f"{watertight_level(resolution, level):.4g} ({error}); check the mesh") from error
    return np.asarray(sdf, dtype=np.float32), center, scale


def sdf_targets(shapes_csv: Path, settings: dict, out: Path, splits: list[str] | None = None,
                base_dir: str | Path = ".") -> int:
    """Write ``out`` (.npz): ``sdf`` [N, R, R, R] float32 (``prepare_sdf`` of each mesh), ``center`` [N, 3] and
    ``scale`` [N] (each shape's normalisation), ``affine`` [N, 4, 4] (``target_affine``: mesh frame -> the
    generator's cube, where each grid holds its shape), ``ids`` (shape ids) and ``split`` [N] (sorted by shape id),
    ``resolution``, ``level`` (the level at 128^3), ``format``.

    ``settings``: ``sdf_resolution`` (R), ``watertight_level`` (default 0.015, mesh2sdf's level at 128^3),
    ``category`` (default "chair", the thesis's). ``splits``: keep only these (default all). Mesh paths are
    resolved against ``base_dir``; all are checked before any compute. Returns N.
    """
    if "sdf_resolution" not in settings:
        raise SdfTargetError("sdf_targets: settings need 'sdf_resolution' (reconstruction.targets.sdf_resolution)")
    resolution = int(settings["sdf_resolution"])
    if resolution < 8:
        raise SdfTargetError(f"sdf_resolution must be >= 8, got {resolution}")
    level = float(settings.get("watertight_level", OFFICIAL_LEVEL))
    category = str(settings.get("category", "chair"))
    shapes = read_shapes(shapes_csv)
    rows = shapes[shapes["category"] == category]
    if splits:
        rows = rows[rows["split"].isin(list(splits))]
    rows = rows.sort_values("shape_id").reset_index(drop=True)
    if rows.empty:
        raise SdfTargetError(f"{shapes_csv}: no {category} shapes in splits {splits or 'any'}; check the data "
                             "stage's output")
    paths = [resolve(p, base_dir) for p in rows["mesh_path"]]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} mesh file(s) of {shapes_csv} are missing, e.g. {missing[:3]}: "
                                "rerun the data stage (prepare_dataset)")
    grids, centers, scales = [], [], []
    for i, (path, up) in enumerate(zip(paths, rows["up_axis"])):
        grid, center, scale = prepare_sdf(load_yup_mesh(path, up), resolution, level, name=str(path))
        grids.append(grid)
        centers.append(center)
        scales.append(scale)
        if (i + 1) % 10 == 0:
            log.info("sdf_targets: %d/%d meshes", i + 1, len(paths))
    with atomic_path(out) as tmp:
        np.savez(tmp, sdf=np.stack(grids).astype(np.float32), center=np.stack(centers), scale=np.array(scales),
                 affine=np.stack([target_affine(c, s, resolution) for c, s in zip(centers, scales)]),
                 ids=rows["shape_id"].to_numpy(dtype=str), split=rows["split"].to_numpy(dtype=str),
                 resolution=np.int64(resolution), level=np.float64(level), format=np.int64(FORMAT))
    return len(grids)


def read_sdf_targets(path: Path) -> dict:
    """``sdf_targets``' file as a dict (sdf, center, scale, ids, split, resolution, level); a missing or malformed
    file, or one of the older format, raises naming it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SDF targets {path} not found: make them with `sketch3d sdf_targets`")
    try:
        with np.load(path, allow_pickle=False) as data:
            if "sdf" in data.files and ("format" not in data.files or int(data["format"]) != FORMAT):
                raise SdfTargetError(f"{path} is an SDF targets file of an older format (fixed scale, no per-shape "
                                     "normalisation): rerun `sketch3d sdf_targets` (delete it and rerun its rule)")
            out = {k: data[k] for k in ("sdf", "center", "scale", "affine", "ids", "split", "resolution", "level")}
    except (KeyError, ValueError, OSError) as error:
        if isinstance(error, SdfTargetError):
            raise
        raise SdfTargetError(f"{path} is not an sdf_targets file ({error}): rerun `sketch3d sdf_targets`") from error
    sdf, n = out["sdf"], len(out["ids"])
    if sdf.ndim != 4 or sdf.shape[1:] != (int(out["resolution"]),) * 3 or len(sdf) != n:
        raise SdfTargetError(f"{path}: sdf has shape {sdf.shape}, expected [N, R, R, R] with one shape id per grid")
    if out["center"].shape != (n, 3) or out["scale"].shape != (n,) or out["affine"].shape != (n, 4, 4):
        raise SdfTargetError(f"{path}: center {out['center'].shape} / scale {out['scale'].shape} / affine "
                             f"{out['affine'].shape}, expected [N, 3] / [N] / [N, 4, 4] with N = {n}: rerun "
                             "`sketch3d sdf_targets`")
    return out


def read_affines(path: Path) -> dict[str, np.ndarray]:
    """shape_id -> its ``affine`` [4, 4] (mesh frame -> the generator's cube) of ``sdf_targets``' file."""
    data = read_sdf_targets(path)
    return {str(i): np.asarray(a, dtype=np.float64) for i, a in zip(data["ids"], data["affine"])}
