"""Figs. 4.3 and B.2 from retrieval outputs: which queries are shown (seeded, qualifying first), the files."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from _helpers import assert_pixels_only
from sketch3d.imageset import write_index
from sketch3d.retrieval.metrics import rank_of_truth
import itertools

import matplotlib.pyplot as plt

from sketch3d.retrieval.view_figures import Pick, fig_4_3_figure, fig_b_2_figure, figure_4_3, figure_b_2, pick_queries

SHAPES = [f"{i:032x}" for i in range(6)]  # as long as ShapeNet's ids


def _overlapping_titles(fig):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for ax in fig.axes for t in [ax.title] if t.get_text()]
    plt.close(fig)
    return [(a, b) for a, b in itertools.combinations(boxes, 2) if a.overlaps(b)]


def test_pick_queries_takes_seeded_qualifying_queries_else_the_most_moved():
    a = np.array([0, 2, 7, 1, 9, 3])
    b = np.array([6, 0, 0, 8, 9, 3])
    lost = {i for i in range(6) if a[i] < 5 <= b[i]}        # in A's top 5, not in B's
    gained = {i for i in range(6) if b[i] == 0 < a[i]}      # first with B, not with A
    assert lost == {0, 3} and gained == {1, 2}
    seen = set()
    for seed in range(20):
        first, second = pick_queries(a, b, 5, seed)
        assert first.kind == "lost" and first.exact and first.index in lost
        assert second.kind == "gained" and second.exact and second.index in gained
        assert pick_queries(a, b, 5, seed) == [first, second]  # seeded
        seen.add((first.index, second.index))
    assert len(seen) > 1  # the seed chooses among the candidates
    # nobody qualifies: the query moved most that way, flagged (gained: 1 and 2 did not move; 2 is higher with B)
    assert pick_queries(np.array([0, 5, 2]), np.array([3, 5, 2]), 5, 0) == [Pick(0, "lost", False),
                                                                            Pick(2, "gained", False)]
    # nobody moved: lost shows the GT furthest down with B, gained the GT highest with B (then the earlier query)
    assert pick_queries(np.array([0, 7, 2, 0]), np.array([0, 7, 2, 0]), 5, 0) == [Pick(1, "lost", False),
                                                                                  Pick(0, "gained", False)]
    with pytest.raises(ValueError, match="same queries"):
        pick_queries(np.array([0, 1]), np.array([0]), 5, 0)


def _image_set(folder, rows, shade, file=lambda image_id, shape_id: f"{image_id}.png"):
    index = []
    for image_id, shape_id, azimuth in rows:
        path = folder / file(image_id, shape_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((24, 24), shade, np.uint8)).save(path)
        index.append({"image_id": image_id, "shape_id": shape_id, "azimuth": azimuth, "path": str(path)})
    write_index(folder, pd.DataFrame(index))
    return folder


def _npz(path, dist, truth, query_ids):
    dist = np.asarray(dist, float)
    np.savez(path, dist=dist, truth=np.asarray(truth), ranks=rank_of_truth(dist, np.asarray(truth)),
             query_ids=np.array(query_ids), shape_ids=np.array(SHAPES))
    return path


def _inputs(tmp_path, cat):
    """6 queries (one per shape) with distances such that query 1 is 'lost' (truth 2nd with A, 6th with B) and
    query 4 'gained' (truth 3rd with A, 1st with B)."""
    queries = [(f"{cat}_q{i}", s, 30.0) for i, s in enumerate(SHAPES)]
    sketches = _image_set(tmp_path / cat / "sketches", queries, 50)
    gallery = _image_set(tmp_path / cat / "gallery", [(f"{s}_{az}", s, az) for s in SHAPES for az in (0, 30, 75)],
                         200, file=lambda image_id, shape_id: f"{shape_id}/az{int(image_id.split('_')[1]):03d}.png")
    schl = _image_set(tmp_path / cat / "schl", [(f"{s}_{t}", s, az) for s in SHAPES
                                                for t, az in (("az000o", 0), ("az030", 30), ("az180o", 180))], 150,
                      file=lambda image_id, shape_id: f"{shape_id}/{image_id.split('_')[1]}.png")  # as render_gallery
    truth = np.arange(6)
    a = np.tile(np.arange(1.0, 7.0), (6, 1))
    b = a.copy()
    for q in range(6):  # the truth first in both, but for the two made queries
        a[q, q], b[q, q] = 0.0, 0.0
    a[1, 1], b[1, 1] = 1.5, 9.0       # lost: 2nd with A, last with B
    a[4, 4], b[4, 4] = 2.5, 0.0       # gained: 3rd with A, 1st with B
    ids = [q for q, _, _ in queries]
    return (_npz(tmp_path / cat / "a.npz", a, truth, ids), _npz(tmp_path / cat / "b.npz", b, truth, ids), sketches,
            gallery, schl)


def test_figure_4_3_shows_the_lost_then_the_gained_query_of_each_category(tmp_path):
    inputs = {c: _inputs(tmp_path, c) for c in ("chair", "lamp")}
    out = tmp_path / "fig_4_3.png"
    shown = figure_4_3({c: v[:4] for c, v in inputs.items()}, out, seed=0, demo=True)
    assert [(r["category"], r["query"], r["kind"], r["exact"], r["rank_a"], r["rank_b"]) for r in shown] == [
        ("chair", "chair_q1", "lost", True, 2, 6), ("chair", "chair_q4", "gained", True, 3, 1),
        ("lamp", "lamp_q1", "lost", True, 2, 6), ("lamp", "lamp_q4", "gained", True, 3, 1)]
    assert_pixels_only(out)
    with Image.open(out) as im:  # 4 rows of 11 panels, wider than tall
        assert im.size[0] > 2 * im.size[1] > 0
    assert _overlapping_titles(fig_4_3_figure({"chair": inputs["chair"][:4]}, 0, demo=True)[0]) == []


def test_figure_b_2_shows_a_seeded_query_and_its_true_shapes_views(tmp_path):
    inputs = {c: _inputs(tmp_path, c) for c in ("chair", "lamp")}
    args = {c: (v[0], v[1], v[2], v[3], v[4]) for c, v in inputs.items()}
    shown = figure_b_2(args, tmp_path / "b2.png", seed=3, demo=False)
    qi = int(np.random.default_rng(3).integers(6))
    expected_a = {1: 2, 4: 3}.get(qi, 1)
    expected_b = {1: 6, 4: 1}.get(qi, 1)
    assert shown == [{"category": c, "query": f"{c}_q{qi}", "rank_preferred": expected_a,
                      "rank_schlachte": expected_b} for c in ("chair", "lamp")]
    assert figure_b_2(args, tmp_path / "again.png", seed=3, demo=False) == shown
    assert (tmp_path / "again.png").read_bytes() == (tmp_path / "b2.png").read_bytes()
    assert_pixels_only(tmp_path / "b2.png")
    fig, _ = fig_b_2_figure(args, 3, demo=True)
    views = [ax.get_title().split("\n")[-1] for ax in fig.axes]
    assert views[1:4] == ["azimuth 0°, perspective", "azimuth 30°, perspective", "azimuth 75°, perspective"]
    assert views[5:8] == ["azimuth 0°, orthographic", "azimuth 30°, perspective", "azimuth 180°, orthographic"]
    assert _overlapping_titles(fig) == []


def test_view_figures_refuse_outputs_of_different_queries(tmp_path):
    npz_a, npz_b, sketches, gallery, _ = _inputs(tmp_path, "chair")
    other = np.load(npz_b)
    np.savez(tmp_path / "other.npz", **{k: other[k] for k in other.files if k != "query_ids"},
             query_ids=np.array([f"x{i}" for i in range(6)]))
    with pytest.raises(ValueError, match="rank different queries"):
        figure_4_3({"chair": (npz_a, tmp_path / "other.npz", sketches, gallery)}, tmp_path / "f.png", 0, False)
