"""Retrieval ranks and accuracy at k (acc@1, acc@5 of the thesis).

One tie rule, used by every ordering of shapes in the package (acc@k, top-k,
the figures, ``sketch3d query``): shapes are ordered by distance, ascending, and
shapes at exactly the same distance by their column index, which is their
position in the sorted list of shape ids (``retrieval.ranking.shape_distances``).
This is a total order: :func:`ranking` lists it, :func:`rank_of_truth` gives the
true shape's position in it, so a figure shows exactly the ranking that acc@k
counts. Distances are compared as stored, so rank from the float64 matrix that
``retrieval.distances`` returns (it recomputes near ties exactly, so that no
CPU's BLAS rounding decides one); a float32 copy can merge close values into
ties. NaN distances are refused.

Beside acc@k, the rank-based numbers a retrieval researcher expects, from the
same 0-based ranks (:func:`rank_based`): each query has exactly one relevant
item (its true shape, or in Table B.1 its true view), so a query's average
precision is the precision at that item's 1-based rank r, 1/r: mAP equals the
mean reciprocal rank (MRR) here, and both are reported (in percent, like acc@k)
because a reader looks for either name. The median rank is 1-based (1: the
true shape first), the median of an even count the mean of the middle two.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

__all__ = ["ranking", "rank_of_truth", "accuracy_at_k", "topk", "average_precision", "mean_average_precision",
           "mean_reciprocal_rank", "median_rank", "rank_based"]


def _check_dist(dist: np.ndarray, name: str) -> np.ndarray:
    dist = np.asarray(dist)
    if dist.ndim != 2:
        raise ValueError(f"{name}: dist must be 2-D [n_queries, n_shapes], got shape {dist.shape}")
    if not np.issubdtype(dist.dtype, np.floating) and not np.issubdtype(dist.dtype, np.integer):
        raise ValueError(f"{name}: dist must be numeric, got dtype {dist.dtype}")
    if np.issubdtype(dist.dtype, np.floating) and np.isnan(dist).any():
        raise ValueError(f"{name}: dist contains NaN")
    return dist


def ranking(dist: np.ndarray) -> np.ndarray:
    """[nq, n_shapes] column indices of each row, best first: by distance, equal distances by column index."""
    dist = _check_dist(dist, "ranking")
    # a stable sort keeps equal keys in column order; unlike the default quicksort its
    # result is unique, whatever sorting kernel the CPU dispatches to
    return np.argsort(dist, axis=1, kind="stable")


def rank_of_truth(dist: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """0-based position of each query's true shape in :func:`ranking` of its row of ``dist`` [nq, n_shapes].

    rank = #(shapes strictly closer) + #(shapes at the same distance with a smaller column index).
    """
    dist = _check_dist(dist, "rank_of_truth")
    truth = np.asarray(truth)
    if truth.shape != (dist.shape[0],) or not np.issubdtype(truth.dtype, np.integer):
        raise ValueError(f"rank_of_truth: truth must be {dist.shape[0]} integer shape indices, got {truth.shape} {truth.dtype}")
    if truth.size and (truth.min() < 0 or truth.max() >= dist.shape[1]):
        raise ValueError(f"rank_of_truth: truth indices must lie in 0..{dist.shape[1] - 1}")
    rows = np.arange(dist.shape[0])
    true_d = dist[rows, truth][:, None]
    before = np.arange(dist.shape[1])[None, :] < truth[:, None]
    return (dist < true_d).sum(axis=1) + ((dist == true_d) & before).sum(axis=1)


def accuracy_at_k(ranks: np.ndarray, ks: Iterable[int] = (1, 5)) -> dict[int, float]:
    """Percentage of queries whose true shape is among the first k, for each k."""
    ranks = np.asarray(ranks)
    if ranks.ndim != 1 or ranks.size == 0:
        raise ValueError(f"accuracy_at_k: ranks must be a non-empty 1-D array, got shape {ranks.shape}")
    out: dict[int, float] = {}
    for k in ks:
        if int(k) < 1:
            raise ValueError(f"accuracy_at_k: k must be >= 1, got {k} (retrieval.topk)")
        out[int(k)] = float(100.0 * np.mean(ranks < int(k)))
    return out


def topk(dist: np.ndarray, k: int) -> np.ndarray:
    """[nq, k] the first k columns of :func:`ranking` (the tie rule of this module)."""
    dist = _check_dist(dist, "topk")
    if not 1 <= k <= dist.shape[1]:
        raise ValueError(f"topk: k={k} must be between 1 and the number of columns {dist.shape[1]}")
    return ranking(dist)[:, :k]


def _check_ranks(ranks: np.ndarray, name: str) -> np.ndarray:
    ranks = np.asarray(ranks)
    if ranks.ndim != 1 or ranks.size == 0 or not np.issubdtype(ranks.dtype, np.integer) or ranks.min() < 0:
        raise ValueError(f"{name}: ranks must be a non-empty 1-D array of 0-based integer ranks, got "
                         f"shape {ranks.shape} dtype {ranks.dtype}")
    return ranks


def average_precision(ranks: np.ndarray) -> np.ndarray:
    """Each query's average precision when its one relevant item is at 0-based ``ranks``: 1 / (rank + 1)."""
    return 1.0 / (_check_ranks(ranks, "average_precision") + 1.0)


def mean_average_precision(ranks: np.ndarray) -> float:
    """mAP in percent (one relevant item per query: equal to :func:`mean_reciprocal_rank`)."""
    return float(100.0 * np.mean(average_precision(ranks)))


def mean_reciprocal_rank(ranks: np.ndarray) -> float:
    """MRR in percent: the mean over queries of 1 / (1-based rank of the true item)."""
    return float(100.0 * np.mean(1.0 / (_check_ranks(ranks, "mean_reciprocal_rank") + 1.0)))


def median_rank(ranks: np.ndarray) -> float:
    """The median 1-based rank of the true item (1: first)."""
    return float(np.median(_check_ranks(ranks, "median_rank") + 1))


def rank_based(ranks: np.ndarray) -> dict[str, float]:
    """mAP, MRR (percent) and the median rank, as the metrics files store them."""
    return {"mAP": round(mean_average_precision(ranks), 4), "MRR": round(mean_reciprocal_rank(ranks), 4),
            "median_rank": median_rank(ranks)}
