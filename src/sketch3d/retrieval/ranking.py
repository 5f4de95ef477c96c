"""Ranking: query x shape distances (MSE reduced over each shape's views) and the rank of each query's true
shape (or, Table B.1, of its true view). Shared by `retrieve` and the grids, apart from the methods' feature
loading so that neither reruns when the other's code changes."""
from __future__ import annotations

import numpy as np
import pandas as pd


def shape_distances(
    query_feats: np.ndarray,
    gallery_feats: np.ndarray,
    gallery_shapes: list[str],
    chunk_size: int,
    how: str,
) -> tuple[np.ndarray, list[str]]:
    """Query x shape distance matrix (MSE, reduced over each shape's views) and the shape order."""
    from sketch3d.retrieval.distances import shape_mse

    shape_ids = sorted(set(gallery_shapes))
    position = {s: i for i, s in enumerate(shape_ids)}
    view_shape = np.array([position[s] for s in gallery_shapes])
    return shape_mse(query_feats, gallery_feats, view_shape, len(shape_ids), how=how, chunk_size=chunk_size), shape_ids


def rank_queries(q: np.ndarray, g: np.ndarray, queries: pd.DataFrame, gallery: pd.DataFrame, chunk_size: int,
                 reduction: str, where: str = "") -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    """Distances of the query features ``q`` to the shapes of the gallery features ``g`` (rows as the image
    sets' indexes list them), and the rank of each query's true shape: (dist, shape_ids, truth, ranks)."""
    from sketch3d.retrieval.metrics import rank_of_truth

    dist, shape_ids = shape_distances(q, g, gallery["shape_id"].tolist(), chunk_size, reduction)
    position = {s: i for i, s in enumerate(shape_ids)}
    unknown = sorted(set(queries["shape_id"]) - set(position))
    if unknown:
        raise ValueError(f"{where}: sketches of shapes absent from the gallery: {unknown[:5]}")
    truth = np.array([position[s] for s in queries["shape_id"]])
    return dist, shape_ids, truth, rank_of_truth(dist, truth)


def rank_views(q: np.ndarray, g: np.ndarray, queries: pd.DataFrame, gallery: pd.DataFrame, chunk_size: int,
               where: str = "") -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    """Thesis B.2 / Table B.1: rank the gallery's *views* (not shapes) for each query; the truth is the view of
    the true shape at the sketch's azimuth. Views are ordered by image id (the tie rule's column order)."""
    from sketch3d.retrieval.distances import pairwise_mse
    from sketch3d.retrieval.metrics import rank_of_truth

    order = np.argsort(gallery["image_id"].to_numpy(), kind="stable")
    gallery = gallery.iloc[order].reset_index(drop=True)
    dist = pairwise_mse(q, np.asarray(g)[order], chunk_size)
    key = {(s, round(float(a), 3)): i for i, (s, a) in enumerate(zip(gallery["shape_id"], gallery["azimuth"]))}
    truth, missing = [], []
    for s, a in zip(queries["shape_id"], queries["azimuth"]):
        i = key.get((s, round(float(a), 3)))
        missing += [] if i is not None else [(s, a)]
        truth.append(-1 if i is None else i)
    if missing:
        raise ValueError(f"{where}: view-level accuracy needs the gallery view at each sketch's azimuth; missing "
                         f"{missing[:5]} ({len(missing)} sketches): render the sketch views (render.view_sets)")
    truth = np.array(truth)
    return dist, gallery["image_id"].tolist(), truth, rank_of_truth(dist, truth)
