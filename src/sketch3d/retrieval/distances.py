"""Mean squared error between feature rows, and its reduction over a shape's views.

Layer-3 features have 200704 values: broadcasting ``q[:, None] - g[None]``
would need nq * ng * D floats (over 24 GB for 120 x 200). Instead
``|q|^2 + |g|^2 - 2 q.g`` is computed with matrix products over gallery
chunks, in float64 so that the cancellation stays far below the distances.

The same ranking on every CPU. BLAS picks its kernels per CPU (OpenBLAS has
one for AVX2, another for AVX-512, ...) and they sum in different orders, so
the last bits of an entry depend on the machine. Whatever the order, the error
of ``|q|^2 + |g|^2 - 2 q.g`` is below ``_bound_coeff(D) * (|q|^2 + |g|^2)``
(the dot-product bound gamma_D, with a factor 2 to spare). Wherever two
candidates of a row (two shapes in :func:`shape_mse`, two gallery views in
:func:`pairwise_mse`) lie within ``_WINDOW`` times that bound of each other,
their views are recomputed from the features in a fixed order that no CPU
feature changes (:func:`exact_sq_dist`). Candidates further apart are ordered
alike by every machine, since their gap exceeds any BLAS error. So for the
same features every CPU gives the same ranking, and near or exact ties get
the same value; values far from any tie may differ in their last bits.

A shape's distance over its views (:func:`shape_mse`): "min" is eq. 4.1, the
minimum of the per-view distances; "mean" is the thesis's "avg" (Table 4.3,
B.4: "averaging features from all views"): the shape is represented by the
mean of its view features, and its distance is the one MSE to that mean (not
the mean of the per-view distances, which differs from it by the spread of
the views around their mean). The mean features are summed in float64 in
gallery row order and divided by the count: elementwise IEEE operations, the
same on every CPU, so the tie recomputation above holds for them unchanged.
"""
from __future__ import annotations

import mmap

import numpy as np

__all__ = ["pairwise_mse", "shape_mse", "view_mean_features", "reduce_over_views", "exact_sq_dist"]

_QUERY_BLOCK_BYTES = 512 * 2**20  # float64 query rows upcast at once
_EXACT_BLOCK_BYTES = 64 * 2**20  # float64 gallery rows upcast at once when recomputing ties
_UNIT_ROUNDOFF = 2.0**-53
_WINDOW = 8.0  # candidates closer than this many error bounds are recomputed


def _as_2d(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"pairwise_mse: {name} must be a 2-D [n, D] array, got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"pairwise_mse: {name} must be numeric, got dtype {x.dtype}")
    return x


def _check_pair(queries: np.ndarray, gallery: np.ndarray, chunk_size: int) -> tuple[np.ndarray, np.ndarray]:
    queries = _as_2d(queries, "queries")
    gallery = _as_2d(gallery, "gallery")
    if queries.shape[1] != gallery.shape[1]:
        raise ValueError(
            f"pairwise_mse: feature sizes differ: queries D={queries.shape[1]}, gallery D={gallery.shape[1]}; "
            "were they extracted with the same layer?"
        )
    if chunk_size < 1:
        raise ValueError(f"pairwise_mse: chunk_size must be >= 1, got {chunk_size} (retrieval.chunk_size)")
    return queries, gallery


def _release_rows(x: np.ndarray, start: int, stop: int) -> None:
    """Unmap the pages of rows ``start:stop`` of a read-only memory map from this process.

    The data stay in the page cache (a later read maps them again), but they no longer count
    in the process's resident memory, so reading a gallery larger than RAM chunk by chunk keeps
    the peak RSS at about one chunk. Anything but a C-contiguous read-only ``np.memmap`` (or a
    view of one) is left alone; the values read are never changed.
    """
    base = x
    while base is not None and not isinstance(base, np.memmap):
        base = base.base
    if base is None or getattr(base, "mode", None) != "r" or not isinstance(getattr(base, "_mmap", None), mmap.mmap):
        return
    if not x.flags.c_contiguous or stop <= start:
        return
    mm = base._mmap
    origin = np.frombuffer(mm, dtype=np.uint8).ctypes.data
    lo = x.ctypes.data + start * x.strides[0] - origin
    hi = x.ctypes.data + min(stop, x.shape[0]) * x.strides[0] - origin
    lo = -(-lo // mmap.PAGESIZE) * mmap.PAGESIZE  # whole pages inside the rows only
    hi = hi // mmap.PAGESIZE * mmap.PAGESIZE
    if 0 <= lo < hi <= len(mm) and hasattr(mm, "madvise"):
        mm.madvise(mmap.MADV_DONTNEED, lo, hi - lo)


def _sq_norms(x: np.ndarray, chunk: int) -> np.ndarray:
    out = np.empty(x.shape[0], dtype=np.float64)
    for s in range(0, x.shape[0], chunk):
        block = np.asarray(x[s : s + chunk], dtype=np.float64)
        out[s : s + chunk] = np.einsum("ij,ij->i", block, block)
    return out


def _blas_ssd(queries: np.ndarray, gallery: np.ndarray, chunk_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sums of squared differences [nq, ng] by matrix products, and the squared norms of both sides."""
    nq, d = queries.shape
    ng = gallery.shape[0]
    out = np.empty((nq, ng), dtype=np.float64)
    g_norm = np.empty(ng, dtype=np.float64)
    if nq == 0 or ng == 0:
        return out, np.zeros(nq), g_norm
    q_block = max(1, min(nq, _QUERY_BLOCK_BYTES // (8 * max(d, 1))))
    q_norm = _sq_norms(queries, q_block)
    q64 = np.asarray(queries, dtype=np.float64) if q_block == nq else None
    for gs in range(0, ng, chunk_size):
        g = np.asarray(gallery[gs : gs + chunk_size], dtype=np.float64)
        g_norm[gs : gs + chunk_size] = np.einsum("ij,ij->i", g, g)
        for qs in range(0, nq, q_block):
            q = q64[qs : qs + q_block] if q64 is not None else np.asarray(queries[qs : qs + q_block], np.float64)
            block = q @ g.T
            block *= -2.0
            block += q_norm[qs : qs + q_block, None]
            block += g_norm[None, gs : gs + chunk_size]
            out[qs : qs + q_block, gs : gs + chunk_size] = block
        _release_rows(gallery, gs, gs + chunk_size)
    np.maximum(out, 0.0, out=out)  # rounding can leave tiny negatives for identical rows
    return out, q_norm, g_norm


def _bound_coeff(d: int) -> float:
    """c with |computed - exact| <= c * (|q|^2 + |g|^2) for the BLAS sum of squared differences.

    Each of |q|^2, |g|^2 and q.g is off by at most gamma_D = D u / (1 - D u) of its
    absolute sum, whatever the summation order (|q.g| terms <= (|q|^2 + |g|^2) / 2),
    and the two final additions add 4u: 2 gamma_D + 4u < 2 (D + 2) u (1 + D u).
    Twice that is returned.
    """
    return 4.0 * (d + 4) * _UNIT_ROUNDOFF * (1.0 + 2.0 * d * _UNIT_ROUNDOFF)


def _tree_sum(x: np.ndarray) -> np.ndarray:
    """Row sums of a [k, n] float64 array by pairwise (binary tree) addition in a fixed order.

    At each level element 2i is added to element 2i+1 (an odd row length gets a +0.0),
    with elementwise IEEE additions only, so no SIMD width, library or CPU changes the result.
    """
    while x.shape[1] > 1:
        if x.shape[1] % 2:
            x = np.concatenate([x, np.zeros((x.shape[0], 1))], axis=1)
        x = x[:, 0::2] + x[:, 1::2]
    return x[:, 0] if x.shape[1] else np.zeros(x.shape[0])


def exact_sq_dist(query: np.ndarray, gallery_rows: np.ndarray) -> np.ndarray:
    """[k] sum of squared differences between one query row and k gallery rows, CPU-independent.

    Differences and squares in float64 (each an exactly rounded operation; exact for float16
    features), summed by :func:`_tree_sum`. Relative error below (log2(D) + 3) * 2^-53.
    """
    q = np.asarray(query, dtype=np.float64)
    out = np.empty(len(gallery_rows), dtype=np.float64)
    d = max(q.shape[0], 1)
    step = max(1, _EXACT_BLOCK_BYTES // (8 * d))
    for s in range(0, len(gallery_rows), step):
        diff = np.asarray(gallery_rows[s : s + step], dtype=np.float64) - q[None, :]
        out[s : s + step] = _tree_sum(diff * diff)
    return out


def _group_max(x: np.ndarray, view_shape: np.ndarray, n_shapes: int) -> np.ndarray:
    out = np.full((x.shape[0], n_shapes), -np.inf)
    np.maximum.at(out.T, view_shape, x.T)
    return out


def _near_ties(value: np.ndarray, window: np.ndarray) -> np.ndarray:
    """[nq, n] True where an entry lies within ``window[i]`` of another entry of its row."""
    flag = np.zeros(value.shape, dtype=bool)
    if value.shape[1] < 2:
        return flag
    order = np.argsort(value, axis=1, kind="stable")
    close = np.diff(np.take_along_axis(value, order, axis=1), axis=1) <= window[:, None]
    sorted_flag = np.zeros(value.shape, dtype=bool)
    sorted_flag[:, :-1] |= close
    sorted_flag[:, 1:] |= close
    np.put_along_axis(flag, order, sorted_flag, axis=1)
    return flag


def _shape_ssd(queries, gallery, view_shape, n_shapes, chunk_size, exact_ties):
    """[nq, n_shapes] sums of squared differences, minimum over each shape's views, near ties recomputed.

    ``view_shape`` None: every gallery row is its own shape (no reduction). The mean over views is not
    reduced here: :func:`shape_mse` averages the features first.
    """
    ssd, q_norm, g_norm = _blas_ssd(queries, gallery, chunk_size)
    value = ssd.copy() if view_shape is None else reduce_over_views(ssd, view_shape, n_shapes, how="min")
    if not exact_ties or value.size == 0:
        return value
    bound = _bound_coeff(queries.shape[1]) * (q_norm[:, None] + g_norm[None, :])
    if view_shape is None:
        view_shape, shape_bound = np.arange(gallery.shape[0]), bound
    else:
        shape_bound = _group_max(bound, view_shape, n_shapes)
    window = _WINDOW * shape_bound.max(axis=1)
    tied = _near_ties(value, window)
    for i in np.flatnonzero(tied.any(axis=1)):
        views = np.flatnonzero(tied[i][view_shape])
        # only the views that can be their shape's minimum on some machine
        views = views[ssd[i, views] - value[i, view_shape[views]] <= window[i]]
        exact = exact_sq_dist(queries[i], gallery[views])
        row = np.full(n_shapes, np.inf)
        np.minimum.at(row, view_shape[views], exact)
        shapes = np.flatnonzero(tied[i])
        value[i, shapes] = row[shapes]
    return value


def pairwise_mse(queries: np.ndarray, gallery: np.ndarray, chunk_size: int = 64, exact_ties: bool = True) -> np.ndarray:
    """[nq, ng] float64 matrix of mean((q - g)^2) over the D features.

    Inputs may be float16/float32/float64 arrays or memory maps; only
    ``chunk_size`` gallery rows (and a bounded block of query rows) are upcast
    at a time. With ``exact_ties`` (default), entries near another entry of their
    row are recomputed CPU-independently (module docstring), so the order of every
    row is the same on every machine; ``False`` keeps the plain BLAS values.
    """
    queries, gallery = _check_pair(queries, gallery, chunk_size)
    ssd = _shape_ssd(queries, gallery, None, gallery.shape[0], chunk_size, exact_ties)
    return ssd / queries.shape[1]


def shape_mse(
    queries: np.ndarray,
    gallery: np.ndarray,
    view_shape: np.ndarray,
    n_shapes: int,
    how: str = "min",
    chunk_size: int = 64,
    exact_ties: bool = True,
) -> np.ndarray:
    """[nq, n_shapes] MSE between each query and each shape over the shape's views (``view_shape[j]``: the
    shape of gallery row j).

    ``how="min"`` (eq. 4.1): ``reduce_over_views(pairwise_mse(queries, gallery), view_shape, n_shapes)``;
    near ties are found and recomputed between shapes rather than between views, recomputing only the views
    that matter. ``how="mean"`` (the thesis's "avg", Table 4.3, B.5): ``pairwise_mse(queries,
    view_mean_features(gallery, view_shape, n_shapes))``, the MSE to the mean of the shape's view features.
    """
    queries, gallery = _check_pair(queries, gallery, chunk_size)
    view_shape = _check_view_shape(view_shape, gallery.shape[0], n_shapes, "shape_mse")
    if how == "mean":
        means = view_mean_features(gallery, view_shape, n_shapes)
        return _shape_ssd(queries, means, None, n_shapes, chunk_size, exact_ties) / queries.shape[1]
    if how != "min":
        raise ValueError(f"shape_mse: how={how!r} is not 'min' or 'mean' (retrieval.view_reduction)")
    return _shape_ssd(queries, gallery, view_shape, n_shapes, chunk_size, exact_ties) / queries.shape[1]


def view_mean_features(gallery: np.ndarray, view_shape: np.ndarray, n_shapes: int) -> np.ndarray:
    """[n_shapes, D] float64: the mean of each shape's view features (thesis B.4 "averaging features from all
    views").

    Rows are added one at a time in gallery order, then divided by the shape's view count: elementwise IEEE
    operations in a fixed order, so the result is the same on every CPU. Only one gallery row is upcast at a
    time (the gallery may be a memory map).
    """
    gallery = _as_2d(gallery, "gallery")
    view_shape = _check_view_shape(view_shape, gallery.shape[0], n_shapes, "view_mean_features")
    out = np.zeros((n_shapes, gallery.shape[1]), dtype=np.float64)
    for j, s in enumerate(view_shape.tolist()):
        out[s] += np.asarray(gallery[j], dtype=np.float64)
    out /= np.bincount(view_shape, minlength=n_shapes)[:, None].astype(np.float64)
    return out


def _check_view_shape(view_shape: np.ndarray, n_views: int, n_shapes: int, where: str) -> np.ndarray:
    """``view_shape`` as an integer array with one shape index in 0..n_shapes-1 per gallery row, every shape
    having a view; errors say which."""
    view_shape = np.asarray(view_shape)
    if view_shape.shape != (n_views,):
        raise ValueError(f"{where}: view_shape has shape {view_shape.shape}, expected ({n_views},): "
                         "one shape index per gallery row")
    if view_shape.size and not np.issubdtype(view_shape.dtype, np.integer):
        raise ValueError(f"{where}: view_shape must hold integer shape indices, got {view_shape.dtype}")
    view_shape = view_shape.astype(np.int64)
    if view_shape.size and (view_shape.min() < 0 or view_shape.max() >= n_shapes):
        raise ValueError(f"{where}: view_shape values must lie in 0..{n_shapes - 1}")
    counts = np.bincount(view_shape, minlength=n_shapes)
    if (counts == 0).any():
        missing = np.flatnonzero(counts == 0)[:5].tolist()
        raise ValueError(f"{where}: shape index(es) {missing} have no gallery views; render them first")
    return view_shape


def reduce_over_views(dist: np.ndarray, view_shape: np.ndarray, n_shapes: int, how: str = "min") -> np.ndarray:
    """[nq, n_shapes]: min (eq. 4.1) or mean of ``dist`` over each shape's gallery columns.

    ``view_shape[j]`` is the index (0..n_shapes-1) of the shape that gallery column j shows. The mean of
    *distances* is not the thesis's "avg" (that is the distance to the mean of the view *features*,
    :func:`shape_mse` with ``how="mean"``); it is kept as a plain reduction.
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
