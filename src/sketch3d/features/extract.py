"""Embed images with the CLIP backbone, through the per-image feature cache.

Only images whose content (SHA-256) is not cached under the same settings are
embedded; identical files under different names are embedded once. Decoding and
box fitting of the next batch, and the cache writes of the previous one, run in
background threads while the network runs, so the stage keeps pace with a bare
forward pass.

Speed in fp32 (measured by ``benchmarks/bench_retrieval_cost.py``): every BatchNorm is
folded into the convolution before it (torch's ``fuse_conv_bn_eval``; the pairs are found
by tracing the network's data flow with ``torch.fx``), the network and the batches are
channels_last and run under ``torch.inference_mode``. Folding moves features by ~1e-6
relative; TorchScript freezing was about as fast but costs ~25 s per build.

``precision`` (``features.precision``): ``fp32`` (default), ``bf16`` (autocast, CPU or GPU;
fast only on CPUs with native bf16, e.g. AVX512-BF16 or AMX) or ``fp16`` (autocast, GPU
only). It is part of the cache key.
"""
from __future__ import annotations

import contextlib
import logging
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from sketch3d.atomic import atomic_path
from sketch3d.features.backbone import CLIP_MEAN, CLIP_STD, FeatureSpec, feature_dim, load_backbone
from sketch3d.features.cache import FeatureCache, hash_file, settings_key
from sketch3d.features.transforms import Transform
from sketch3d.features.box import read_grey

__all__ = ["PRECISIONS", "embed_images", "inference_model", "prepare_batch"]

log = logging.getLogger(__name__)

IMAGE_SIZE = 224
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def as_transform(box: "Transform | int | None") -> Transform:
    """A transform, or a box (px, None: as it is) meaning just fitting to that box."""
    return box if isinstance(box, Transform) else Transform(box)


def load_transformed(path: str | Path, transform: Transform, size: int = IMAGE_SIZE) -> np.ndarray:
    """The grey image at ``path`` after ``transform``, as uint8 [size, size]; errors name the file."""
    grey = read_grey(path)
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


def _check_dtype(dtype: str) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError(f"embed_images: dtype {dtype!r} is not a numpy dtype (features.dtype)") from exc
    if not np.issubdtype(dt, np.floating):
        raise ValueError(f"embed_images: dtype {dtype!r} must be a float type such as float16 (features.dtype)")
    return dt


def _check_precision(precision: str, device: str) -> None:
    """Refuse a precision the device cannot run (before anything is embedded)."""
    if precision not in PRECISIONS:
        raise ValueError(f"embed_images: precision {precision!r} is not one of {sorted(PRECISIONS)} "
                         "(features.precision)")
    on_gpu = torch.device(device).type == "cuda"
    if precision == "fp16" and not on_gpu:
        raise ValueError(f"embed_images: precision 'fp16' needs a CUDA device, got {device!r}; "
                         "use 'bf16' or 'fp32' on a CPU (features.precision)")
    if precision == "bf16" and on_gpu and not torch.cuda.is_bf16_supported():
        raise ValueError(f"embed_images: GPU {device} has no bf16 support; use 'fp16' or 'fp32' "
                         "(features.precision)")
    if precision == "bf16" and not on_gpu and not _cpu_has_bf16():
        log.warning("features.precision bf16: this CPU has no native bf16 (AVX512-BF16/AMX); autocast emulates "
                    "it and runs slower than fp32")


def _cpu_has_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def fold_batchnorm(model: torch.nn.Module) -> int:
    """Fold, in place, every eval-mode BatchNorm2d that only follows a Conv2d into that convolution
    (the BatchNorm becomes an Identity); returns how many were folded.

    The pairs come from the data flow traced by ``torch.fx`` (parts without a BatchNorm, such as attention
    pooling, are not traced into); a network that cannot be traced is left as it is. Hooks on ``model``
    and its structure are kept; only the convolutions' weights and the BatchNorms change.
    """
    from torch.fx import Tracer
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    class _Tracer(Tracer):
        def is_leaf_module(self, m: torch.nn.Module, name: str) -> bool:
            # parts without a BatchNorm (attention pooling, ...) are not traced into
            return super().is_leaf_module(m, name) or not any(
                isinstance(x, torch.nn.BatchNorm2d) for x in m.modules())

    if model.training:
        raise ValueError("fold_batchnorm: the model must be in eval mode")
    try:
        graph = _Tracer().trace(model)
    except Exception as exc:  # noqa: BLE001 - fx raises many types; an untraceable net just stays unfolded
        log.info("features: BatchNorm not folded (%s: %s)", type(exc).__name__, exc)
        return 0
    pairs = []
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(model.get_submodule(node.target), torch.nn.BatchNorm2d):
            continue
        src = node.args[0]
        if (isinstance(src, torch.fx.Node) and src.op == "call_module" and len(src.users) == 1
                and isinstance(model.get_submodule(src.target), torch.nn.Conv2d)):
            pairs.append((src.target, node.target))
    for conv, bn in pairs:
        fused = fuse_conv_bn_eval(model.get_submodule(conv), model.get_submodule(bn))
        model.set_submodule(conv, fused.requires_grad_(False))
        model.set_submodule(bn, torch.nn.Identity())
    return len(pairs)


# The last network built, kept for the process: a search (retrieval_grid) or a features job embeds under many
# transforms, one embed_images call each, and a build costs more than embedding a small set (RN101 on a CPU core:
# ~2 s to construct, ~0.5 s to read 0.5 GB of weights and fold). One entry: two networks of ~0.5 GB each are never
# needed at once. The model is used under inference_mode only, so sharing it is safe.
_BUILT: dict[tuple[FeatureSpec, str], torch.nn.Module] = {}


def inference_model(spec: FeatureSpec, device: str = "cpu") -> torch.nn.Module:
    """The backbone of ``spec`` as the feature stage runs it: BatchNorm folded, channels_last; built once per
    process for the same (spec, device) (the weights file's bytes are part of neither: a job reads one file)."""
    key = (spec, str(device))
    if key not in _BUILT:
        _BUILT.clear()
        model = load_backbone(spec, device)
        fold_batchnorm(model)
        _BUILT[key] = model.to(memory_format=torch.channels_last)
    return _BUILT[key]


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
    precision: str = "fp32"


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
    precision: str = "fp32",
) -> np.ndarray:
    """[N, D] features of ``image_paths`` in input order (D = 200704 for RN101 layer3).

    Images are transformed by ``box`` (a :class:`Transform`, or a box size: fitted to it; None:
    used as they are, must be 224x224), embedded
    in batches of ``batch_size`` on ``device`` only if not cached in ``cache_dir``,
    and stored there as ``dtype``. With ``out_path`` the result is also written
    (atomically) to that ``.npy`` file and returned as a read-only memory map,
    so that large sets need not fit in memory. ``precision``: ``fp32``, ``bf16`` or
    ``fp16`` (GPU only) arithmetic in the network (module doc); part of the cache key.
    """
    if batch_size < 1:
        raise ValueError(f"embed_images: batch_size must be >= 1, got {batch_size} (features.batch_size)")
    dt = _check_dtype(dtype)
    _check_precision(precision, device)
    paths = [Path(p) for p in image_paths]
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"embed_images: image {p} does not exist; render or rasterise it first")
    transform = as_transform(box)
    cache = FeatureCache(Path(cache_dir), settings_key(spec, dt, precision), transform.name)
    job = _Job(spec, transform, cache, device, batch_size, dt, progress, precision)
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


def embed_batch(model: torch.nn.Module, x: torch.Tensor, device: str, precision: str, dt: np.dtype) -> torch.Tensor:
    """One batch through ``model`` on ``device`` (the GPU rules' computation): [B, D] features, flattened, in
    float32 (float16 when ``dt`` is 2 bytes wide) whatever autocast computed in, left on ``device``."""
    amp = PRECISIONS[precision]
    dev = torch.device(device)
    autocast = torch.autocast(dev.type, dtype=amp) if amp is not None else contextlib.nullcontext()
    with torch.inference_mode():
        with autocast:
            y = model(x.to(dev, non_blocking=True))
        return y.reshape(y.shape[0], -1).to(torch.float32 if dt.itemsize > 2 else torch.float16)


def _embed_missing(
    out: np.ndarray, missing: list[str], rows: dict[str, list[int]], paths: list[Path], job: _Job
) -> None:
    spec, transform, cache, device, batch_size, dt = (job.spec, job.transform, job.cache, job.device,
                                                      job.batch_size, job.dt)
    model = inference_model(spec, device)
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
            feats = embed_batch(model, x, device, job.precision, dt).cpu().numpy().astype(dt, copy=False)
            for h, f in zip(batch, feats):
                out[rows[h]] = f
            writes.append(writer.submit(store, batch, feats))
            if bar is not None:
                bar.update(len(batch))
        for w in writes:
            w.result()  # re-raise any write error
    if bar is not None:
        bar.close()
