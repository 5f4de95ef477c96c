"""Per-example scores of the inversions against the target SHAPE, as the field scores reconstructions (the thesis
shows figures only; these numbers are ours).

The target is the shape itself: ``n_points`` samples of the example's mesh surface (the ShapeNet mesh in the
paper profile, the generated chair in the demo), loaded as the SDF targets load it (``load_yup_mesh`` of
``examples.csv``'s ``mesh_path``/``up_axis``) and placed where its target grid holds it (the SDF targets' per-shape
``affine`` to the generator's cube: largest side 1.6, ``sdf_targets``), then moved to the mesh frame by
``geometry.sdf``'s one map as the inverted shapes are; not the marching-cubes mesh of its SDF grid. The inverted shape is its folder's ``mesh.obj`` (marching cubes of the best styles at ``mc_level``, moved
to the mesh frame by ``geometry.sdf``'s one map) and ``sdf.npy`` (the best styles on the target grid's points).
Scores (``shape_metrics.surface_scores``): Chamfer-L1 and -L2 (x 10^3, in units of the target's largest side),
F-score at 1 % and 2 % of that side, normal consistency; and the volumetric IoU of the two grids' insides at the
meshing level ``mc_level`` (where the figures' surfaces are).

Failures: an inverted shape with no surface at ``mc_level`` (``empty`` in its summary) has no surface scores
(NaN; the table counts it and its means say over how many); its IoU is still defined.

With the generator (``generator=``), two more:
- the mean shape (the inversions' common start, ``init_styles`` of the snapshots): supervision ``mean``, one row
  per example, the baseline every inversion starts from;
- per-snapshot scores (``snapshot_scores``): the same scores of the snapshots' styles over the iterations, with
  the loss at each, at most ``reconstruction.scores.snapshots`` per inversion (evenly spaced, first and last
  kept; 0 = all), and a plot of score and loss against the iteration (the thesis's remark, 4.3.3, that the
  lowest loss is not the best shape).

With ``retrieval=`` (a ``retrieve`` job's npz, chapter 4.2's ranking of the examples' split) and ``shapes_csv=``,
one more baseline, supervision ``retrieval``: for each example, the shape that retrieval ranks first for the
example's sketch (the row of its image id at ``reconstruction.targets.azimuth``; the least distance, the first
shape on ties), its mesh prepared as a target is (``sdf_targets.prepare_sdf``: largest side 1.6, watertight, on
the target grid) and scored like an inversion; ``retrieved`` names it. Retrieval's gallery holds the true shape
too, so where retrieval is right this row scores the target itself (as in the thesis's setting).

Settings: ``reconstruction.scores.points`` (surface samples per mesh, 10000; demo 2000), ``.snapshots``,
``seed``, ``reconstruction.generator`` (architecture, ``mc_resolution``, ``mc_level``).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from sketch3d.atomic import atomic_path

log = logging.getLogger(__name__)

METRICS = ["chamfer_l1", "chamfer_l2", "f1", "f2", "normal_consistency", "iou"]
COLUMNS = ["example", "shape_id", "supervision", *METRICS, "empty", "best_iteration", "best_loss", "iterations",
           "retrieved"]
SNAPSHOT_COLUMNS = ["example", "shape_id", "supervision", "iteration", "loss", *METRICS, "empty"]
MEAN = "mean"  # the mean-shape baseline's supervision label
RETRIEVAL = "retrieval"  # the retrieval nearest-neighbour baseline's


class ScoreError(ValueError):
    """An inversion folder or target that cannot be scored."""


@dataclass(frozen=True)
class ShapeReference:
    """A target shape as the scores see it: surface samples and normals (mesh frame), size, SDF grid."""

    points: np.ndarray
    normals: np.ndarray
    size: float
    grid: np.ndarray


def read_summary(folder: Path) -> dict:
    from sketch3d.reconstruction.inversion import SUMMARY

    path = Path(folder) / SUMMARY
    if not path.is_file():
        raise ScoreError(f"{path} does not exist: {folder} is not a finished inversion (rerun its invert job)")
    return json.loads(path.read_text())


def _score_settings(settings: Mapping) -> tuple[float, int, int, int, int]:
    rs = settings.get("reconstruction") or {}
    gs, ss = rs.get("generator") or {}, rs.get("scores") or {}
    return (float(gs.get("mc_level", 0.01)), int(gs.get("mc_resolution", 64)), int(ss.get("points", 10000)),
            int(ss.get("snapshots", 0) or 0), int(settings.get("seed", 0)))


def shape_reference(mesh, grid: np.ndarray, n_points: int, seed: int) -> ShapeReference:
    """Samples of ``mesh`` (a trimesh in the mesh frame) and its size (largest bounding-box side)."""
    from sketch3d.reconstruction.shape_metrics import sample_with_normals

    points, normals = sample_with_normals(mesh, n_points, seed)
    return ShapeReference(points, normals, float(np.max(mesh.extents)), np.asarray(grid, dtype=np.float32))


def placed_mesh(mesh, affine: np.ndarray):
    """``mesh`` (mesh frame) where its target grid holds it (``affine``: mesh frame -> the generator's cube),
    moved back to the mesh frame by ``geometry.sdf``'s fixed map, as the inversions' meshes are."""
    from sketch3d.geometry.sdf import cube_to_mesh_mesh
    from sketch3d.reconstruction.sdf_targets import apply_affine

    return cube_to_mesh_mesh(apply_affine(mesh, affine))


def reference_shapes(targets_dir: Path, grids: Mapping[str, np.ndarray], n_points: int, seed: int,
                     base_dir: str | Path = ".", affines: Mapping[str, np.ndarray] | None = None
                     ) -> dict[str, ShapeReference]:
    """shape_id -> ``ShapeReference`` of every example of ``targets_dir``'s examples.csv (meshes checked first),
    each mesh placed by its ``affines`` entry (``placed_mesh``; None: as loaded)."""
    from sketch3d.data.manifest import resolve
    from sketch3d.data.simulate import load_yup_mesh
    from sketch3d.reconstruction.targets import read_examples

    examples = read_examples(targets_dir)
    if "mesh_path" not in examples.columns:
        raise ScoreError(f"{Path(targets_dir) / 'examples.csv'} lacks mesh_path: rebuild it with reconstruction_targets")
    paths = {str(r.shape_id): resolve(r.mesh_path, base_dir) for r in examples.itertuples(index=False)}
    missing = [str(p) for p in paths.values() if not Path(p).is_file()]
    if missing:
        raise ScoreError(f"{len(missing)} example mesh file(s) are missing, e.g. {missing[:3]}: the scores sample "
                         "the shapes' surfaces; rerun the data stage")
    ups = dict(zip(examples["shape_id"].astype(str), examples.get("up_axis", pd.Series(["Y"] * len(examples)))))
    out = {}
    for shape, path in paths.items():
        if shape not in grids:
            raise ScoreError(f"shape {shape!r} has no grid in the SDF targets; rebuild them from this examples.csv")
        mesh = load_yup_mesh(path, ups[shape])
        if affines is not None:
            mesh = placed_mesh(mesh, affines[shape])
        out[shape] = shape_reference(mesh, grids[shape], n_points, seed)
    return out


def score_shape(mesh, grid: np.ndarray, ref: ShapeReference, level: float, n_points: int, seed: int) -> dict:
    """The scores of one inverted shape (``mesh``: mesh frame, None when empty; ``grid``: on the target grid's
    points) against ``ref``."""
    from sketch3d.reconstruction.shape_metrics import sample_with_normals, surface_scores, volumetric_iou

    grid = np.asarray(grid)
    if grid.shape != ref.grid.shape:
        raise ScoreError(f"an inverted SDF grid has shape {grid.shape}, the target grid {ref.grid.shape}: rerun the "
                         "inversion against these targets")
    empty = mesh is None or len(mesh.faces) == 0 or not mesh.area > 0
    row = {m: float("nan") for m in METRICS}
    if not empty:
        points, normals = sample_with_normals(mesh, n_points, seed + 1)  # not the target's stream
        s = surface_scores(points, normals, ref.points, ref.normals, ref.size)
        row.update({k: s[k] for k in ("chamfer_l1", "chamfer_l2", "f1", "f2", "normal_consistency")})
    row["iou"] = float(volumetric_iou(grid, ref.grid, level))
    row["empty"] = bool(empty)
    return row


def score_inversion(folder: Path, ref: ShapeReference, settings: Mapping) -> dict:
    """The scores of one inversion folder's best shape against its target shape."""
    import trimesh

    from sketch3d.reconstruction.inversion import MESH, SDF_GRID

    folder = Path(folder)
    summary = read_summary(folder)
    level, _mc_res, n_points, _snaps, seed = _score_settings(settings)
    mesh = None if summary.get("empty") else trimesh.load(folder / MESH, force="mesh")
    row = score_shape(mesh, np.load(folder / SDF_GRID), ref, level, n_points, seed)
    return {"example": summary["example"], "shape_id": summary.get("shape_id", ""),
            "supervision": summary["supervision"], **row,
            "best_iteration": int(summary["best_iteration"]), "best_loss": float(summary["best_loss"]),
            "iterations": int(summary["iterations"])}


def styles_on_model(generator, styles):
    """Stored styles (numpy or tensor) on the generator's device, in its dtype."""
    import torch

    param = next(generator.parameters())
    return torch.as_tensor(np.asarray(styles)).to(device=param.device, dtype=param.dtype)


def score_styles(generator, styles, ref: ShapeReference, settings: Mapping, device: str = "cpu") -> dict:
    """The scores of the generator's shape for ``styles`` [1, n_styles, style_dim], meshed as the inversion
    meshes its best styles (``mc_resolution``, ``mc_level``)."""
    from sketch3d.reconstruction.inversion import mesh_of_grid, styles_grid

    level, mc_res, n_points, _snaps, seed = _score_settings(settings)
    styles = styles_on_model(generator, styles)
    grid_res = ref.grid.shape[0]
    grid = styles_grid(generator, styles, grid_res, device)
    mc_grid = grid if grid_res == mc_res else styles_grid(generator, styles, mc_res, device)
    mesh = mesh_of_grid(mc_grid, level) if np.any(mc_grid < level) else None
    return score_shape(mesh, grid, ref, level, n_points, seed)


def pick_snapshots(n: int, most: int) -> list[int]:
    """Indices of at most ``most`` of ``n`` snapshots, evenly spaced, first and last kept (0: all)."""
    if most <= 0 or n <= most:
        return list(range(n))
    return sorted({int(round(i)) for i in np.linspace(0, n - 1, most)})


def _ordered(df: pd.DataFrame, extra: list[str]) -> pd.DataFrame:
    from sketch3d.reconstruction.inversion import SUPERVISIONS

    order = {MEAN: -2, RETRIEVAL: -1, **{s: i for i, s in enumerate(SUPERVISIONS)}}
    df = df.assign(_order=df["supervision"].map(order)).sort_values(["_order", "example", *extra], kind="stable")
    return df.drop(columns="_order").reset_index(drop=True)


def retrieved_shapes(retrieval: Path, targets_dir: Path, azimuth: float) -> dict[str, tuple[str, str]]:
    """example -> (query image id, the shape ranked first) from a ``retrieve`` npz (dist [Q, S], query_ids,
    shape_ids) for each example's sketch at ``azimuth`` in ``targets_dir``'s sketches."""
    from sketch3d.imageset import read_index
    from sketch3d.reconstruction.targets import SKETCHES, read_examples

    retrieval = Path(retrieval)
    if not retrieval.is_file():
        raise ScoreError(f"retrieval ranking {retrieval} not found: run its retrieve job (chapter 4.2)")
    try:
        with np.load(retrieval, allow_pickle=False) as data:
            dist, queries, shapes = data["dist"], [str(q) for q in data["query_ids"]], [str(s) for s in data["shape_ids"]]
    except (KeyError, ValueError, OSError) as error:
        raise ScoreError(f"{retrieval} is not a retrieve npz (dist, query_ids, shape_ids): {error}; rerun its "
                         "retrieve job") from error
    if dist.shape != (len(queries), len(shapes)):
        raise ScoreError(f"{retrieval}: dist has shape {dist.shape}, expected [{len(queries)} queries, "
                         f"{len(shapes)} shapes]; rerun its retrieve job")
    row_of = {q: i for i, q in enumerate(queries)}
    index = read_index(Path(targets_dir) / SKETCHES)
    index = index[index["azimuth"].astype(float) == float(azimuth)]
    out = {}
    for ex in read_examples(targets_dir).itertuples(index=False):
        ids = index.loc[index["shape_id"].astype(str) == str(ex.shape_id), "image_id"].astype(str).tolist()
        if not ids:
            raise ScoreError(f"example {ex.example} (shape {ex.shape_id}) has no sketch at azimuth {azimuth} in "
                             f"{targets_dir}; rebuild the targets")
        if ids[0] not in row_of:
            raise ScoreError(f"the sketch {ids[0]} of example {ex.example} is not a query of {retrieval}: the "
                             "retrieval ranking must be of the examples' category and split "
                             "(reconstruction.scores.retrieval_method)")
        out[f"{int(ex.example):02d}"] = (ids[0], shapes[int(np.argmin(dist[row_of[ids[0]]]))])
    return out


def score_retrieval(retrieved: Mapping[str, tuple[str, str]], examples: pd.DataFrame, shapes_csv: Path,
                    refs: Mapping[str, ShapeReference], settings: Mapping, base_dir: str | Path = ".") -> list[dict]:
    """The retrieval baseline's rows: each example's retrieved shape, prepared as a target and scored."""
    from sketch3d.data.manifest import read_shapes, resolve
    from sketch3d.data.simulate import load_yup_mesh
    from sketch3d.reconstruction.sdf_targets import OFFICIAL_LEVEL, prepare_sdf, target_affine

    level, _mc_res, n_points, _snaps, seed = _score_settings(settings)
    t = (settings.get("reconstruction") or {}).get("targets") or {}
    w_level = float(t.get("watertight_level", OFFICIAL_LEVEL))
    table = read_shapes(shapes_csv).assign(shape_id=lambda d: d["shape_id"].astype(str)).set_index("shape_id")
    wanted = sorted({shape for _q, shape in retrieved.values()})
    unknown = [s for s in wanted if s not in table.index]
    if unknown:
        raise ScoreError(f"retrieved id(s) {unknown[:3]} are not shapes of {shapes_csv}: is the retrieval method "
                         "view-level (it ranks views, not shapes)? choose a shape-level reconstruction.scores."
                         "retrieval_method")
    paths = {s: resolve(table.loc[s, "mesh_path"], base_dir) for s in wanted}
    missing = [str(p) for p in paths.values() if not Path(p).is_file()]
    if missing:
        raise ScoreError(f"{len(missing)} retrieved shape mesh file(s) are missing, e.g. {missing[:3]}: rerun the "
                         "data stage")
    prepared = {}
    rows = []
    for ex in examples.itertuples(index=False):
        key = f"{int(ex.example):02d}"
        _query, shape = retrieved[key]
        ref = refs[str(ex.shape_id)]
        if shape not in prepared:
            mesh = load_yup_mesh(paths[shape], table.loc[shape].get("up_axis", "Y"))
            grid, center, scale = prepare_sdf(mesh, ref.grid.shape[0], w_level, name=str(paths[shape]))
            prepared[shape] = (placed_mesh(mesh, target_affine(center, scale, ref.grid.shape[0])), grid)
        mesh, grid = prepared[shape]
        rows.append({"example": key, "shape_id": str(ex.shape_id), "supervision": RETRIEVAL,
                     **score_shape(mesh, grid, ref, level, n_points, seed), "best_iteration": 0,
                     "best_loss": float("nan"), "iterations": 0, "retrieved": shape})
        log.info("reconstruction_scores: retrieval for example %s: %s (target %s)", key, shape, ex.shape_id)
    return rows


def reconstruction_scores(inversions: Iterable[Path], sdf_targets: Path, targets_dir: Path, settings: Mapping,
                          out_csv: Path, generator=None, out_snapshots: Path | None = None,
                          out_plot: Path | None = None, device: str = "cpu", base_dir: str | Path = ".",
                          retrieval: Path | None = None, shapes_csv: Path | None = None) -> pd.DataFrame:
    """Score every inversion folder against its target shape; write ``out_csv`` (``COLUMNS``, one row per example
    and supervision; with ``generator``, the mean shape's rows first, supervision ``mean``), and with
    ``generator`` and ``out_snapshots`` the per-snapshot scores (``SNAPSHOT_COLUMNS``) and ``out_plot``; with
    ``retrieval`` and ``shapes_csv``, the retrieval baseline's rows (supervision ``retrieval``)."""
    from sketch3d.reconstruction.inversion import LOSSES, SNAPSHOTS, load_snapshots, read_losses
    from sketch3d.reconstruction.sdf_targets import read_affines
    from sketch3d.reconstruction.targets import read_sdf_grids

    folders = [Path(f) for f in inversions]
    if not folders:
        raise ScoreError("reconstruction_scores: no inversion folders given")
    summaries = [read_summary(f) for f in folders]  # unfinished runs fail before any sampling
    level, _mc_res, n_points, most, seed = _score_settings(settings)
    if (retrieval is None) != (shapes_csv is None):
        raise ScoreError("reconstruction_scores: the retrieval baseline needs both the retrieval ranking and shapes.csv")
    retrieved = None
    if retrieval is not None:  # checked before any sampling
        from sketch3d.reconstruction.targets import read_examples, target_settings

        retrieved = retrieved_shapes(Path(retrieval), Path(targets_dir), float(target_settings(settings)["azimuth"]))
    refs = reference_shapes(Path(targets_dir), read_sdf_grids(sdf_targets), n_points, seed, base_dir,
                            read_affines(sdf_targets))
    rows, snaps, means_done = [], [], set()
    if retrieved is not None:
        rows += score_retrieval(retrieved, read_examples(targets_dir), Path(shapes_csv), refs, settings, base_dir)
    for folder, summary in zip(folders, summaries):
        shape = str(summary.get("shape_id", ""))
        if shape not in refs:
            raise ScoreError(f"{folder}: shape {shape!r} is not an example of {targets_dir}; rerun its invert job")
        ref = refs[shape]
        rows.append(score_inversion(folder, ref, settings))
        if generator is None:
            continue
        snap = load_snapshots(folder / SNAPSHOTS)
        if summary["example"] not in means_done:  # the common start: the mean styles
            means_done.add(summary["example"])
            rows.append({"example": summary["example"], "shape_id": shape, "supervision": MEAN,
                         **score_styles(generator, snap["init_styles"], ref, settings, device),
                         "best_iteration": 0, "best_loss": float("nan"), "iterations": 0})
        if out_snapshots is None:
            continue
        losses = read_losses(folder / LOSSES)
        for k in pick_snapshots(len(snap["iterations"]), most):
            it = int(snap["iterations"][k])
            snaps.append({"example": summary["example"], "shape_id": shape, "supervision": summary["supervision"],
                          "iteration": it, "loss": losses[it] if it < len(losses) else float("nan"),
                          **score_styles(generator, snap["styles"][k][None], ref, settings, device)})
        log.info("reconstruction_scores: %s %s scored (%d snapshots)", summary["supervision"], summary["example"],
                 len(snaps))
    df = _ordered(pd.DataFrame(rows, columns=COLUMNS), [])
    with atomic_path(out_csv) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    if generator is not None and out_snapshots is not None:
        sdf = _ordered(pd.DataFrame(snaps, columns=SNAPSHOT_COLUMNS), ["iteration"])
        with atomic_path(out_snapshots) as tmp:
            sdf.to_csv(tmp, index=False, float_format="%.6g")
        if out_plot is not None:
            plot_snapshot_scores(sdf, out_plot, demo=settings.get("profile") == "demo")
    return df


def lowest_loss_vs_best_shape(snapshots: pd.DataFrame, metric: str = "chamfer_l1") -> pd.DataFrame:
    """Per inversion: the scored snapshot of lowest loss, the one of best ``metric`` (lowest Chamfer), and both
    scores: where they differ, the lowest loss was not the best shape."""
    rows = []
    for (sup, ex), g in snapshots.groupby(["supervision", "example"], sort=False):
        g = g.dropna(subset=["loss", metric])
        if g.empty:
            continue
        lo, best = g.loc[g["loss"].idxmin()], g.loc[g[metric].idxmin()]
        rows.append({"supervision": sup, "example": ex, "lowest_loss_iteration": int(lo["iteration"]),
                     f"{metric}_at_lowest_loss": float(lo[metric]), "best_iteration": int(best["iteration"]),
                     f"best_{metric}": float(best[metric])})
    return pd.DataFrame(rows)


def plot_snapshot_scores(snapshots: pd.DataFrame, path: Path, demo: bool = False) -> None:
    """One panel per supervision: every example's Chamfer-L1 (solid) and loss (dashed, right axis, relative to
    its start) against the iteration; a dot marks each example's lowest-loss snapshot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sketch3d.report.figure_file import save_figure

    sups = list(dict.fromkeys(snapshots["supervision"]))
    fig, axes = plt.subplots(1, max(1, len(sups)), figsize=(4.2 * max(1, len(sups)), 3.4), dpi=100, squeeze=False)
    for ax, sup in zip(axes[0], sups):
        twin = ax.twinx()
        for i, (ex, g) in enumerate(snapshots[snapshots["supervision"] == sup].groupby("example")):
            color = plt.cm.tab10(i % 10)
            g = g.sort_values("iteration")
            ax.plot(g["iteration"], g["chamfer_l1"], color=color, lw=1.2)
            start = g["loss"].iloc[0]
            rel = g["loss"] / start if start and np.isfinite(start) and start != 0 else g["loss"]
            twin.plot(g["iteration"], rel, color=color, lw=0.8, ls="--")
            if g["loss"].notna().any():
                lo = g.loc[g["loss"].idxmin()]
                ax.plot([lo["iteration"]], [lo["chamfer_l1"]], "o", color=color, ms=4)
        ax.set_xlabel("iteration")
        ax.set_ylabel("Chamfer-L1 x1e3 (solid)")
        twin.set_ylabel("loss / loss at start (dashed)")
        ax.set_title(sup + (" (demo)" if demo else ""), fontsize=9)
    fig.suptitle("Shape score vs loss over the iterations (dot: lowest-loss snapshot)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
