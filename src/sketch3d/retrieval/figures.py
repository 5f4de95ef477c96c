"""Stage 'figure_top5': random queries with their top-k retrieved shapes, the ground truth marked."""
from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from sketch3d import DEMO_NOTICE  # noqa: E402
from sketch3d.imageset import read_index  # noqa: E402
from sketch3d.report.figure_file import save_figure  # noqa: E402
from sketch3d.retrieval.metrics import ranking  # noqa: E402


def _nearest_view(gallery, shape_id: str, azimuth: float) -> str:
    views = gallery[gallery["shape_id"] == shape_id]
    gap = np.abs(((views["azimuth"].to_numpy() - azimuth) + 180) % 360 - 180)
    return views["path"].iloc[int(np.argmin(gap))]


def figure_top5(
    retrieval_npz: Path,
    sketches_dir: Path,
    gallery_dir: Path,
    out_png: Path,
    n_queries: int,
    seed: int,
    title: str,
    demo: bool,
    k: int = 5,
    azimuth: float | None = None,
) -> list[str]:
    """Draw ``n_queries`` random queries (seeded) with their top-``k`` shapes; return the query ids shown.
    Each shape is shown by its ``gallery_dir`` view nearest to ``azimuth`` (None: to the query's azimuth)."""
    fig, shown = top5_figure(retrieval_npz, sketches_dir, gallery_dir, n_queries, seed, title, demo, k, azimuth)
    save_figure(fig, out_png, dpi=DPI)
    return shown


DPI = 110
LABEL_FONTSIZE = 5  # a ShapeNet id (32 hex digits) on its own line fits a 1.6 in column at 5 pt


def top5_figure(retrieval_npz: Path, sketches_dir: Path, gallery_dir: Path, n_queries: int, seed: int, title: str,
                demo: bool, k: int = 5, azimuth: float | None = None):
    """(figure, query ids shown) of :func:`figure_top5`, not yet saved."""
    data = np.load(retrieval_npz)
    dist, truth, shape_ids = data["dist"], data["truth"], data["shape_ids"]
    queries = read_index(sketches_dir).set_index("image_id")
    gallery = read_index(gallery_dir)
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(dist), size=min(n_queries, len(dist)), replace=False))
    k = min(k, dist.shape[1])
    fig, axes = plt.subplots(len(chosen), k + 1, figsize=(1.6 * (k + 1), 1.75 * len(chosen)), squeeze=False)
    shown = []
    for row, qi in enumerate(chosen):
        qid = str(data["query_ids"][qi])
        shown.append(qid)
        q = queries.loc[qid]
        ax = axes[row, 0]
        ax.imshow(Image.open(q["path"]), cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"query\n{qid}", fontsize=LABEL_FONTSIZE)
        order = ranking(dist[qi : qi + 1])[0, :k]  # the order acc@k counts
        for col, si in enumerate(order, start=1):
            ax = axes[row, col]
            sid = str(shape_ids[si])
            view = float(q["azimuth"]) if azimuth is None else float(azimuth)
            ax.imshow(Image.open(_nearest_view(gallery, sid, view)), cmap="gray", vmin=0, vmax=255)
            hit = si == truth[qi]
            ax.set_title(f"#{col}" + (" (GT)" if hit else "") + f"\n{sid}", fontsize=LABEL_FONTSIZE,
                         color="green" if hit else "black")
            for spine in ax.spines.values():
                spine.set_edgecolor("green" if hit else "0.7")
                spine.set_linewidth(3 if hit else 0.5)
        for ax in axes[row]:
            ax.set_xticks([])
            ax.set_yticks([])
    # the title wrapped to the figure's width (7 pt: about 0.055 in a character), so that a figure of few columns
    # (a category with fewer than k gallery shapes) does not crop it
    width_chars = max(20, int(fig.get_figwidth() / 0.055))
    head = "\n".join(textwrap.wrap(title, width_chars)) + (f"\n{DEMO_NOTICE}" if demo else "")
    fig.suptitle(head, fontsize=7, color="darkred" if demo else "black")
    fig.tight_layout(rect=(0, 0, 1, 0.95 if head.count("\n") == 0 else 0.9))
    return fig, shown


def query_figure(sketch: Image.Image, results: list[tuple[str, float]], gallery, out_png: Path, demo: bool) -> None:
    """One user query: the sketch and its ranked shapes (each by its front view), with distances."""
    fig, axes = plt.subplots(1, len(results) + 1, figsize=(1.8 * (len(results) + 1), 2.1), squeeze=False)
    axes[0, 0].imshow(sketch, cmap="gray", vmin=0, vmax=255)
    axes[0, 0].set_title("sketch", fontsize=7)
    for col, (shape_id, dist) in enumerate(results, start=1):
        axes[0, col].imshow(Image.open(_nearest_view(gallery, shape_id, 0.0)), cmap="gray", vmin=0, vmax=255)
        axes[0, col].set_title(f"#{col} {shape_id}\n{dist:.4g}", fontsize=6)
    for ax in axes[0]:
        ax.set_xticks([])
        ax.set_yticks([])
    if demo:
        fig.suptitle(DEMO_NOTICE, fontsize=6, color="darkred")
    fig.tight_layout()
    save_figure(fig, out_png, dpi=110)
