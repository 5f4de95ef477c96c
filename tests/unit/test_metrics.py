"""rank_of_truth, accuracy_at_k and topk on hand-made rankings."""
from __future__ import annotations

import numpy as np
import pytest

from sketch3d.retrieval.metrics import accuracy_at_k, rank_of_truth, topk


def test_ranks_with_and_without_ties():
    dist = np.array(
        [
            [0.1, 0.5, 0.3, 0.9],  # truth 0 is best -> 0
            [0.1, 0.5, 0.3, 0.9],  # truth 3 is worst -> 3
            [0.2, 0.2, 0.2, 0.2],  # all tied -> worst, 3
            [0.4, 0.1, 0.4, 0.0],  # truth 0 tied with 2, below 1 and 3 -> 3
            [0.4, 0.1, 0.4, 0.5],  # truth 1 best -> 0
        ]
    )
    truth = np.array([0, 3, 1, 0, 1])
    np.testing.assert_array_equal(rank_of_truth(dist, truth), [0, 3, 3, 3, 0])


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
    truth = rng.integers(0, 20, 50)
    ranks = rank_of_truth(dist, truth)
    in_top5 = np.array([truth[i] in topk(dist, 5)[i] for i in range(50)])
    np.testing.assert_array_equal(ranks < 5, in_top5)


def test_errors():
    with pytest.raises(ValueError, match="truth indices"):
        rank_of_truth(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="k=5"):
        topk(np.zeros((2, 3)), 5)
    with pytest.raises(ValueError, match="non-empty"):
        accuracy_at_k(np.array([]))
