"""The trivial pixel matcher: box-fitted thumbnails compared as raw ink.

It gives readers a scale for the CLIP rows (with random weights CLIP does
about as well as this). Feed its features to ``pairwise_mse`` like CLIP's.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from sketch3d.features.box import load_image

__all__ = ["pixel_features", "thumbnail"]


def thumbnail(image: Image.Image, size: int) -> np.ndarray:
    """[size, size] float32 ink in [0, 1] (1 = black) of a grey image, area-averaged."""
    small = image.convert("L").resize((size, size), Image.Resampling.BOX)
    return (255.0 - np.asarray(small, dtype=np.float32)) / 255.0


def pixel_features(image_paths: list[Path], box: int | None, size: int = 28) -> np.ndarray:
    """[N, size*size] float32: each image fitted to ``box`` in 224x224 (None: as it is), then shrunk to ``size``."""
    if size < 1:
        raise ValueError(f"pixel_features: size must be >= 1, got {size} (retrieval.pixel_size)")
    out = np.empty((len(image_paths), size * size), dtype=np.float32)
    for i, path in enumerate(image_paths):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"pixel_features: image {path} does not exist")
        out[i] = thumbnail(load_image(path, box), size).reshape(-1)
    return out
