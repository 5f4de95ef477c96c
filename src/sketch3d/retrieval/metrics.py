"""Retrieval ranks and accuracy at k (acc@1, acc@5 of the thesis)."""
from __future__ import annotations

from typing import Iterable

import numpy as np

__all__ = ["rank_of_truth", "accuracy_at_k", "topk"]


def rank_of_truth(dist: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """0-based rank of each query's true shape in its row of ``dist`` [nq, n_shapes].

    Ties count against the truth: rank = number of other shapes whose distance
    is <= the true one's, so a constant row gives the worst rank.
    """
    dist = np.asarray(dist, dtype=np.float64)
    truth = np.asarray(truth)
    if dist.ndim != 2:
        raise ValueError(f"rank_of_truth: dist must be 2-D [n_queries, n_shapes], got shape {dist.shape}")
    if truth.shape != (dist.shape[0],) or not np.issubdtype(truth.dtype, np.integer):
        raise ValueError(f"rank_of_truth: truth must be {dist.shape[0]} integer shape indices, got {truth.shape} {truth.dtype}")
    if truth.size and (truth.min() < 0 or truth.max() >= dist.shape[1]):
        raise ValueError(f"rank_of_truth: truth indices must lie in 0..{dist.shape[1] - 1}")
    if np.isnan(dist).any():
        raise ValueError("rank_of_truth: dist contains NaN")
    rows = np.arange(dist.shape[0])
    true_d = dist[rows, truth]
    return (dist <= true_d[:, None]).sum(axis=1) - 1


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
    """[nq, k] column indices of the k smallest distances per row; ties keep column order."""
    dist = np.asarray(dist)
    if dist.ndim != 2:
        raise ValueError(f"topk: dist must be 2-D, got shape {dist.shape}")
    if not 1 <= k <= dist.shape[1]:
        raise ValueError(f"topk: k={k} must be between 1 and the number of columns {dist.shape[1]}")
    return np.argsort(dist, axis=1, kind="stable")[:, :k]
