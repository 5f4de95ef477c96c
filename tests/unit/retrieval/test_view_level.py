"""Table B.1: ranking a gallery's views; a hit is the true shape's view at the sketch's azimuth."""
import numpy as np
import pandas as pd
import pytest

from sketch3d.retrieval.ranking import rank_views


def _sets(rng):
    shapes, azimuths = ["s1", "s0"], [30, 0, 75]
    gallery = pd.DataFrame([{"image_id": f"{s}_az{a:03d}", "shape_id": s, "azimuth": a}
                            for s in shapes for a in azimuths])
    queries = pd.DataFrame({"image_id": ["q0", "q1", "q2"], "shape_id": ["s0", "s1", "s0"], "azimuth": [75, 0, 30.0]})
    return queries, gallery, rng.standard_normal((3, 16)), rng.standard_normal((6, 16))


def test_truth_is_the_view_at_the_sketch_azimuth_and_ranks_match_brute_force():
    queries, gallery, q, g = _sets(np.random.default_rng(0))
    dist, ids, truth, ranks = rank_views(q, g, queries, gallery, chunk_size=4)
    assert ids == sorted(gallery["image_id"])      # views in id order: the tie rule's column order
    assert [ids[t] for t in truth] == ["s0_az075", "s1_az000", "s0_az030"]
    by_id = {i: g[k] for k, i in enumerate(gallery["image_id"])}
    brute = np.array([[np.mean((q[i] - by_id[v]) ** 2) for v in ids] for i in range(3)])
    np.testing.assert_allclose(dist, brute, rtol=1e-12)
    assert list(ranks) == [int((brute[i] < brute[i, truth[i]]).sum()) for i in range(3)]


def test_a_missing_view_is_named():
    queries, gallery, q, g = _sets(np.random.default_rng(1))
    queries.loc[1, "azimuth"] = 45
    with pytest.raises(ValueError, match=r"\('s1', 45"):
        rank_views(q, g, queries, gallery, chunk_size=4)
