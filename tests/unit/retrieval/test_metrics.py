"""ranking, rank_of_truth, accuracy_at_k and topk on hand-made rankings; one tie rule for all."""
from __future__ import annotations

import numpy as np
import pytest

from sketch3d.retrieval.metrics import accuracy_at_k, rank_of_truth, ranking, topk


def test_ranks_with_and_without_ties():
    dist = np.array(
        [
            [0.1, 0.5, 0.3, 0.9],  # truth 0 is best -> 0
            [0.1, 0.5, 0.3, 0.9],  # truth 3 is worst -> 3
            [0.2, 0.2, 0.2, 0.2],  # all tied: only column 0 comes first -> 1
            [0.4, 0.1, 0.4, 0.0],  # truth 0 tied with 2 (later column), behind 1 and 3 -> 2
            [0.4, 0.1, 0.4, 0.5],  # truth 1 best -> 0
            [0.4, 0.1, 0.4, 0.0],  # truth 2 tied with 0 (earlier column), behind 1 and 3 -> 3
        ]
    )
    truth = np.array([0, 3, 1, 0, 1, 2])
    np.testing.assert_array_equal(rank_of_truth(dist, truth), [0, 3, 1, 2, 0, 3])


def test_duplicate_shapes_rank_by_shape_order():
    # shapes 1 and 3 are the same model (equal distance to every query): the one earlier in
    # the sorted shape list comes first, for the metric and for the displayed order alike
    dist = np.array([[0.7, 0.25, 0.9, 0.25, 0.3]])
    assert ranking(dist).tolist() == [[1, 3, 4, 0, 2]]
    assert rank_of_truth(dist, np.array([1])).tolist() == [0]
    assert rank_of_truth(dist, np.array([3])).tolist() == [1]
    assert accuracy_at_k(rank_of_truth(dist, np.array([3])), ks=(1, 2)) == {1: 0.0, 2: 100.0}


def test_rank_is_position_in_ranking_with_many_ties():
    rng = np.random.default_rng(0)
    dist = rng.integers(0, 4, size=(60, 9)).astype(np.float64)  # ties everywhere
    dist[5] = -0.0
    dist[5, ::2] = 0.0  # -0.0 == 0.0: a tie, not an order
    order = ranking(dist)
    # independent: sort each row's (distance, column) pairs with Python's sort
    expected = [sorted(range(9), key=lambda j, r=row: (r[j], j)) for row in dist.tolist()]
    assert order.tolist() == expected
    for t in range(9):
        truth = np.full(60, t)
        ranks = rank_of_truth(dist, truth)
        np.testing.assert_array_equal(ranks, [row.index(t) for row in expected])
    for k in (1, 3, 9):
        np.testing.assert_array_equal(topk(dist, k), order[:, :k])


def test_accuracy_percent():
    ranks = np.array([0, 3, 3, 1, 0, 7, 4, 5])
    acc = accuracy_at_k(ranks, ks=(1, 5))
    assert acc == {1: pytest.approx(25.0), 5: pytest.approx(75.0)}
    assert accuracy_at_k(ranks, ks=[2]) == {2: pytest.approx(37.5)}


def test_topk_stable_order():
    dist = np.array([[0.3, 0.1, 0.3, 0.0, 0.3], [1.0, 1.0, 1.0, 1.0, 1.0]])
    np.testing.assert_array_equal(topk(dist, 3), [[3, 1, 0], [0, 1, 2]])


def test_consistency_rank_vs_topk():
    rng = np.random.default_rng(0)
    dist = rng.random((50, 20))
    dist[:, 7] = dist[:, 3]  # a duplicate shape
    truth = rng.integers(0, 20, 50)
    truth[:10] = 7
    ranks = rank_of_truth(dist, truth)
    for k in (1, 5):
        in_topk = np.array([truth[i] in topk(dist, k)[i] for i in range(50)])
        np.testing.assert_array_equal(ranks < k, in_topk)


def test_errors():
    with pytest.raises(ValueError, match="truth indices"):
        rank_of_truth(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="k=5"):
        topk(np.zeros((2, 3)), 5)
    with pytest.raises(ValueError, match="non-empty"):
        accuracy_at_k(np.array([]))
    with pytest.raises(ValueError, match="NaN"):
        ranking(np.array([[0.1, np.nan]]))
    with pytest.raises(ValueError, match="NaN"):
        rank_of_truth(np.array([[0.1, np.nan]]), np.array([0]))
    with pytest.raises(ValueError, match="2-D"):
        ranking(np.zeros(3))
