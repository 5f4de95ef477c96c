"""Per-example scores of the inversions: Chamfer distance and volumetric IoU of the inverted shape against
the target shape (the thesis shows figures only; these numbers are ours).

For every inversion folder (``inversion.invert``'s outputs) the inverted shape is its best styles' SDF grid
(``sdf.npy``, on the target's grid) and its mesh (``mesh.obj``, mesh frame); the target shape is the target
SDF grid and its marching-cubes mesh (same level, moved to the mesh frame), so both sides are what the
figures show. ``shape_metrics.chamfer_distance`` (``n_points`` surface samples each, seeded) is in mesh
units (bounding-box diagonal 1); ``shape_metrics.volumetric_iou`` compares the grids' insides (SDF < 0).

Settings: ``reconstruction.scores.points`` (surface samples per mesh, 10000; demo 2000), ``seed``,
``reconstruction.generator.mc_level``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from sketch3d.atomic import atomic_path

COLUMNS = ["example", "shape_id", "supervision", "chamfer", "iou", "best_iteration", "best_loss", "iterations"]


class ScoreError(ValueError):
    """An inversion folder or target that cannot be scored."""


def read_summary(folder: Path) -> dict:
    from sketch3d.reconstruction.inversion import SUMMARY

    path = Path(folder) / SUMMARY
    if not path.is_file():
        raise ScoreError(f"{path} does not exist: {folder} is not a finished inversion (rerun its invert job)")
    return json.loads(path.read_text())


def score_inversion(folder: Path, target_grid: np.ndarray, settings: Mapping) -> dict:
    """Chamfer distance and IoU of one inversion folder against its target SDF grid."""
    import trimesh

    from sketch3d.reconstruction.inversion import MESH, SDF_GRID, mesh_of_grid
    from sketch3d.reconstruction.shape_metrics import chamfer_distance, volumetric_iou

    folder = Path(folder)
    summary = read_summary(folder)
    grid = np.load(folder / SDF_GRID)
    if grid.shape != np.asarray(target_grid).shape:
        raise ScoreError(f"{folder / SDF_GRID} has shape {grid.shape}, the target grid {np.shape(target_grid)}: "
                         "rerun the inversion against these targets")
    rs = (settings.get("reconstruction") or {})
    level = float((rs.get("generator") or {}).get("mc_level", 0.01))
    n_points = int((rs.get("scores") or {}).get("points", 10000))
    if summary.get("empty"):  # no surface to sample (inversion's summary warns): no distance, IoU 0 or 1
        chamfer = float("nan")
    else:
        mesh = trimesh.load(folder / MESH, force="mesh")
        target_mesh = mesh_of_grid(np.asarray(target_grid, dtype=np.float32), level)
        chamfer = float(chamfer_distance(mesh, target_mesh, n_points, int(settings.get("seed", 0))))
    return {"example": summary["example"], "shape_id": summary.get("shape_id", ""),
            "supervision": summary["supervision"],
            "chamfer": chamfer,
            "iou": float(volumetric_iou(grid, target_grid)),
            "best_iteration": int(summary["best_iteration"]), "best_loss": float(summary["best_loss"]),
            "iterations": int(summary["iterations"])}


def reconstruction_scores(inversions: Iterable[Path], sdf_targets: Path, settings: Mapping, out_csv: Path) -> pd.DataFrame:
    """Score every inversion folder against its shape's grid in ``sdf_targets`` (``sdf_targets``'s npz);
    write ``out_csv`` (one row per example and supervision, ``COLUMNS``)."""
    from sketch3d.reconstruction.targets import read_sdf_grids

    grids = read_sdf_grids(sdf_targets)
    rows = []
    for folder in inversions:
        summary = read_summary(Path(folder))
        shape = str(summary.get("shape_id", ""))
        if shape not in grids:
            raise ScoreError(f"{folder}: shape {shape!r} has no grid in {sdf_targets}; rebuild the SDF targets")
        rows.append(score_inversion(Path(folder), grids[shape], settings))
    if not rows:
        raise ScoreError("reconstruction_scores: no inversion folders given")
    from sketch3d.reconstruction.inversion import SUPERVISIONS

    df = pd.DataFrame(rows, columns=COLUMNS)
    df = df.assign(_order=df["supervision"].map(SUPERVISIONS.index)).sort_values(["_order", "example"], kind="stable")
    df = df.drop(columns="_order").reset_index(drop=True)
    with atomic_path(out_csv) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    return df
