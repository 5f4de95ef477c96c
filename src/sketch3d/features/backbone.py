"""CLIP image backbone whose third ResNet stage is the thesis's sketch/shape feature.

``load_backbone(FeatureSpec(...))`` returns a module mapping a CLIP-normalised
float batch [B, 3, 224, 224] to [B, 1024, 14, 14] (``layer="layer3"``, RN101)
or to the final CLIP embedding [B, embed_dim] (``layer="embedding"``).
Weights: ``"random"`` (seeded initialisation, the offline demo), an open_clip
tag such as ``"openai"``, or a path to a local weights file (TorchScript included).
What a setting means, where a tag's file already lies and how to get it are
:mod:`sketch3d.weights`'s; this module only adds open_clip's own tag table and,
for a tag not on disk, open_clip's download when the hub can be reached.
"""
from __future__ import annotations

import hashlib
import json
import socket
import threading
from dataclasses import asdict, dataclass
from typing import Sequence
from urllib.parse import urlparse

import numpy as np
import torch
from PIL import Image

from sketch3d import weights as wts
from sketch3d.compat.torchvision_ops import ensure_torchvision

__all__ = [
    "CLIP_MEAN",
    "CLIP_STD",
    "FeatureSpec",
    "WeightsUnavailableError",
    "ClipTrunk",
    "load_backbone",
    "clip_normalize",
    "images_to_tensor",
    "feature_dim",
]

# OpenAI CLIP's image statistics (the same numbers as open_clip.constants.OPENAI_DATASET_*).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
LAYERS = ("layer3", "embedding")


class WeightsUnavailableError(RuntimeError):
    """The requested CLIP weights are neither on disk nor downloadable now."""


@dataclass(frozen=True)
class FeatureSpec:
    """Which network, which layer, which weights: everything that changes a feature."""

    backbone: str = "RN101"
    layer: str = "layer3"
    weights: str = "random"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.layer not in LAYERS:
            raise ValueError(f"FeatureSpec: layer={self.layer!r} must be one of {LAYERS} (features.layer in params.yaml)")
        if not str(self.weights):
            raise ValueError("FeatureSpec: weights must be 'random', an open_clip tag or a file path")

    @property
    def is_random(self) -> bool:
        return self.weights == wts.RANDOM

    @property
    def is_local_file(self) -> bool:
        return wts.is_file_setting(self.weights)

    def key(self) -> str:
        """16-hex-digit hash of the fields (and of a local weights file's content)."""
        fields = asdict(self)
        if not self.is_random:
            fields.pop("seed")  # the seed only matters for random initialisation
        if self.is_local_file:
            path = wts.setting_path(self.weights)
            if not path.is_file():
                raise _missing_file_error(self)
            fields["weights"] = f"file:{wts.sha256(path)[:24]}-{path.stat().st_size}"
        blob = json.dumps(fields, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def _missing_file_error(spec: FeatureSpec) -> WeightsUnavailableError:
    u = wts.unavailable(spec.weights, spec.backbone, title=f"CLIP {spec.backbone} weights", setting=wts.CLIP_SETTING)
    return WeightsUnavailableError(f"CLIP weights file {spec.weights!r} does not exist. {u.message()}")


def _how_to_get(spec: FeatureSpec) -> str:
    """How to get usable weights for ``spec.backbone`` (after a file failed to load)."""
    entry = wts.find(spec.backbone, spec.weights) or next(
        (wts.find(spec.backbone, t) for t in wts.tags(spec.backbone)), None)
    if entry is not None:
        return wts.how_to_get(entry)
    return (f"Set {wts.CLIP_SETTING} to 'random', an open_clip tag of {spec.backbone} or the path of a local "
            f"{spec.backbone} weights file ({' / '.join(wts.WEIGHT_SUFFIXES)}).")


def _reachable(url: str, timeout_s: float = 4.0) -> bool:
    """Quick TCP probe of ``url``'s host, bounded even if DNS hangs."""
    parsed = urlparse(url)
    host, port = parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                result.append(True)
        except OSError:
            result.append(False)

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout_s + 1.0)
    return bool(result and result[0])


def _resolve_weights(spec: FeatureSpec) -> tuple[str | None, dict]:
    """(``pretrained`` argument for open_clip, extra keyword arguments); raises if unavailable."""
    import open_clip

    if spec.is_random:
        return None, {}
    if spec.is_local_file:
        path = wts.setting_path(spec.weights)
        if not path.is_file():
            raise _missing_file_error(spec)
        return str(path), {"weights_only": not wts.is_torchscript(path)}
    cfg = open_clip.get_pretrained_cfg(spec.backbone, spec.weights)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(spec.backbone)
        u = wts.unavailable(spec.weights, spec.backbone, title=f"CLIP {spec.backbone} weights",
                            setting=wts.CLIP_SETTING, known_tags=tags)
        raise WeightsUnavailableError(
            f"CLIP weights {spec.weights!r} are neither 'random', a known open_clip tag for {spec.backbone} "
            f"(known: {tags}) nor an existing file. {u.message()}"
        )
    extra = {"force_quick_gelu": True} if cfg.get("quick_gelu") else {}
    entry = wts.find(spec.backbone, spec.weights) or wts.from_open_clip(spec.backbone, spec.weights, cfg)
    cached = wts.find_local(entry)
    if cached is not None:
        return str(cached), {**extra, "weights_only": not wts.is_torchscript(cached)}
    endpoint = entry.hub_url() or cfg.get("url", "")
    offline = wts.hub_offline()
    if offline or not _reachable(endpoint):
        u = wts.unavailable(spec.weights, spec.backbone, entry=entry)
        raise WeightsUnavailableError(
            f"CLIP weights {spec.backbone}/{spec.weights!r} are not in the local cache and {endpoint} cannot be "
            f"reached{' (HF_HUB_OFFLINE is set)' if offline else ''}. {u.message()}"
        )
    return spec.weights, extra


class ClipTrunk(torch.nn.Module):
    """CLIP ModifiedResNet cut at ``layer3``, or the whole image tower for ``embedding``."""

    def __init__(self, visual: torch.nn.Module, layer: str) -> None:
        super().__init__()
        if layer not in LAYERS:
            raise ValueError(f"ClipTrunk: layer={layer!r} must be one of {LAYERS}")
        if layer == "layer3":
            for name in ("stem", "layer1", "layer2", "layer3"):
                if not hasattr(visual, name):
                    raise ValueError(
                        f"ClipTrunk: the image tower {type(visual).__name__} has no '{name}'; "
                        "layer3 needs a CLIP ResNet backbone (RN50, RN101, ...)"
                    )
            visual.layer4 = torch.nn.Identity()  # never run: free its weights
            visual.attnpool = torch.nn.Identity()
        self.visual = visual
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.layer == "embedding":
            return self.visual(x)
        v = self.visual
        return v.layer3(v.layer2(v.layer1(v.stem(x))))


def load_backbone(spec: FeatureSpec, device: str = "cpu") -> torch.nn.Module:
    """Build the image backbone of ``spec`` in eval mode on ``device`` (see module doc)."""
    ensure_torchvision()
    import open_clip

    if spec.backbone not in open_clip.list_models():
        raise ValueError(f"FeatureSpec: backbone {spec.backbone!r} is not an open_clip model (features.backbone)")
    pretrained, extra = _resolve_weights(spec)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        try:
            model, _, _ = open_clip.create_model_and_transforms(spec.backbone, pretrained=pretrained, **extra)
        except RuntimeError as exc:
            if pretrained is None:
                raise
            raise WeightsUnavailableError(
                f"Loading CLIP weights {pretrained!r} for {spec.backbone} failed: {exc}. {_how_to_get(spec)}"
            ) from exc
    trunk = ClipTrunk(model.visual, spec.layer)
    del model
    trunk = trunk.to(device).eval().requires_grad_(False)
    return trunk


def feature_dim(spec: FeatureSpec, size: int = 224) -> int:
    """Flattened feature length for ``spec`` at ``size`` x ``size`` input (builds nothing)."""
    ensure_torchvision()
    import open_clip

    cfg = open_clip.get_model_config(spec.backbone)
    if cfg is None:
        raise ValueError(f"FeatureSpec: backbone {spec.backbone!r} is not an open_clip model")
    if spec.layer == "embedding":
        return int(cfg["embed_dim"])
    if not isinstance(cfg["vision_cfg"].get("layers"), (list, tuple)):
        raise ValueError(
            f"FeatureSpec: layer='layer3' needs a CLIP ResNet backbone (RN50, RN101, ...), not {spec.backbone!r}; "
            "use layer='embedding' for other backbones"
        )
    width = int(cfg["vision_cfg"].get("width", 64))
    return width * 4 * 4 * (size // 16) ** 2  # layer3: 4x width * bottleneck expansion 4, stride 16


def clip_normalize(batch: torch.Tensor) -> torch.Tensor:
    """Normalise a [B, 3, H, W] float batch in [0, 1] with CLIP's mean and std."""
    if batch.ndim != 4 or batch.shape[1] != 3:
        raise ValueError(f"clip_normalize: expected [B, 3, H, W], got {tuple(batch.shape)}")
    mean = torch.tensor(CLIP_MEAN, dtype=batch.dtype, device=batch.device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, dtype=batch.dtype, device=batch.device).view(1, 3, 1, 1)
    return (batch - mean) / std


def images_to_tensor(images: Sequence[Image.Image]) -> torch.Tensor:
    """CLIP-normalised float32 [B, 3, H, W] from PIL 'L' or 'RGB' images of one size (grey is replicated)."""
    if not images:
        raise ValueError("images_to_tensor: no images")
    sizes = {im.size for im in images}
    if len(sizes) != 1:
        raise ValueError(f"images_to_tensor: images differ in size {sorted(sizes)}; fit them to a box first")
    arrays = []
    for im in images:
        if im.mode not in ("L", "RGB"):
            im = im.convert("RGB")
        a = np.asarray(im, dtype=np.uint8)
        arrays.append(np.repeat(a[:, :, None], 3, axis=2) if a.ndim == 2 else a)
    batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div_(255.0)
    return clip_normalize(batch)
