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
    from sketch3d.features.extract import embed_images
    from sketch3d.features.stage import feature_spec
    from sketch3d.retrieval.evaluate import shape_distances
    from sketch3d.retrieval.metrics import ranking

    ids = pd.read_csv(gallery_ids, dtype={"image_id": str, "shape_id": str})
    g = np.load(gallery_features, mmap_mode="r")
    if len(ids) != g.shape[0]:
        raise ValueError(f"{gallery_features} has {g.shape[0]} rows but {gallery_ids} lists {len(ids)} images")
    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / "query.png"
        sketch_image(Path(sketch_path), index).save(png)
        q = embed_images([png], feature_spec(params), box, Path(tmp) / "cache", batch_size=1)
    if q.shape[1] != g.shape[1]:
        raise ValueError(
            f"query features have {q.shape[1]} values but the gallery's have {g.shape[1]}: "
            "use the same features settings as the gallery"
        )
    dist, shape_ids = shape_distances(q, g, ids["shape_id"].tolist(), 64, params["retrieval"]["view_reduction"])
    order = ranking(dist)[0, :top]  # the tie rule of retrieval.metrics
    return [(shape_ids[i], float(dist[0, i])) for i in order]
