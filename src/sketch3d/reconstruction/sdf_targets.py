"""SDF grids of a shapes table's meshes, in the generator's cube frame: the inversion's 3D targets (thesis eq. 4.6)
and the demo generator's training data."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from sketch3d.atomic import atomic_path
from sketch3d.data.manifest import read_shapes, resolve
from sketch3d.data.simulate import load_yup_mesh
from sketch3d.geometry.sdf import CUBE_SCALE, sdf_grid

log = logging.getLogger("sketch3d")


def sdf_targets(shapes_csv: Path, settings: dict, out: Path, splits: list[str] | None = None,
                base_dir: str | Path = ".") -> int:
    """Write ``out`` (.npz): ``sdf`` [N, R, R, R] float32 (cube units, ``geometry.sdf.sdf_grid`` of each mesh in
    the mesh frame), ``ids`` (shape ids) and ``split`` [N] (sorted by shape id), ``resolution``, ``cube_scale``.

    ``settings``: ``sdf_resolution`` (R, the grid side: the official data use 128, the generator's
    volume 32; demo 32), ``category`` (default "chair", the thesis's category). ``splits``: keep only
    these (default all). Mesh paths are resolved against ``base_dir``; all are checked before any
    compute. Returns N.
    """
    if "sdf_resolution" not in settings:
        raise ValueError("sdf_targets: settings need 'sdf_resolution' (reconstruction.targets.sdf_resolution)")
    resolution = int(settings["sdf_resolution"])
    if resolution < 8:
        raise ValueError(f"sdf_resolution must be >= 8, got {resolution}")
    category = str(settings.get("category", "chair"))
    shapes = read_shapes(shapes_csv)
    rows = shapes[shapes["category"] == category]
    if splits:
        rows = rows[rows["split"].isin(list(splits))]
    rows = rows.sort_values("shape_id").reset_index(drop=True)
    if rows.empty:
        raise ValueError(f"{shapes_csv}: no {category} shapes in splits {splits or 'any'}; check the data stage's output")
    paths = [resolve(p, base_dir) for p in rows["mesh_path"]]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} mesh file(s) of {shapes_csv} are missing, e.g. {missing[:3]}: "
                                "rerun the data stage (prepare_dataset)")
    grids = []
    for i, (path, up) in enumerate(zip(paths, rows["up_axis"])):
        grids.append(sdf_grid(load_yup_mesh(path, up), resolution))
        if (i + 1) % 10 == 0:
            log.info("sdf_targets: %d/%d meshes", i + 1, len(paths))
    with atomic_path(out) as tmp:
        np.savez(tmp, sdf=np.stack(grids).astype(np.float32), ids=rows["shape_id"].to_numpy(dtype=str),
                 split=rows["split"].to_numpy(dtype=str), resolution=np.int64(resolution),
                 cube_scale=np.float64(CUBE_SCALE))
    return len(grids)


def read_sdf_targets(path: Path) -> dict:
    """``sdf_targets``' file as a dict (sdf, ids, split, resolution); a missing or malformed file raises
    naming it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SDF targets {path} not found: make them with `sketch3d sdf_targets`")
    try:
        with np.load(path, allow_pickle=False) as data:
            out = {k: data[k] for k in ("sdf", "ids", "split", "resolution")}
    except (KeyError, ValueError, OSError) as error:
        raise ValueError(f"{path} is not an sdf_targets file ({error}): rerun `sketch3d sdf_targets`") from error
    sdf = out["sdf"]
    if sdf.ndim != 4 or sdf.shape[1:] != (int(out["resolution"]),) * 3 or len(out["ids"]) != len(sdf):
        raise ValueError(f"{path}: sdf has shape {sdf.shape}, expected [N, R, R, R] with one shape id per grid")
    return out
