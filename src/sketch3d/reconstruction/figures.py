"""Figures 4.5-4.9 of the thesis for our inversions, and the contact sheets a person picks shapes from.

- ``fig_4_5.png``: SDF supervision; top row the inverted shapes (best by loss), bottom row the targets.
- ``fig_4_6.png`` (front, azimuth 0) and ``fig_4_7.png`` (lateral, ``lateral_azimuth``): rows CLIP
  inversion, CLIP argmax inversion, the target sketches, the target shapes; best by loss.
- ``fig_4_8.png`` / ``fig_4_9.png`` (front / lateral): the same with the shapes a person picked among the
  snapshots (every 25 iterations), read from a picks CSV (columns ``example, supervision, iteration``;
  an iteration must be a snapshot's). Without picks: ``contact_<supervision>.png``, one row per example
  with ``contact_columns`` snapshots evenly spread over the run, each labelled with its iteration, and
  ``picks_template.csv`` (best-by-loss iterations rounded to a snapshot) to edit and pass back.

Shapes are rendered with the chapter's SDF renderer (``sdf_render.render_sdf`` + ``shaded``) straight from
the SDFs: an inverted shape's best grid (``sdf.npy``) or a snapshot's styles through the generator, a target
from its SDF grid, all by trilinear interpolation in the same frame, so the figure shows the surface
the meshes are made of (the level set at ``mc_level``, where marching cubes takes it). The thesis draws
meshes; the surfaces are the same.

Settings (``reconstruction.figures``): ``size`` (px of a figure cell, 128; demo 64), ``crop`` (0.5: the centred
fraction of the camera's image a cell shows; at the pipeline's camera a chair fills about a third of the
frame, so renders are made at size / crop px and cropped, and sketches cropped the same way),
``lateral_azimuth`` (90), ``sdf_azimuth`` (30: Fig. 4.5's view), ``contact_columns`` (8); the camera as
``inversion.view_for``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd
import torch

from sketch3d.atomic import atomic_dir
from sketch3d.report.figure_file import save_figure

FIGURE_DEFAULTS = {"size": 128, "lateral_azimuth": 90, "sdf_azimuth": 30, "contact_columns": 8, "crop": 0.5}
ROW_TITLES = {"sdf": "SDF inversion", "clip": "CLIP inversion", "clip_argmax": "CLIP argmax inversion",
              "clip_lines": "CLIP inversion (line rendering)"}
PICKS_COLUMNS = ["example", "supervision", "iteration"]


class FigureError(ValueError):
    pass


def figure_settings(settings: Mapping) -> dict:
    f = {**FIGURE_DEFAULTS, **dict((settings.get("reconstruction") or {}).get("figures") or {})}
    if not isinstance(f["size"], int) or f["size"] < 8:
        raise FigureError(f"reconstruction.figures.size={f['size']!r} must be a whole number >= 8 (px)")
    if not isinstance(f["crop"], (int, float)) or not 0 < f["crop"] <= 1:
        raise FigureError(f"reconstruction.figures.crop={f['crop']!r} must be in (0, 1]")
    if not isinstance(f["contact_columns"], int) or f["contact_columns"] < 1:
        raise FigureError(f"reconstruction.figures.contact_columns={f['contact_columns']!r} must be >= 1")
    return f


def crop_centre(image: np.ndarray, crop: float, size: int) -> np.ndarray:
    """The centred ``crop`` fraction of a square grey image, resized to ``size`` px (bilinear)."""
    from PIL import Image

    n = image.shape[0]
    k = max(1, int(round(n * crop)))
    lo = (n - k) // 2
    cut = Image.fromarray(np.ascontiguousarray(image[lo:lo + k, lo:lo + k]))
    return np.asarray(cut.resize((size, size), Image.BILINEAR) if k != size else cut)


def _render_size(size: int, crop: float) -> int:
    return int(round(size / crop))


def _level(settings: Mapping) -> float:
    """The marching-cubes level (cube units): figures show the surface the meshes are made at."""
    return float(((settings.get("reconstruction") or {}).get("generator") or {}).get("mc_level", 0.01))


def _grid_image(grid, azimuth: float, settings: Mapping, size: int) -> np.ndarray:
    from sketch3d.reconstruction.inversion import grid_sdf_fn, render_shaded, view_for

    crop = figure_settings(settings)["crop"]
    fn = grid_sdf_fn(np.asarray(grid, dtype=np.float32) - _level(settings))
    return crop_centre(render_shaded(fn, view_for(settings, azimuth), settings, _render_size(size, crop)), crop, size)


def _styles_image(generator, styles: torch.Tensor, azimuth: float, settings: Mapping, size: int) -> np.ndarray:
    from sketch3d.geometry.sdf import sdf_cube_to_mesh
    from sketch3d.reconstruction.inversion import mesh_frame_sdf, render_shaded, view_for

    crop = figure_settings(settings)["crop"]
    with torch.no_grad():
        volume = generator.volume(styles)
    sdf, shift = mesh_frame_sdf(generator, volume), sdf_cube_to_mesh(_level(settings))
    img = render_shaded(lambda p: sdf(p) - shift, view_for(settings, azimuth), settings, _render_size(size, crop))
    return crop_centre(img, crop, size)


def plot_rows(path: Path, rows: list[tuple[str, list[np.ndarray]]], column_titles: list[str], title: str,
              demo: bool = False, cell_titles: list[list[str]] | None = None) -> None:
    """Images in a grid, one titled row each; a blank cell where an image is None."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_rows, n_cols = len(rows), max(len(r[1]) for r in rows)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.3 * n_cols + 1.2, 1.35 * n_rows + 0.5), dpi=100,
                             squeeze=False)
    for r, (label, images) in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for sp in ax.spines.values():
                sp.set_visible(False)
            if c < len(images) and images[c] is not None:
                ax.imshow(images[c], cmap="gray", vmin=0, vmax=255)
            if r == 0 and c < len(column_titles):
                ax.set_title(column_titles[c], fontsize=7)
            if cell_titles is not None and cell_titles[r][c:c + 1]:
                ax.set_xlabel(cell_titles[r][c], fontsize=6)
        axes[r, 0].set_ylabel(label, fontsize=7)
    fig.suptitle(title + ("\n(DEMO: generated data, demo generator, random CLIP weights)" if demo else ""), fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def _collect(inversions: Iterable[Path]) -> dict[tuple[str, str], Path]:
    from sketch3d.reconstruction.scores import read_summary

    runs = {}
    for folder in inversions:
        s = read_summary(Path(folder))
        runs[(s["supervision"], str(s["example"]))] = Path(folder)
    if not runs:
        raise FigureError("figure_inversion: no inversion folders given")
    return runs


def read_picks(path: Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise FigureError(f"picks file {path} does not exist (columns {PICKS_COLUMNS}; see picks_template.csv)")
    df = pd.read_csv(path, dtype={"example": str, "supervision": str})
    missing = [c for c in PICKS_COLUMNS if c not in df.columns]
    if missing:
        raise FigureError(f"picks file {path} lacks columns {missing}; expected {PICKS_COLUMNS}")
    df["example"] = [f"{int(e):02d}" for e in df["example"]]
    return df


def _snapshot_styles(folder: Path, iteration: int) -> torch.Tensor:
    from sketch3d.reconstruction.inversion import SNAPSHOTS, load_snapshots

    snaps = load_snapshots(folder / SNAPSHOTS)
    hits = np.flatnonzero(snaps["iterations"] == int(iteration))
    if not len(hits):
        raise FigureError(f"{folder}: iteration {iteration} is not a snapshot; snapshots: "
                          f"{snaps['iterations'].tolist()[:6]}... (every snapshot_every iterations)")
    return torch.from_numpy(snaps["styles"][hits[0]])[None]


def figure_inversion(inversions: Iterable[Path], targets_dir: Path, sdf_targets: Path | None, settings: Mapping,
                     out_dir: Path, generator=None, picks: Path | None = None) -> list[str]:
    """Write the figures (module doc) for the finished inversion folders into ``out_dir``; returns the file
    names. ``generator``: needed for the picked or contact-sheet snapshots (None: those are left out)."""
    from PIL import Image

    from sketch3d.imageset import read_index
    from sketch3d.reconstruction.inversion import SDF_GRID
    from sketch3d.reconstruction.targets import SKETCHES, read_examples, read_sdf_grids

    f = figure_settings(settings)
    size, demo = f["size"], settings.get("profile") == "demo"
    runs = _collect(inversions)
    examples = read_examples(targets_dir)
    names = [f"{int(e):02d}" for e in examples["example"]]
    shape_of = dict(zip(names, examples["shape_id"].astype(str)))
    grids = read_sdf_grids(sdf_targets) if sdf_targets is not None else {}
    index = read_index(Path(targets_dir) / SKETCHES)
    front = {}
    for rec in index[index["azimuth"].astype(float) == 0.0].itertuples(index=False):
        with Image.open(rec.path) as im:
            front[str(rec.shape_id)] = crop_centre(np.asarray(im.convert("L")), f["crop"], size)
    written = []

    def target_image(name: str, azimuth: float):
        g = grids.get(shape_of[name])
        return None if g is None else _grid_image(g, azimuth, settings, size)

    def best_image(sup: str, name: str, azimuth: float):
        folder = runs.get((sup, name))
        return None if folder is None else _grid_image(np.load(folder / SDF_GRID), azimuth, settings, size)

    with atomic_dir(out_dir) as tmp:
        if any(k[0] == "sdf" for k in runs):
            az = f["sdf_azimuth"]
            plot_rows(tmp / "fig_4_5.png", [(ROW_TITLES["sdf"], [best_image("sdf", n, az) for n in names]),
                                             ("target shape", [target_image(n, az) for n in names])],
                      names, "Fig. 4.5: inversion with SDF supervision (best by loss)", demo)
            written.append("fig_4_5.png")
        clip_sups = [s for s in ("clip", "clip_argmax") if any(k[0] == s for k in runs)]
        # Figs 4.6 / 4.7 add the line renderer's row (not in the thesis) below the thesis's two
        best_sups = clip_sups + [s for s in ("clip_lines",) if any(k[0] == s for k in runs)]
        if best_sups:
            for fig, az, what in (("fig_4_6.png", 0.0, "front"), ("fig_4_7.png", f["lateral_azimuth"], "lateral")):
                rows = [(ROW_TITLES[s], [best_image(s, n, az) for n in names]) for s in best_sups]
                rows += [("target sketch", [front.get(shape_of[n]) for n in names]),
                         ("target shape", [target_image(n, az) for n in names])]
                plot_rows(tmp / fig, rows, names, f"Fig. {fig[4:7].replace('_', '.')}: CLIP inversion, {what} "
                          "renderings (lowest loss)", demo)
                written.append(fig)
        if generator is not None and clip_sups:
            generator = generator.eval()
            if picks is not None:
                p = read_picks(picks)
                for fig, az, what in (("fig_4_8.png", 0.0, "front"), ("fig_4_9.png", f["lateral_azimuth"], "lateral")):
                    rows = []
                    for s in clip_sups:
                        imgs = []
                        for n in names:
                            hit = p[(p["supervision"] == s) & (p["example"] == n)]
                            imgs.append(None if hit.empty or (s, n) not in runs else _styles_image(
                                generator, _snapshot_styles(runs[(s, n)], int(hit["iteration"].iloc[0])), az,
                                settings, size))
                        rows.append((ROW_TITLES[s], imgs))
                    rows += [("target sketch", [front.get(shape_of[n]) for n in names]),
                             ("target shape", [target_image(n, az) for n in names])]
                    plot_rows(tmp / fig, rows, names, f"Fig. {fig[4:7].replace('_', '.')}: CLIP inversion, "
                              f"{what} renderings (picked by a person)", demo)
                    written.append(fig)
            else:
                written += _contact_sheets(tmp, runs, clip_sups, names, generator, settings, f, demo)
    return written


def _contact_sheets(tmp: Path, runs, sups, names, generator, settings, f, demo) -> list[str]:
    from sketch3d.reconstruction.inversion import SNAPSHOTS, load_snapshots
    from sketch3d.reconstruction.scores import read_summary

    written, template = [], []
    for s in sups:
        rows, labels = [], []
        for n in names:
            folder = runs.get((s, n))
            if folder is None:
                continue
            snaps = load_snapshots(folder / SNAPSHOTS)
            its = snaps["iterations"]
            pick = np.unique(np.linspace(0, len(its) - 1, min(f["contact_columns"], len(its))).round().astype(int))
            rows.append((n, [_styles_image(generator, torch.from_numpy(snaps["styles"][i])[None], 0.0, settings,
                                           f["size"]) for i in pick]))
            labels.append([f"it {int(its[i])}" for i in pick])
            best = int(read_summary(folder)["best_iteration"])
            template.append({"example": n, "supervision": s, "iteration": int(its[np.abs(its - best).argmin()])})
        if rows:
            name = f"contact_{s}.png"
            plot_rows(tmp / name, rows, [], f"{ROW_TITLES[s]}: snapshots to pick from (front)", demo, labels)
            written.append(name)
    pd.DataFrame(template, columns=PICKS_COLUMNS).to_csv(tmp / "picks_template.csv", index=False)
    written.append("picks_template.csv")
    return written
