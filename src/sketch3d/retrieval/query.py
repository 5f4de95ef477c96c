"""Retrieve shapes for one sketch a user brings (our JSON, QuickDraw .ndjson, SVG, or a PNG)."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd


def sketch_image(path: Path, index: int = 0, size: int = 224):
    """Any supported sketch file -> a size x size black-on-white PIL image."""
    from PIL import Image

    from sketch3d.data.sketch import load_any_sketch, rasterize

    if path.suffix.lower() in {".png", ".jpg", ".jpeg"}:
        return Image.open(path).convert("L").resize((size, size))
    if path.suffix.lower() == ".ndjson":
        from sketch3d.data.quickdraw import read_quickdraw

        drawings = read_quickdraw(path)
        if not 0 <= index < len(drawings):
            raise ValueError(f"{path} holds {len(drawings)} drawings; --index {index} is out of range")
        return rasterize(drawings[index], size=size)
    return rasterize(load_any_sketch(path), size=size)


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
    order = np.argsort(dist[0], kind="stable")[:top]
    return [(shape_ids[i], float(dist[0, i])) for i in order]
