"""Figure 'top5': every label readable with the real ids (ShapeNet's 32-hex-digit shape ids)."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from PIL import Image

from _helpers import assert_pixels_only
from sketch3d.imageset import write_index
from sketch3d.retrieval.figures import figure_top5, top5_figure

IDS = ["1a6f615e8b1b5ae4dbbc9440457e303e", "4e5a4e03da34e549c0f7962eacdfb296", "c06d1dfcf9678d82f3112ddde99b6571",
       "266a8fc8d71618bef8cf3c259dc4ae19", "9ee4b9c97bcf4b3715dec43ae6a12831", "fa8f7c225d3b9f1def4a09e7eb872bbf"]


def _image_set(folder, rows):
    folder.mkdir(parents=True)
    for image_id, _, _ in rows:
        Image.fromarray(np.full((32, 32), 200, np.uint8)).save(folder / f"{image_id}.png")
    write_index(folder, pd.DataFrame([{"image_id": i, "shape_id": s, "azimuth": a, "path": str(folder / f"{i}.png")}
                                      for i, s, a in rows]))


def _inputs(tmp_path, n_shapes):
    shapes = IDS[:n_shapes]
    queries = [(f"{s}_{az}", s, az) for s in shapes for az in (0, 30)]
    _image_set(tmp_path / "sketches", queries)
    _image_set(tmp_path / "gallery", [(f"{s}_{az}", s, az) for s in shapes for az in (0, 30, 45, 75, 90)])
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "r.npz", dist=rng.random((len(queries), n_shapes)),
             truth=np.array([shapes.index(s) for _, s, _ in queries]), shape_ids=np.array(shapes),
             query_ids=np.array([q for q, _, _ in queries]))
    return tmp_path / "r.npz", tmp_path / "sketches", tmp_path / "gallery"


def _overlaps(fig):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for ax in fig.axes for t in [ax.title] if t.get_text()]
    return [(a, b) for a, b in itertools.combinations(boxes, 2) if a.overlaps(b)]


def test_labels_of_real_shape_ids_do_not_overlap_and_the_title_fits(tmp_path):
    npz, sketches, gallery = _inputs(tmp_path, 6)
    title = "Features masked by the learned binary mask whose checkpoint is the best on the chair validation sketches"
    fig, shown = top5_figure(npz, sketches, gallery, n_queries=2, seed=0, title=title, demo=False)
    assert len(shown) == 2 and len(fig.axes) == 2 * 6
    assert _overlaps(fig) == []
    # a category with fewer gallery shapes than k: fewer columns, the title still inside the figure
    npz, sketches, gallery = _inputs(tmp_path / "few", 3)
    fig, _ = top5_figure(npz, sketches, gallery, n_queries=2, seed=0, title=title, demo=False)
    assert len(fig.axes) == 2 * 4 and _overlaps(fig) == []
    fig.canvas.draw()
    box = fig._suptitle.get_window_extent(fig.canvas.get_renderer())
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width
    figure_top5(npz, sketches, gallery, tmp_path / "top5.png", 2, 0, title, demo=False)
    assert Image.open(tmp_path / "top5.png").size[0] > 0
    assert_pixels_only(tmp_path / "top5.png")  # formerly stamped with Matplotlib's version


def test_figure_4_1_row_labels_of_shapenet_ids_stay_inside_the_figure(tmp_path, monkeypatch):
    from sketch3d.retrieval import domain_figures as dfig

    kept = []
    monkeypatch.setattr(dfig, "_save", lambda fig, out, demo, head: kept.append(fig))
    n, azimuths = 3, (0, 30, 75)
    paths = []
    for s in IDS[:n]:
        p = tmp_path / f"{s}.png"
        Image.fromarray(np.full((32, 32), 200, np.uint8)).save(p)
        paths.append([p] * len(azimuths))
    d = np.arange(n * n, dtype=float).reshape(n, n) + 1
    pair = {"distance": d, "ci_low": d - 0.5, "ci_high": d + 0.5, "rows": "sketch", "columns": "lines",
            "summary": {"same_object_nearest_rows": 0.0, "same_object_ci_separated_rows": 0.0}}
    dfig.figure_4_1({"shape_ids": IDS[:n], "pairs": {"sketch-lines": pair}}, paths, azimuths, tmp_path / "f.png",
                    0.95, demo=False)
    fig = kept[0]
    fig.canvas.draw()  # lays the axis labels out where savefig puts them
    renderer = fig.canvas.get_renderer()
    labels = [ax.yaxis.label for ax in fig.axes if any(i in ax.yaxis.label.get_text() for i in IDS[:n])]
    assert len(labels) == n
    assert all(lab.get_window_extent(renderer).x0 >= 0 for lab in labels)
