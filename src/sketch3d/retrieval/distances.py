"""Mean squared error between feature rows, and its reduction over a shape's views.

Layer-3 features have 200704 values: broadcasting ``q[:, None] - g[None]``
would need nq * ng * D floats (over 24 GB for 120 x 200). Instead
``|q|^2 + |g|^2 - 2 q.g`` is computed with matrix products over gallery
chunks, in float64 so that the cancellation stays far below the distances.
"""
from __future__ import annotations

import numpy as np

__all__ = ["pairwise_mse", "reduce_over_views"]

_QUERY_BLOCK_BYTES = 512 * 2**20  # float64 query rows upcast at once


def _as_2d(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"pairwise_mse: {name} must be a 2-D [n, D] array, got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"pairwise_mse: {name} must be numeric, got dtype {x.dtype}")
    return x


def _sq_norms(x: np.ndarray, chunk: int) -> np.ndarray:
    out = np.empty(x.shape[0], dtype=np.float64)
    for s in range(0, x.shape[0], chunk):
        block = np.asarray(x[s : s + chunk], dtype=np.float64)
        out[s : s + chunk] = np.einsum("ij,ij->i", block, block)
    return out


def pairwise_mse(queries: np.ndarray, gallery: np.ndarray, chunk_size: int = 64) -> np.ndarray:
    """[nq, ng] float64 matrix of mean((q - g)^2) over the D features.

    Inputs may be float16/float32/float64 arrays or memory maps; only
    ``chunk_size`` gallery rows (and a bounded block of query rows) are upcast
    at a time.
    """
    queries = _as_2d(queries, "queries")
    gallery = _as_2d(gallery, "gallery")
    if queries.shape[1] != gallery.shape[1]:
        raise ValueError(
            f"pairwise_mse: feature sizes differ: queries D={queries.shape[1]}, gallery D={gallery.shape[1]}; "
            "were they extracted with the same layer?"
        )
    if chunk_size < 1:
        raise ValueError(f"pairwise_mse: chunk_size must be >= 1, got {chunk_size} (retrieval.chunk_size)")
    nq, d = queries.shape
    ng = gallery.shape[0]
    out = np.empty((nq, ng), dtype=np.float64)
    if nq == 0 or ng == 0:
        return out
    q_block = max(1, min(nq, _QUERY_BLOCK_BYTES // (8 * d)))
    q_norm = _sq_norms(queries, q_block)
    q64 = np.asarray(queries, dtype=np.float64) if q_block == nq else None
    for gs in range(0, ng, chunk_size):
        g = np.asarray(gallery[gs : gs + chunk_size], dtype=np.float64)
        g_norm = np.einsum("ij,ij->i", g, g)
        for qs in range(0, nq, q_block):
            q = q64[qs : qs + q_block] if q64 is not None else np.asarray(queries[qs : qs + q_block], np.float64)
            block = q @ g.T
            block *= -2.0
            block += q_norm[qs : qs + q_block, None]
            block += g_norm[None, :]
            out[qs : qs + q_block, gs : gs + chunk_size] = block
    np.maximum(out, 0.0, out=out)  # rounding can leave tiny negatives for identical rows
    out /= d
    return out


def reduce_over_views(dist: np.ndarray, view_shape: np.ndarray, n_shapes: int, how: str = "min") -> np.ndarray:
    """[nq, n_shapes]: min (thesis) or mean of ``dist`` over each shape's gallery columns.

    ``view_shape[j]`` is the index (0..n_shapes-1) of the shape that gallery column j shows.
    """
    dist = np.asarray(dist, dtype=np.float64)
    view_shape = np.asarray(view_shape)
    if dist.ndim != 2:
        raise ValueError(f"reduce_over_views: dist must be 2-D [nq, n_views], got shape {dist.shape}")
    if view_shape.shape != (dist.shape[1],):
        raise ValueError(
            f"reduce_over_views: view_shape has shape {view_shape.shape}, expected ({dist.shape[1]},): "
            "one shape index per gallery column"
        )
    if not np.issubdtype(view_shape.dtype, np.integer):
        raise ValueError(f"reduce_over_views: view_shape must hold integer shape indices, got {view_shape.dtype}")
    if view_shape.size and (view_shape.min() < 0 or view_shape.max() >= n_shapes):
        raise ValueError(f"reduce_over_views: view_shape values must lie in 0..{n_shapes - 1}")
    counts = np.bincount(view_shape, minlength=n_shapes)
    if (counts == 0).any():
        missing = np.flatnonzero(counts == 0)[:5].tolist()
        raise ValueError(f"reduce_over_views: shape index(es) {missing} have no gallery views; render them first")
    if how == "min":
        out = np.full((dist.shape[0], n_shapes), np.inf)
        np.minimum.at(out.T, view_shape, dist.T)
        return out
    if how == "mean":
        sums = np.zeros((dist.shape[0], n_shapes))
        np.add.at(sums.T, view_shape, dist.T)
        return sums / counts[None, :]
    raise ValueError(f"reduce_over_views: how={how!r} is not 'min' or 'mean' (retrieval.view_reduction)")
