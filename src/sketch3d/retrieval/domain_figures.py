"""Figures 4.1 and 4.2 of the domain study (thesis 4.2.3.1) from the numbers of :mod:`sketch3d.retrieval.domain_study`.

Heat maps, darker = closer (as in the thesis). Each cell holds the distance and its confidence
interval; the diagonal (same object, same view) is framed, each row's nearest cell is dotted.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.gridspec import GridSpec  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from PIL import Image  # noqa: E402

from sketch3d import DEMO_NOTICE  # noqa: E402
from sketch3d.report.figure_file import save_figure  # noqa: E402

__all__ = ["figure_4_1", "figure_4_2", "sketch_strip"]

_CMAP = "viridis"


def sketch_strip(paths: Sequence[Path], size: int = 96) -> np.ndarray:
    """The views of one object side by side, each scaled to ``size`` x ``size`` grey pixels."""
    tiles = []
    for p in paths:
        with Image.open(p) as im:
            tiles.append(np.asarray(im.convert("L").resize((size, size), Image.Resampling.LANCZOS)))
    gap = np.full((size, 4), 255, dtype=np.uint8)
    out = [tiles[0]]
    for t in tiles[1:]:
        out += [gap, t]
    return np.concatenate(out, axis=1)


def _heatmap(ax, dist, low, high, xlabels, ylabels, fontsize: float, xrotation: float = 0) -> None:
    dist, low, high = (np.asarray(a, dtype=np.float64) for a in (dist, low, high))
    top = float(np.abs(dist).max())
    exp = int(np.floor(np.log10(top))) if top > 0 else 0  # cells show dist / 10^exp: short numbers at any scale
    scale = 10.0**exp
    im = ax.imshow(dist / scale, cmap=_CMAP, aspect="auto", interpolation="nearest")
    mid = (float(dist.min()) + float(dist.max())) / 2.0
    nearest = np.argsort(dist, axis=1, kind="stable")[:, 0]  # the package's tie rule (metrics.ranking)
    for r in range(dist.shape[0]):
        for c in range(dist.shape[1]):
            half = (high[r, c] - low[r, c]) / 2.0 / scale
            ax.text(c, r, f"{dist[r, c] / scale:.3g}\n±{half:.2g}", ha="center", va="center", fontsize=fontsize,
                    color="white" if dist[r, c] < mid else "black")
        ax.add_patch(Rectangle((r - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=1.2))
        ax.plot(nearest[r], r - 0.33, marker="o", markersize=2.5, color="orange")
    ax.set_xticks(range(len(xlabels)), xlabels, fontsize=fontsize + 1, rotation=xrotation)
    ax.set_yticks(range(len(ylabels)), ylabels, fontsize=fontsize + 1)
    bar = plt.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    bar.ax.tick_params(labelsize=fontsize + 1)
    bar.set_label(f"MSE / 1e{exp}" if exp else "MSE", fontsize=fontsize + 1)


def _save(fig, out_png: Path, demo: bool, head: str) -> None:
    fig.suptitle(head + (f"\n{DEMO_NOTICE}" if demo else ""), fontsize=8, color="darkred" if demo else "black")
    save_figure(fig, out_png, dpi=130)


def figure_4_1(numbers: dict, sketch_paths: Sequence[Sequence[Path]], azimuths: Sequence[float], out_png: Path,
               level: float, demo: bool) -> None:
    """Fig. 4.1: the chosen objects' sketches (left) and one eq. 4.4 heat map per domain pair."""
    shape_ids = numbers["shape_ids"]
    n = len(shape_ids)
    if len(sketch_paths) != n:
        raise ValueError(f"figure_4_1: {len(sketch_paths)} sketch rows for {n} objects")
    pairs = numbers["pairs"]
    v = len(azimuths)
    row_h = 0.55
    # room for the row labels: a ShapeNet id is 32 hex digits, about 0.045 in each at 5 pt (a fixed 0.9 in cut
    # them off at the left edge)
    label_w = 0.3 + 0.045 * max(len(str(s)) for s in shape_ids)
    width, height = label_w + 0.1 + row_h * v + 4.6 * len(pairs), row_h * n + 1.6
    fig = plt.figure(figsize=(width, height))
    gs = GridSpec(n, 1 + len(pairs), figure=fig, width_ratios=[0.3 * v] + [1.0] * len(pairs),
                  left=label_w / width, right=0.98, top=1 - 1.0 / height, bottom=0.45 / height, hspace=0.05,
                  wspace=0.3)
    for r, paths in enumerate(sketch_paths):
        ax = fig.add_subplot(gs[r, 0])
        ax.imshow(sketch_strip(paths), cmap="gray", vmin=0, vmax=255)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(f"{r + 1}\n{shape_ids[r]}", rotation=0, fontsize=5, labelpad=4, ha="right", va="center")
        if r == 0:
            ax.set_title("sketches, az " + "/".join(f"{a:g}" for a in azimuths), fontsize=6)
    ticks = [str(k + 1) for k in range(n)]
    for col, p in enumerate(pairs.values(), start=1):
        ax = fig.add_subplot(gs[:, col])
        _heatmap(ax, p["distance"], p["ci_low"], p["ci_high"], ticks, ticks, fontsize=4.5)
        s = p["summary"]
        ax.set_title(f"{p['rows']} (rows) vs {p['columns']} (columns)\n"
                     f"same object nearest: {s['same_object_nearest_rows']:.0%} of rows; "
                     f"CI separated: {s['same_object_ci_separated_rows']:.0%}", fontsize=6.5)
    _save(fig, out_png, demo,
          f"Fig. 4.1: distance between objects, eq. 4.4 (mean over {v} views of the CLIP feature MSE), "
          f"{n} random chairs; ± half-width of the {level:.0%} t-interval over the views; "
          "red frame: same object, dot: row minimum")


def figure_4_2(numbers: dict, azimuths: Sequence[float], out_png: Path, level: float, demo: bool) -> None:
    """Fig. 4.2: one eq. 4.5 view-by-view heat map per domain pair, with the intervals over objects."""
    pairs = numbers["pairs"]
    v = len(azimuths)
    fig, axes = plt.subplots(1, len(pairs), figsize=(4.2 * len(pairs), 1.0 * v + 2.4), squeeze=False)
    for ax, p in zip(axes[0], pairs.values()):
        rows = [f"{p['rows']} {a:g}°" for a in azimuths]
        cols = [f"{p['columns']} {a:g}°" for a in azimuths]
        _heatmap(ax, p["distance"], p["ci_low"], p["ci_high"], cols, rows, fontsize=6)
        by_view = "/".join(f"{x:.0%}" for x in p["same_view_nearest_by_view"])
        ax.set_title(f"{p['rows']} (rows) vs {p['columns']} (columns)\n"
                     f"same view nearest for one object: {p['summary']['same_view_nearest']:.0%}\n"
                     f"(by row view: {by_view})", fontsize=6.5)
    fig.tight_layout(rect=(0, 0, 1, 0.86))
    _save(fig, out_png, demo,
          f"Fig. 4.2: distance between views of the same object, eq. 4.5, mean over {numbers['n_objects']} "
          f"random chairs; ± half-width of the {level:.0%} t-interval over the objects; "
          "red frame: same view, dot: row minimum")
