"""Image backbones: the thesis's CLIP RN101 layer 3, and the other networks of Tables 4.5 and 4.6.

A :class:`FeatureSpec` names a network of one *family*:

- ``"clip"``: an open_clip image tower. ``layer="layer3"`` (CLIP ResNets: RN101 gives
  [B, 1024, 14, 14], the thesis's feature) or ``"embedding"`` (the final CLIP image
  embedding [B, embed_dim], any open_clip model, e.g. ViT-B-32).
- ``"imagenet"``: a torchvision ImageNet classifier. ``layer="layer3"`` (ResNets:
  resnet101 gives [B, 1024, 14, 14], the same cut as CLIP's) or ``"cls"`` (ViTs: the
  class-token feature after the encoder's final LayerNorm, before the head, [B, 768]).

``load_backbone(spec)`` returns a module mapping a batch normalised with
``spec.normalisation`` (CLIP's or ImageNet's mean and std: each family's own
pre-processing) to that feature. Weights: ``"random"`` (seeded initialisation, the
offline demo), a tag (open_clip's ``"openai"``, torchvision's ``"IMAGENET1K_V1"``), or a
path to a local weights file (TorchScript included for CLIP). What a setting means,
where a tag's file already lies and how to get it are :mod:`sketch3d.weights`'s; this
module only adds open_clip's and torchvision's own tag tables and, for an open_clip tag
not on disk, open_clip's download when the hub can be reached (torchvision's files are
only ever read from disk).
"""
from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Sequence
from urllib.parse import urlparse

import numpy as np
import torch
from PIL import Image

from sketch3d import weights as wts
from sketch3d.compat.torchvision_ops import ensure_torchvision
from sketch3d.features.clip_files import ClipArchitectureError, arch_from_config, check_clip_file
from sketch3d.features.spec import (  # noqa: F401 - re-exported: FeatureSpec and the constants live in spec.py
    CLIP_LAYERS, CLIP_MEAN, CLIP_STD, FAMILIES, FAMILY_TITLES, IMAGENET_MEAN, IMAGENET_STD, LAYERS, FeatureSpec,
    WeightsUnavailableError,
    missing_file_error as _missing_file_error,
)

__all__ = [
    "CLIP_MEAN",
    "CLIP_STD",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "FAMILIES",
    "FeatureSpec",
    "WeightsUnavailableError",
    "ClipArchitectureError",
    "ClipTrunk",
    "ImageNetTrunk",
    "load_backbone",
    "random_clip_visual",
    "clip_visual_from_file",
    "normalize",
    "clip_normalize",
    "images_to_tensor",
    "feature_dim",
]

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
        check_clip_file(path, spec.backbone, wts.CLIP_SETTING)  # another model's file: stop before building
        if wts.is_torchscript(path):
            # OpenAI's released file: OpenAI trained every CLIP with QuickGELU (open_clip's tags 'openai' and its
            # build_model_from_openai_state_dict set it); open_clip's config of the bare name uses nn.GELU
            return str(path), {"weights_only": False, "force_quick_gelu": True}
        return str(path), {"weights_only": True}
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
        check_clip_file(cached, spec.backbone, wts.CLIP_SETTING)
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
        if layer not in CLIP_LAYERS:
            raise ValueError(f"ClipTrunk: layer={layer!r} must be one of {CLIP_LAYERS}")
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


# ----------------------------------------------------------------------------- torchvision (ImageNet)


def _torchvision_arch(backbone: str) -> str:
    """"resnet" or "vit": which cut a torchvision classifier has; raises for other or unknown models."""
    ensure_torchvision()
    import torchvision

    known = torchvision.models.list_models(module=torchvision.models)
    if backbone not in known:
        raise ValueError(f"FeatureSpec: backbone {backbone!r} is not a torchvision classification model "
                         "(features.networks.<name>.backbone; e.g. resnet101, vit_b_32, vit_b_16)")
    if backbone.startswith(("resnet", "resnext", "wide_resnet")):
        return "resnet"
    if backbone.startswith("vit_"):
        return "vit"
    raise ValueError(f"FeatureSpec: torchvision model {backbone!r} is neither a ResNet (layer3) nor a ViT (cls); "
                     "use resnet101, vit_b_32 or vit_b_16")


_ARCH_LAYER = {"resnet": "layer3", "vit": "cls"}


def _check_imagenet_layer(spec: FeatureSpec) -> str:
    arch = _torchvision_arch(spec.backbone)
    if spec.layer != _ARCH_LAYER[arch]:
        raise ValueError(f"FeatureSpec: torchvision {spec.backbone} has no layer {spec.layer!r}; a "
                         f"{'ResNet' if arch == 'resnet' else 'ViT'} gives layer={_ARCH_LAYER[arch]!r}")
    return arch


class ImageNetTrunk(torch.nn.Module):
    """A torchvision classifier cut where the thesis's comparison reads it.

    ``layer3``: a ResNet's third stage (resnet101: [B, 1024, 14, 14] at 224 px, as CLIP RN101's
    layer3). ``cls``: a ViT's class token after the encoder's final LayerNorm, i.e. what
    torchvision's ``heads`` would classify ([B, hidden_dim], 768 for ViT-B).
    """

    def __init__(self, model: torch.nn.Module, layer: str) -> None:
        super().__init__()
        if layer == "layer3":
            for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3"):
                if not hasattr(model, name):
                    raise ValueError(f"ImageNetTrunk: {type(model).__name__} has no '{name}'; layer3 needs a "
                                     "torchvision ResNet")
            model.layer4 = torch.nn.Identity()  # never run: free its weights
            model.fc = torch.nn.Identity()
        elif layer == "cls":
            if not (hasattr(model, "heads") and hasattr(model, "encoder")):
                raise ValueError(f"ImageNetTrunk: {type(model).__name__} is not a torchvision VisionTransformer; "
                                 "cls needs one")
            model.heads = torch.nn.Identity()  # forward then returns the normed class token
        else:
            raise ValueError(f"ImageNetTrunk: layer={layer!r} must be one of {LAYERS['imagenet']}")
        self.model = model
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        if self.layer == "cls":
            return m(x)
        x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        return m.layer3(m.layer2(m.layer1(x)))


def _torchvision_entry(spec: FeatureSpec) -> wts.Pretrained:
    """The weights entry of a torchvision tag: registered, else read from torchvision's weights enum."""
    entry = wts.find(spec.backbone, spec.weights)
    if entry is not None:
        return entry
    import torchvision

    enum = torchvision.models.get_model_weights(spec.backbone)
    known = [w.name for w in enum]
    if spec.weights not in known:
        u = wts.unavailable(spec.weights, spec.backbone, title=f"torchvision {spec.backbone} ImageNet weights",
                            known_tags=known)
        raise WeightsUnavailableError(
            f"ImageNet weights {spec.weights!r} are neither 'random', a torchvision tag of {spec.backbone} "
            f"(known: {known}) nor an existing file. {u.message()}")
    return wts.from_torchvision(spec.backbone, spec.weights, enum[spec.weights].url)


def _torchvision_weights_file(spec: FeatureSpec) -> Path | None:
    """The local file of ``spec``'s torchvision weights (None: random init); never downloads."""
    if spec.is_random:
        return None
    if spec.is_local_file:
        path = wts.setting_path(spec.weights)
        if not path.is_file():
            raise _missing_file_error(spec)
        return path
    entry = _torchvision_entry(spec)
    path = wts.find_local(entry)
    if path is None:
        u = wts.unavailable(spec.weights, spec.backbone, entry=entry)
        raise WeightsUnavailableError(f"ImageNet weights {spec.backbone}/{spec.weights!r} are not on this machine "
                                      f"(sketch3d never downloads them). {u.message()}")
    return path


def _read_state_dict(path: Path) -> dict:
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise RuntimeError(f"{path} holds a {type(state).__name__}, not a state dict")
    return state


def _load_imagenet(spec: FeatureSpec) -> ImageNetTrunk:
    import torchvision

    _check_imagenet_layer(spec)
    path = _torchvision_weights_file(spec)
    if path is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(spec.seed)
            model = torchvision.models.get_model(spec.backbone, weights=None)
    else:
        # the file gives every value: the network is built on the meta device (no initialisation, no memory) and
        # takes the file's tensors, in the network's own dtypes as a copying load_state_dict leaves them
        with torch.device("meta"):
            model = torchvision.models.get_model(spec.backbone, weights=None)
        try:
            state = _read_state_dict(path)
            own = model.state_dict()
            model.load_state_dict({k: v.to(own[k].dtype) if k in own else v for k, v in state.items()}, assign=True)
            left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
            if left:
                raise RuntimeError(f"{left[:3]} are not in the file")
        except (RuntimeError, ValueError, OSError) as exc:
            entry = wts.find(spec.backbone, spec.weights)
            how = wts.how_to_get(entry) if entry else (
                f"use a state dict of torchvision's {spec.backbone} (e.g. the file of its IMAGENET1K_V1 weights)")
            raise WeightsUnavailableError(
                f"Loading ImageNet weights {path} into torchvision {spec.backbone} failed: {exc}. {how}") from exc
    return ImageNetTrunk(model, spec.layer)


# ----------------------------------------------------------------------------- either family


def load_backbone(spec: FeatureSpec, device: str = "cpu") -> torch.nn.Module:
    """Build the image backbone of ``spec`` in eval mode on ``device`` (see module doc)."""
    ensure_torchvision()
    if spec.family == "imagenet":
        return _load_imagenet(spec).to(device).eval().requires_grad_(False)
    import open_clip

    if spec.backbone not in open_clip.list_models():
        raise ValueError(f"FeatureSpec: backbone {spec.backbone!r} is not an open_clip model (features.backbone)")
    pretrained, extra = _resolve_weights(spec)
    # a file on disk (a path setting, or a tag's file in a cache: _resolve_weights returns the tag itself only for
    # open_clip to download it) whose architecture check_clip_file read and confirmed: only its image tower is built
    from_file = (pretrained is not None and pretrained != spec.weights) or spec.is_local_file
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        if pretrained is None:
            visual = random_clip_visual(spec.backbone)
        elif from_file and arch_from_config(spec.backbone) is not None:
            visual = clip_visual_from_file(spec, Path(pretrained), quick_gelu=extra.get("force_quick_gelu", False),
                                           weights_only=extra.get("weights_only", True))
        else:
            try:
                model, _, _ = open_clip.create_model_and_transforms(spec.backbone, pretrained=pretrained, **extra)
            except RuntimeError as exc:
                raise WeightsUnavailableError(
                    f"Loading CLIP weights {pretrained!r} for {spec.backbone} failed: {exc}. {_how_to_get(spec)}"
                ) from exc
            visual = model.visual
            del model
    trunk = ClipTrunk(visual, spec.layer)
    trunk = trunk.to(device).eval().requires_grad_(False)
    return trunk


def random_clip_visual(backbone: str, quick_gelu: bool = False) -> torch.nn.Module:
    """open_clip's randomly initialised image tower of ``backbone``, without its text tower.

    CLIP builds (and initialises) its image tower before its text tower, so under one seed this tower's weights
    are those of ``open_clip.create_model(backbone).visual`` (a test checks it); the text tower's construction,
    which only the random-weights demo paid for (about 0.7 s of each feature job), is skipped. ``quick_gelu``:
    QuickGELU whatever the config says (open_clip's ``force_quick_gelu``). Under ``torch.device("meta")`` it
    builds the tower's structure only, for :func:`clip_visual_from_file`.
    """
    import open_clip
    from open_clip.model import _build_vision_tower

    cfg = open_clip.get_model_config(backbone)
    return _build_vision_tower(cfg["embed_dim"], cfg["vision_cfg"],
                               quick_gelu=quick_gelu or cfg.get("quick_gelu", False))


def _visual_tensors(path: Path, weights_only: bool) -> dict[str, torch.Tensor]:
    """The ``visual.*`` tensors of a CLIP weights file, keys without ``visual.``, as open_clip reads the file
    (``open_clip.factory.load_state_dict``: a ``state_dict`` wrapper, TorchScript and ``module.`` prefixes
    handled). Of a ``.safetensors`` file only those tensors are read."""
    if path.suffix.lower() == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            keys = list(f.keys())
            strip = 7 if keys and keys[0].startswith("module") else 0  # open_clip looks at the first key too
            return {k[strip + 7:]: f.get_tensor(k) for k in keys if k[strip:].startswith("visual.")}
    from open_clip.factory import load_state_dict

    state = load_state_dict(str(path), device="cpu", weights_only=weights_only)
    return {k[7:]: v for k, v in state.items() if k.startswith("visual.")}


def clip_visual_from_file(spec: FeatureSpec, path: Path, quick_gelu: bool = False,
                          weights_only: bool = True) -> torch.nn.Module:
    """open_clip's image tower of ``spec.backbone`` holding the ``visual.*`` weights of the CLIP file ``path``.

    The same tower, in the same dtype (float32) and with the same values as
    ``open_clip.create_model(backbone, pretrained=path, force_quick_gelu=quick_gelu).visual`` (a test checks it
    on both forms of the rehearsal's RN101 fixture and on ViT-B-32), without building, initialising and then
    overwriting the whole CLIP model: the tower is built on the ``meta`` device by :func:`random_clip_visual`
    and takes the file's tensors as they are (cast to float32 as open_clip's copy into its float32 parameters
    does; OpenAI's files keep convolutions in float16). The file's architecture must already be checked
    (:func:`check_clip_file`): then open_clip's position-embedding resize and third-party conversions are no-ops.
    """
    with torch.device("meta"):
        visual = random_clip_visual(spec.backbone, quick_gelu=quick_gelu)
    try:
        tensors = _visual_tensors(path, weights_only)
        own = visual.state_dict()
        state = {k: v.to(own[k].dtype) if k in own and v.dtype != own[k].dtype else v for k, v in tensors.items()}
        visual.load_state_dict(state, strict=True, assign=True)
    except (RuntimeError, ValueError, OSError, KeyError) as exc:
        raise WeightsUnavailableError(
            f"Loading the image tower of CLIP weights file {path} into {spec.backbone} failed: {exc}. "
            f"{_how_to_get(spec)}") from exc
    left = [n for n, t in [*visual.named_parameters(), *visual.named_buffers()] if t.is_meta]
    if left:  # a non-persistent buffer no file holds: this open_clip's tower cannot be loaded this way
        raise RuntimeError(f"clip_visual_from_file: {spec.backbone}'s image tower keeps {left[:3]} unset after "
                           f"loading {path}")
    return visual


def feature_dim(spec: FeatureSpec, size: int = 224) -> int:
    """Flattened feature length for ``spec`` at ``size`` x ``size`` input (allocates no weights)."""
    ensure_torchvision()
    if spec.family == "imagenet":
        import torchvision

        _check_imagenet_layer(spec)
        # The network on the meta device: shapes only, no memory, no initialisation cost.
        with torch.device("meta"):
            trunk = ImageNetTrunk(torchvision.models.get_model(spec.backbone, weights=None), spec.layer)
            out = trunk(torch.empty(1, 3, size, size))
        return int(out[0].numel())
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


def normalize(batch: torch.Tensor, spec: FeatureSpec | None = None) -> torch.Tensor:
    """Normalise a [B, 3, H, W] float batch in [0, 1] with ``spec.normalisation`` (no spec: CLIP's mean and std)."""
    if batch.ndim != 4 or batch.shape[1] != 3:
        raise ValueError(f"normalize: expected [B, 3, H, W], got {tuple(batch.shape)}")
    m, s = spec.normalisation if spec is not None else (CLIP_MEAN, CLIP_STD)
    mean = torch.tensor(m, dtype=batch.dtype, device=batch.device).view(1, 3, 1, 1)
    std = torch.tensor(s, dtype=batch.dtype, device=batch.device).view(1, 3, 1, 1)
    return (batch - mean) / std


def clip_normalize(batch: torch.Tensor) -> torch.Tensor:
    """Normalise a [B, 3, H, W] float batch in [0, 1] with CLIP's mean and std."""
    return normalize(batch)


def images_to_tensor(images: Sequence[Image.Image], spec: FeatureSpec | None = None) -> torch.Tensor:
    """Normalised float32 [B, 3, H, W] from PIL 'L' or 'RGB' images of one size (grey is replicated);
    ``spec.normalisation`` (default CLIP's)."""
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
    return normalize(batch, spec)
