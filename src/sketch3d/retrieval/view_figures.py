"""Figs. 4.3 and B.2: how the gallery's views change what is retrieved, drawn from the retrieval outputs of
Tables 4.4 and B.5 (their ``.npz``: distances, the true shape's rank), with no features computed again.

Fig. 4.3 (thesis 4.2.3.2 "Shape views selection"): shapes represented by the 3 views a category is most
likely sketched from ("Sketch views") against 9 views, those and each +-5 degrees ("9 views: sketch views
+-5°"), validation split as Table 4.4. Per category, as the caption's four lines: first a query whose
ground truth is in the top 5 with 3 views but not with 9, then one that the 9 views return first and the
3 views do not (each drawn at random, seeded, among the queries that qualify; where none does, the query
whose rank moved most in that direction, and the row says so). Each row: the query, its top 5 with 3
views, its top 5 with 9 views; a shape is shown by its rendering at the query's azimuth.

Fig. B.2 (appendix B.4): the human-preferred (sketch) views against Schlachte et al.'s (0° and 180°
orthographic, 30° perspective), test split as Table B.5. Per category one test query (seeded): the
sketch, then its true shape in the preferred views and in Schlachte et al.'s, each row titled with the
rank of the true shape under that view set (minimum over views, Table B.5's first two rows).
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from sketch3d import DEMO_NOTICE  # noqa: E402
from sketch3d.imageset import read_index  # noqa: E402
from sketch3d.report.figure_file import save_figure  # noqa: E402
from sketch3d.retrieval.figures import _nearest_view  # noqa: E402
from sketch3d.retrieval.metrics import ranking  # noqa: E402

DPI = 110
FONT = 5  # a ShapeNet id (32 hex digits) on its own line fits a WIDTH column at 5 pt (figures.py)
WIDTH, HEIGHT = 1.6, 1.75  # in per panel, as Figs. 4.4 / B.1
GREEN = "green"


@dataclass(frozen=True)
class Pick:
    """A query chosen for a figure row, and why."""

    index: int      # row of the retrieval npz
    kind: str       # "lost" (in the top k with A, not with B) or "gained" (first with B, not with A)
    exact: bool     # False: no query qualified; the one whose rank moved most in that direction


def _load(npz: Path) -> dict:
    with np.load(npz) as d:
        return {k: d[k] for k in ("dist", "truth", "ranks", "query_ids", "shape_ids")}


def pick_queries(ranks_a: np.ndarray, ranks_b: np.ndarray, k: int, seed: int) -> list[Pick]:
    """Fig. 4.3's two rows of a category, from the true shape's 0-based rank per query under A (3 views) and
    B (9 views): a query in A's top ``k`` but not in B's, then one first under B but not under A; each at
    random (seeded) among those that qualify, else the one moved most that way (on a tie: lost, the one B ranks
    lowest; gained, the one B ranks highest; then the lowest index)."""
    ranks_a, ranks_b = np.asarray(ranks_a), np.asarray(ranks_b)
    if ranks_a.shape != ranks_b.shape or ranks_a.ndim != 1 or ranks_a.size == 0:
        raise ValueError(f"pick_queries: the two rank vectors must list the same queries, got {ranks_a.shape} "
                         f"and {ranks_b.shape}")
    rng = np.random.default_rng(seed)
    picks = []
    # kind, who qualifies, and the fallback's order (best last): moved most that way, then the caption's end
    # (lost: the GT furthest down with B; gained: the GT highest with B), then the earlier query
    for kind, qualifies, keys in (("lost", (ranks_a < k) & (ranks_b >= k), (ranks_b, ranks_b - ranks_a)),
                                  ("gained", (ranks_b == 0) & (ranks_a > 0), (-ranks_b, ranks_a - ranks_b))):
        candidates = np.flatnonzero(qualifies)
        if candidates.size:
            picks.append(Pick(int(rng.choice(candidates)), kind, True))
        else:
            order = np.lexsort((-np.arange(ranks_a.size), *keys))  # lexsort: last key primary; ascending
            picks.append(Pick(int(order[-1]), kind, False))
    return picks


def _show(ax, path, title: str, hit: bool = False, colour: str = "black") -> None:
    ax.imshow(Image.open(path), cmap="gray", vmin=0, vmax=255)
    ax.set_title(title, fontsize=FONT, color=GREEN if hit else colour)
    for spine in ax.spines.values():
        spine.set_edgecolor(GREEN if hit else "0.7")
        spine.set_linewidth(3 if hit else 0.5)


def _view_label(path) -> str:
    """A gallery rendering's view from its file name (``render.view_sets``' token: az030, az180o)."""
    from sketch3d.render.view_sets import ViewSetError, parse_view_token

    try:
        v = parse_view_token(Path(path).stem)
    except ViewSetError:
        return Path(path).stem
    return f"azimuth {v.azimuth:g}°, {v.projection}"


def _finish(fig, axes, title: str, demo: bool) -> None:
    for ax in np.ravel(axes):
        ax.set_xticks([])
        ax.set_yticks([])
    # wrapped to the figure's width (7 pt: about 0.055 in a character), as Figs. 4.4 / B.1's titles
    width = max(20, int(fig.get_figwidth() / 0.055))
    lines = [*textwrap.wrap(title, width), *(textwrap.wrap(DEMO_NOTICE, width) if demo else [])]
    fig.suptitle("\n".join(lines), fontsize=7, color="darkred" if demo else "black")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.12 * len(lines) / fig.get_figheight()))


def figure_4_3(inputs: dict[str, tuple[Path, Path, Path, Path]], out_png: Path, seed: int, demo: bool,
               k: int = 5) -> list[dict]:
    """Fig. 4.3. ``inputs``: category -> (npz with 3 views, npz with 9 views, the sketches' image set, the gallery
    image set at the sketch views). Writes ``out_png``; returns the rows shown (category, query id, kind, ranks)."""
    fig, shown = fig_4_3_figure(inputs, seed, demo, k)
    save_figure(fig, out_png, dpi=DPI)
    return shown


def fig_4_3_figure(inputs: dict[str, tuple[Path, Path, Path, Path]], seed: int, demo: bool, k: int = 5,
                   labels: tuple[str, str] = ("3 views", "9 views")):
    """(figure, rows shown) of :func:`figure_4_3`, not yet saved."""
    rows = []
    for cat, (npz_a, npz_b, sketches, gallery) in inputs.items():
        a, b = _load(npz_a), _load(npz_b)
        if a["query_ids"].tolist() != b["query_ids"].tolist() or a["shape_ids"].tolist() != b["shape_ids"].tolist():
            raise ValueError(f"{npz_a} and {npz_b} rank different queries or shapes: re-run their retrieve jobs")
        for p in pick_queries(a["ranks"], b["ranks"], k, seed):
            rows.append((cat, p, a, b, read_index(sketches).set_index("image_id"), read_index(gallery)))
    kk = min(k, len(rows[0][2]["shape_ids"])) if rows else k
    fig, axes = plt.subplots(len(rows), 2 * kk + 1, figsize=(WIDTH * (2 * kk + 1), HEIGHT * len(rows)),
                             squeeze=False)
    shown = []
    for r, (cat, p, a, b, queries, gallery) in enumerate(rows):
        qid = str(a["query_ids"][p.index])
        q = queries.loc[qid]
        ra, rb = int(a["ranks"][p.index]) + 1, int(b["ranks"][p.index]) + 1
        _show(axes[r, 0], q["path"], f"{cat} query\n{qid}\nGT rank {ra} ({labels[0]}), {rb} ({labels[1]})")
        why = {"lost": f"top {k}: {labels[0]} only", "gained": f"first: {labels[1]} only"}[p.kind]
        axes[r, 0].set_ylabel(why if p.exact else f"{why}: none\n(shown: the most moved)", fontsize=FONT)
        for half, (d, label) in enumerate(((a, labels[0]), (b, labels[1]))):
            order = ranking(d["dist"][p.index : p.index + 1])[0, :kk]
            for c, si in enumerate(order):
                sid = str(d["shape_ids"][si])
                _show(axes[r, 1 + half * kk + c], _nearest_view(gallery, sid, float(q["azimuth"])),
                      f"{label} #{c + 1}\n{sid}", hit=si == d["truth"][p.index],
                      colour="navy" if half else "black")
        shown.append({"category": cat, "query": qid, "kind": p.kind, "exact": p.exact, "rank_a": ra, "rank_b": rb})
    _finish(fig, axes, f"Fig. 4.3: top-{k} shapes with {labels[0]} (left) and {labels[1]} (right) per shape; "
                       "green: ground truth", demo)
    return fig, shown


def figure_b_2(inputs: dict[str, tuple[Path, Path, Path, Path, Path]], out_png: Path, seed: int,
               demo: bool) -> list[dict]:
    """Fig. B.2. ``inputs``: category -> (npz with the preferred views, npz with Schlachte et al.'s, the sketches'
    image set, the gallery at the preferred views, the gallery at Schlachte et al.'s). Writes ``out_png``; returns
    the queries shown."""
    fig, shown = fig_b_2_figure(inputs, seed, demo)
    save_figure(fig, out_png, dpi=DPI)
    return shown


def fig_b_2_figure(inputs: dict[str, tuple[Path, Path, Path, Path, Path]], seed: int, demo: bool,
                   labels: tuple[str, str] = ("preferred (sketch) views", "Schlachte et al.'s views")):
    """(figure, queries shown) of :func:`figure_b_2`, not yet saved."""
    rows = []
    for cat, (npz_a, npz_b, sketches, gallery_a, gallery_b) in inputs.items():
        a, b = _load(npz_a), _load(npz_b)
        if a["query_ids"].tolist() != b["query_ids"].tolist():
            raise ValueError(f"{npz_a} and {npz_b} rank different queries: re-run their retrieve jobs")
        qi = int(np.random.default_rng(seed).integers(len(a["query_ids"])))
        views = []
        for gallery in (gallery_a, gallery_b):
            g = read_index(gallery)
            sid = str(a["shape_ids"][a["truth"][qi]])
            mine = g[g["shape_id"] == sid].sort_values(["azimuth", "path"])
            if mine.empty:
                raise ValueError(f"{gallery} has no view of shape {sid}: re-render it")
            views.append(mine["path"].tolist())
        rows.append((cat, qi, a, b, read_index(sketches).set_index("image_id"), views))
    cols = 1 + max(len(v) for row in rows for v in row[5])
    fig, axes = plt.subplots(2 * len(rows), cols, figsize=(WIDTH * cols, HEIGHT * 2 * len(rows)), squeeze=False)
    shown = []
    for r, (cat, qi, a, b, queries, views) in enumerate(rows):
        qid = str(a["query_ids"][qi])
        ranks = [int(a["ranks"][qi]) + 1, int(b["ranks"][qi]) + 1]
        _show(axes[2 * r, 0], queries.loc[qid]["path"], f"{cat} query\n{qid}")
        axes[2 * r + 1, 0].axis("off")
        for half, (paths, label) in enumerate(zip(views, labels)):
            for c in range(1, cols):
                ax = axes[2 * r + half, c]
                if c - 1 < len(paths):
                    _show(ax, paths[c - 1], (f"{label}: GT rank {ranks[half]}\n" if c == 1 else "\n")
                          + _view_label(paths[c - 1]))
                else:
                    ax.axis("off")
        shown.append({"category": cat, "query": qid, "rank_preferred": ranks[0], "rank_schlachte": ranks[1]})
    _finish(fig, axes, "Fig. B.2: a test query's true shape in the human-preferred views (upper row) and in "
                       "Schlachte et al.'s (lower row)", demo)
    return fig, shown
