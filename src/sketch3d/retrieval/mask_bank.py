"""Stage 'mask_bank': features of randomly transformed training renderings, for learning a feature mask.

Thesis B.5: the mask is trained on line renderings of the training chairs (5 views
each), every batch augmented with a random affine transform: translation and a
change of the box side each within +-10% of the image, rotation within +-10
degrees. The backbone is frozen, so the pipeline embeds the augmented images once,
through the shared per-image feature cache, and training reads features only.

A *bank* replaces per-batch augmentation: ``copies`` augmented versions of each
rendering, each one of a seeded pool of ``pool`` random transforms (distinct per
rendering). With a pool, every transform embeds a batch of renderings together
(one random transform per image would embed one image at a time); more copies and
a larger pool approach per-batch augmentation. The bank is a ``.npy`` of shape
[shapes, views, copies, D] (read by memory map) and a CSV naming each row.

Disk: the thesis's 4475 chairs x 5 views take 18 GB per copy in float32, so the bank
is stored as ``retrieval.masks.augment.dtype`` (float16 by default; training reads
float32) and its embeddings bypass the shared feature cache (no other table reads them).
"""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from sketch3d.atomic import atomic_path
from sketch3d.features.transforms import Transform

log = logging.getLogger(__name__)

IMAGE_SIZE = 224


def augmentation_pool(rng: np.random.Generator, n: int, box: int, translate: float, rotate: float, scale: float,
                      size: int = IMAGE_SIZE) -> list[Transform]:
    """``n`` distinct random transforms: box side ``box`` +- ``scale`` x size, translation +- ``translate`` x size
    (whole pixels), rotation +- ``rotate`` degrees (steps of 0.5)."""
    if n < 1:
        raise ValueError(f"augmentation pool size must be >= 1, got {n} (retrieval.masks.augment.pool)")
    for name, v in (("translate", translate), ("scale", scale)):
        if not 0 <= v < 0.5:
            raise ValueError(f"retrieval.masks.augment.{name} must be in [0, 0.5) of the image, got {v}")
    out: dict[str, Transform] = {}
    for _ in range(100 * n):
        b = int(np.clip(round(box + rng.uniform(-scale, scale) * size), 8, size))
        tx, ty = (int(round(v)) for v in rng.uniform(-translate * size, translate * size, 2))
        rot = float(round(rng.uniform(-rotate, rotate) * 2) / 2)
        t = Transform(b, tx, ty, rot)
        out.setdefault(t.name, t)
        if len(out) == n:
            return list(out.values())
    raise ValueError(f"cannot draw {n} distinct transforms from these ranges; lower retrieval.masks.augment.pool")


def assign_copies(rng: np.random.Generator, n_images: int, copies: int, pool: int) -> np.ndarray:
    """[n_images, copies] pool indices, distinct within each image."""
    if not 1 <= copies <= pool:
        raise ValueError(f"copies ({copies}) must be between 1 and the pool size ({pool}) "
                         "(retrieval.masks.augment)")
    return np.stack([rng.choice(pool, size=copies, replace=False) for _ in range(n_images)]).astype(np.int64)


def mask_bank(gallery_dir: Path, params: dict, cache_dir: Path, out_npy: Path, out_ids: Path) -> tuple[int, ...]:
    """Write the bank of the renderings in ``gallery_dir`` (every shape with the same views); returns its shape."""
    from sketch3d.devices import claim_device
    from sketch3d.features.extract import embed_images
    from sketch3d.features.stage import feature_spec
    from sketch3d.imageset import by_shape, read_index

    index, shapes, views = by_shape(read_index(gallery_dir), str(gallery_dir))
    index = index.reset_index(drop=True)
    a = params["retrieval"]["masks"]["augment"]
    rng = np.random.default_rng([int(params["seed"]), 7])
    pool = augmentation_pool(rng, a["pool"], int(params["retrieval"]["obb_box"]), a["translate"], a["rotate"],
                             a["scale"])
    which = assign_copies(rng, len(index), a["copies"], len(pool))
    spec = feature_spec(params)
    f = params["features"]
    paths = [Path(p) for p in index["path"]]
    dtype = np.dtype(a.get("dtype", "float16"))
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    with claim_device() as device, atomic_path(out_npy) as tmp:
        bank = None
        for k, t in enumerate(pool):
            rows, cols = np.nonzero(which == k)
            if rows.size == 0:
                continue
            with tempfile.TemporaryDirectory(prefix="mask-bank-", dir=cache_dir) as scratch:
                feats = embed_images([paths[i] for i in rows], spec, t, Path(scratch), device=device,
                                     batch_size=f["batch_size"], dtype="float32",
                                     precision=f.get("precision", "fp32"))
            if bank is None:
                bank = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype,
                                                 shape=(len(shapes), views, a["copies"], feats.shape[1]))
            for r, c, x in zip(rows, cols, feats):
                bank[r // views, r % views, c] = x
            log.info("mask bank: transform %d/%d %s, %d images", k + 1, len(pool), t.name, rows.size)
        bank.flush()
        shape = bank.shape
        del bank
    ids = pd.DataFrame({
        "shape_id": np.repeat(index["shape_id"].to_numpy(), a["copies"]),
        "azimuth": np.repeat(index["azimuth"].to_numpy(), a["copies"]),
        "copy": np.tile(np.arange(a["copies"]), len(index)),
        "transform": [pool[k].name for k in which.reshape(-1)],
    })
    with atomic_path(out_ids) as tmp:
        ids.to_csv(tmp, index=False)
    return tuple(shape)
