"""Embed images with the CLIP backbone, through the per-image feature cache.

Only images whose content (SHA-256) is not cached under the same settings are
embedded; identical files under different names are embedded once. Decoding and
box fitting of the next batch, and the cache writes of the previous one, run in
background threads while the network runs, so the stage keeps pace with a bare
forward pass.
"""
from __future__ import annotations

import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from sketch3d.atomic import atomic_path
from sketch3d.features.backbone import CLIP_MEAN, CLIP_STD, FeatureSpec, feature_dim, load_backbone
from sketch3d.features.cache import FeatureCache, hash_file
from sketch3d.features.transforms import Transform
from sketch3d.retrieval.box import to_grey

__all__ = ["embed_images", "prepare_batch"]

IMAGE_SIZE = 224


def as_transform(box: "Transform | int | None") -> Transform:
    """A transform, or a box (px, None: as it is) meaning just fitting to that box."""
    return box if isinstance(box, Transform) else Transform(box)


def load_transformed(path: str | Path, transform: Transform, size: int = IMAGE_SIZE) -> np.ndarray:
    """The grey image at ``path`` after ``transform``, as uint8 [size, size]; errors name the file."""
    from PIL import Image

    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            grey = to_grey(im)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ValueError(f"cannot read image {path}: {exc}") from exc
    try:
        return np.asarray(transform.apply(grey, size), dtype=np.uint8)
    except ValueError as exc:
        raise ValueError(f"image {path}: {exc}") from exc


def prepare_batch(paths: Sequence[Path], box: "Transform | int | None", pin: bool = False,
                  spec: FeatureSpec | None = None) -> torch.Tensor:
    """Normalised float32 [B, 3, 224, 224] batch in channels_last layout; ``box``: a transform, or a box.

    The normalisation is ``spec.normalisation``: CLIP's mean and std for CLIP networks, ImageNet's for
    torchvision's classifiers. Without ``spec``: CLIP's (the thesis's network).
    """
    transform = as_transform(box)
    grey = np.stack([load_transformed(p, transform) for p in paths])  # [B, H, W]
    m, s = spec.normalisation if spec is not None else (CLIP_MEAN, CLIP_STD)
    mean = torch.tensor(m).view(1, 1, 1, 3)
    std = torch.tensor(s).view(1, 1, 1, 3)
    # Grey is replicated to RGB by broadcasting into an NHWC buffer: that is channels_last memory.
    nhwc = (torch.from_numpy(grey).unsqueeze(-1).float() / 255.0 - mean) / std
    batch = nhwc.permute(0, 3, 1, 2)
    return batch.pin_memory() if pin else batch


def computation_version() -> str:
    """Code version of what turns an image file into a feature row: this module and all it imports
    (box fitting, the backbone, the torchvision shim); part of every cache key, so that cached
    features never outlive the code that computed them."""
    from sketch3d.codeversion import code_version

    return code_version(__name__)


def _check_dtype(dtype: str) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError(f"embed_images: dtype {dtype!r} is not a numpy dtype (features.dtype)") from exc
    if not np.issubdtype(dt, np.floating):
        raise ValueError(f"embed_images: dtype {dtype!r} must be a float type such as float16 (features.dtype)")
    return dt


@dataclass(frozen=True)
class _Job:
    """What one embed_images call embeds with, and where it caches."""

    spec: FeatureSpec
    transform: Transform
    cache: FeatureCache
    device: str
    batch_size: int
    dt: np.dtype
    progress: bool


def embed_images(
    image_paths: list[Path],
    spec: FeatureSpec,
    box: Transform | int | None,
    cache_dir: Path,
    device: str = "cpu",
    batch_size: int = 16,
    dtype: str = "float16",
    progress: bool = False,
    out_path: Path | None = None,
) -> np.ndarray:
    """[N, D] features of ``image_paths`` in input order (D = 200704 for RN101 layer3).

    Images are transformed by ``box`` (a :class:`Transform`, or a box size: fitted to it; None:
    used as they are, must be 224x224), embedded
    in batches of ``batch_size`` on ``device`` only if not cached in ``cache_dir``,
    and stored there as ``dtype``. With ``out_path`` the result is also written
    (atomically) to that ``.npy`` file and returned as a read-only memory map,
    so that large sets need not fit in memory.
    """
    if batch_size < 1:
        raise ValueError(f"embed_images: batch_size must be >= 1, got {batch_size} (features.batch_size)")
    dt = _check_dtype(dtype)
    paths = [Path(p) for p in image_paths]
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"embed_images: image {p} does not exist; render or rasterise it first")
    transform = as_transform(box)
    cache = FeatureCache(Path(cache_dir), f"{spec.key()}-{dt.name}-{computation_version()}", transform.name)
    job = _Job(spec, transform, cache, device, batch_size, dt, progress)
    dim = feature_dim(spec, IMAGE_SIZE)
    hashes = [hash_file(p) for p in paths]
    if out_path is not None:
        with atomic_path(out_path) as tmp:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dt, shape=(len(paths), dim))
            _fill(out, paths, hashes, job)
            out.flush()
            del out
        return np.load(out_path, mmap_mode="r")
    out = np.empty((len(paths), dim), dtype=dt)
    _fill(out, paths, hashes, job)
    return out


def _fill(out: np.ndarray, paths: list[Path], hashes: list[str], job: _Job) -> None:
    """Rows from the cache; the rest embedded (identical images once)."""
    rows: dict[str, list[int]] = {}
    for i, h in enumerate(hashes):
        rows.setdefault(h, []).append(i)
    missing: list[str] = []
    for h, idx in rows.items():
        cached = job.cache.get(h)
        if cached is None or cached.size != out.shape[1]:
            missing.append(h)
        else:
            out[idx] = cached.reshape(-1)
    if not missing:
        return
    _embed_missing(out, missing, rows, paths, job)


def _embed_missing(
    out: np.ndarray, missing: list[str], rows: dict[str, list[int]], paths: list[Path], job: _Job
) -> None:
    spec, transform, cache, device, batch_size, dt = (job.spec, job.transform, job.cache, job.device,
                                                      job.batch_size, job.dt)
    model = load_backbone(spec, device)
    model = model.to(memory_format=torch.channels_last)
    on_gpu = torch.device(device).type == "cuda"
    batches = [missing[s : s + batch_size] for s in range(0, len(missing), batch_size)]
    bar = None
    if job.progress:
        from tqdm import tqdm

        bar = tqdm(total=len(missing), desc=f"features {transform.name}", unit="img", file=sys.stderr)

    def prep(batch: list[str]) -> torch.Tensor:
        return prepare_batch([paths[rows[h][0]] for h in batch], transform, pin=on_gpu, spec=spec)

    def store(batch: list[str], feats: np.ndarray) -> None:
        for h, f in zip(batch, feats):
            cache.put(h, f)

    writes: list[Future] = []
    with ThreadPoolExecutor(max_workers=1) as reader, ThreadPoolExecutor(max_workers=1) as writer:
        nxt = reader.submit(prep, batches[0])
        for b, batch in enumerate(batches):
            x = nxt.result()
            if b + 1 < len(batches):
                nxt = reader.submit(prep, batches[b + 1])
            with torch.inference_mode():
                y = model(x.to(device, non_blocking=True))
                feats = y.reshape(y.shape[0], -1).to(torch.float32 if dt.itemsize > 2 else torch.float16)
                feats = feats.cpu().numpy().astype(dt, copy=False)
            for h, f in zip(batch, feats):
                out[rows[h]] = f
            writes.append(writer.submit(store, batch, feats))
            if bar is not None:
                bar.update(len(batch))
        for w in writes:
            w.result()  # re-raise any write error
    if bar is not None:
        bar.close()
