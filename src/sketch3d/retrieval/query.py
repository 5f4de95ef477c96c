"""Retrieve shapes for one sketch a user brings (our JSON, QuickDraw .ndjson, SVG, or a PNG)."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd


def sketch_image(path: Path, index: int = 0, size: int = 224):
    """Any supported sketch file (or a PNG/JPEG drawing) -> a size x size black-on-white PIL image."""
    from PIL import Image

    from sketch3d.data.sketch import rasterize
    from sketch3d.data.sketch_files import load_any_sketch

    if path.suffix.lower() in {".png", ".jpg", ".jpeg"}:
        return Image.open(path).convert("L").resize((size, size))
    return rasterize(load_any_sketch(path, index), size=size)


def rank_shapes(sketch, params: dict, gallery_feats: np.ndarray, gallery_shapes: list[str], box: int | None,
                top: int) -> list[tuple[str, float]]:
    """The sketch image (embedded at ``box``) against gallery features: its top-``top`` (shape, distance),
    in the one order of ``retrieval.metrics``."""
    from sketch3d.features.extract import embed_images
    from sketch3d.features.stage import feature_spec
    from sketch3d.retrieval.ranking import shape_distances
    from sketch3d.retrieval.metrics import ranking

    if top < 1:
        raise ValueError(f"--top must be >= 1, got {top}")
    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / "query.png"
        sketch.save(png)
        q = embed_images([png], feature_spec(params), box, Path(tmp) / "cache", batch_size=1,
                         dtype=params["features"]["dtype"], precision=params["features"].get("precision", "fp32"))
    if q.shape[1] != gallery_feats.shape[1]:
        raise ValueError(
            f"query features have {q.shape[1]} values but the gallery's have {gallery_feats.shape[1]}: "
            "use the same features settings as the gallery"
        )
    r = params["retrieval"]
    dist, shape_ids = shape_distances(q, gallery_feats, gallery_shapes, r["chunk_size"], r["view_reduction"])
    order = ranking(dist)[0, :top]
    return [(shape_ids[i], float(dist[0, i])) for i in order]


def query_sketch(
    sketch_path: Path,
    params: dict,
    gallery_dir: Path,
    gallery_features: Path,
    gallery_ids: Path,
    box: int,
    top: int = 5,
    index: int = 0,
) -> list[tuple[str, float]]:
    """Top-``top`` (shape_id, distance) for the sketch, against precomputed gallery features."""
    ids = pd.read_csv(gallery_ids, dtype={"image_id": str, "shape_id": str})
    g = np.load(gallery_features, mmap_mode="r")
    if len(ids) != g.shape[0]:
        raise ValueError(f"{gallery_features} has {g.shape[0]} rows but {gallery_ids} lists {len(ids)} images")
    return rank_shapes(sketch_image(Path(sketch_path), index), params, g, ids["shape_id"].tolist(), box, top)


def query_meshes(
    sketch_path: Path,
    params: dict,
    meshes_dir: Path,
    cache_dir: Path,
    top: int = 5,
    index: int = 0,
    figure: Path | None = None,
) -> tuple[list[tuple[str, float]], list]:
    """Rank the meshes of a user's folder for one sketch, with the OBB setting (both sides fitted to the
    optimal box). Returns the top-``top`` (file name, distance) and the files left out (``Skipped``), and
    with ``figure`` draws the sketch beside its top shapes. Renders and features are cached in ``cache_dir``.
    """
    from sketch3d.features.extract import embed_images
    from sketch3d.features.stage import feature_spec
    from sketch3d.retrieval.mesh_gallery import prepare_meshes, render_meshes
    from sketch3d.retrieval.methods import METHODS

    if top < 1:
        raise ValueError(f"--top must be >= 1, got {top}")
    cache_dir = Path(cache_dir)
    sketch = sketch_image(Path(sketch_path), index)  # a bad sketch fails here, before any rendering
    shapes, skipped = prepare_meshes(Path(meshes_dir), cache_dir)
    gallery = render_meshes(shapes, params["render"], cache_dir)
    method, r = METHODS["obb"], params["retrieval"]
    g = embed_images([Path(p) for p in gallery["path"]], feature_spec(params), method.gallery_box(r),
                     cache_dir / "features", batch_size=params["features"]["batch_size"],
                     dtype=params["features"]["dtype"], precision=params["features"].get("precision", "fp32"))
    results = rank_shapes(sketch, params, g, gallery["shape_id"].tolist(), method.sketch_box(r), top)
    if figure is not None:
        from sketch3d.retrieval.figures import query_figure

        query_figure(sketch, results, gallery, Path(figure), demo=params["profile"] == "demo")
    return results, skipped
