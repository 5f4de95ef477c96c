"""MiDaS v2.1 (Ranftl et al., arXiv 1907.01341): the monocular depth estimator that labels the chapter's images.

:class:`MidasNet` is the v2.1 network: a ResNet-style encoder cut into four stages
(``pretrained.layer1..4``; layer1 holds the stem conv1, bn1, relu, maxpool and the first
residual stage, as in the official code) and a RefineNet-style decoder (``scratch``):
``layer{1..4}_rn`` 3x3 convolutions to ``features`` channels, four ``refinenet{1..4}``
feature-fusion blocks of two residual conv units each, and the ``output_conv`` head whose
last ReLU keeps the output non-negative. With ``encoder="resnext101_32x8d"`` and
``features=256`` its state-dict keys and shapes are those of the official file
``midas_v21-f6b98070.pt``; any other torchvision ResNet (the demo's ``resnet18``) gives the
same decoder, module for module, on a smaller encoder.

The output is relative inverse depth (larger = nearer), defined up to scale and shift.
:func:`predict_depth` applies MiDaS's own input transform (resize so the image fits
``net_size`` keeping its aspect ratio, sides multiples of 32, bicubic; ImageNet mean/std),
runs the network and resizes the prediction back to the input size (bicubic);
:func:`to_uint8` scales each map to 0..255 as MiDaS's ``write_depth`` does (255 = nearest).
:func:`load_midas` reads a weights file and names any missing or unexpected key.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from sketch3d import weights as wts
from sketch3d.compat.torchvision_ops import ensure_torchvision

__all__ = [
    "OFFICIAL_ENCODER",
    "OFFICIAL_FEATURES",
    "NETWORK",
    "TAG",
    "MidasNet",
    "MidasWeightsError",
    "build_midas",
    "load_midas",
    "net_input_size",
    "predict_depth",
    "predict_tensor",
    "prepare_input",
    "to_host",
    "to_uint8",
]

OFFICIAL_ENCODER = "resnext101_32x8d"  # MiDaS v2.1's encoder: ResNeXt-101 32x8d (WSL weights in the official file)
OFFICIAL_FEATURES = 256
NETWORK = "midas_v21"  # the sketch3d.weights registry entry of the official file
TAG = "v2.1"
MULTIPLE = 32  # MiDaS's Resize(ensure_multiple_of=32): the encoder's total stride
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# BatchNorm's step counter: absent from files saved by older torch; load_state_dict fills it in.
_OPTIONAL = "num_batches_tracked"


class MidasWeightsError(RuntimeError):
    """A MiDaS weights file that is missing or does not fit the network."""


class ResidualConvUnit(nn.Module):
    """ReLU, 3x3 conv, ReLU, 3x3 conv, plus the skip.

    The official unit applies its first ReLU in place, so its skip adds relu(x), not x; this
    unit computes the same thing without modifying its input.
    """

    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1, bias=True)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = F.relu(x)
        return self.conv2(F.relu(self.conv1(r))) + r


class FeatureFusionBlock(nn.Module):
    """Adds the refined skip feature (``resConfUnit1``) to the coarser path, refines (``resConfUnit2``), upsamples x2."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.resConfUnit1 = ResidualConvUnit(features)
        self.resConfUnit2 = ResidualConvUnit(features)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        x = self.resConfUnit2(x)
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)


class Interpolate(nn.Module):
    """Parameter-free upsampling inside ``output_conv`` (index 1, as in the official head)."""

    def __init__(self, scale_factor: float) -> None:
        super().__init__()
        self.scale_factor = scale_factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.scale_factor, mode="bilinear", align_corners=False)


def _stage_channels(layer: nn.Sequential) -> int:
    """Output channels of a torchvision ResNet stage: its last block's last BatchNorm."""
    return [m for m in layer[-1].modules() if isinstance(m, nn.BatchNorm2d)][-1].num_features


def _encoder(name: str) -> tuple[nn.Module, list[int]]:
    ensure_torchvision()
    import torchvision

    known = torchvision.models.list_models(module=torchvision.models)
    resnets = sorted(n for n in known if n.startswith(("resnet", "resnext", "wide_resnet")))
    if name not in resnets:
        raise ValueError(f"MidasNet: encoder {name!r} is not a torchvision ResNet; use one of {resnets} "
                         f"(sketchydepth.labeller.encoder in params.yaml; the official MiDaS v2.1 is {OFFICIAL_ENCODER!r})")
    net = torchvision.models.get_model(name, weights=None)
    enc = nn.Module()
    enc.layer1 = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1)
    enc.layer2, enc.layer3, enc.layer4 = net.layer2, net.layer3, net.layer4
    return enc, [_stage_channels(getattr(net, f"layer{i}")) for i in range(1, 5)]


class MidasNet(nn.Module):
    """MiDaS v2.1's network on a torchvision ResNet encoder; forward: ImageNet-normalised [B, 3, H, W] ->
    relative inverse depth [B, H, W] (H, W multiples of 32)."""

    def __init__(self, encoder: str = OFFICIAL_ENCODER, features: int = OFFICIAL_FEATURES,
                 non_negative: bool = True) -> None:
        super().__init__()
        if features < 2:
            raise ValueError(f"MidasNet: features={features} must be >= 2 (sketchydepth.labeller.features)")
        self.encoder_name, self.features = encoder, features
        self.pretrained, channels = _encoder(encoder)
        self.scratch = nn.Module()
        for i, c in enumerate(channels, 1):
            setattr(self.scratch, f"layer{i}_rn", nn.Conv2d(c, features, 3, padding=1, bias=False))
        for i in range(4, 0, -1):
            setattr(self.scratch, f"refinenet{i}", FeatureFusionBlock(features))
        head = features // 2  # 128 for the official 256 features
        self.scratch.output_conv = nn.Sequential(
            nn.Conv2d(features, head, 3, padding=1),
            Interpolate(2),
            nn.Conv2d(head, 32, 3, padding=1),
            nn.ReLU(True),
            nn.Conv2d(32, 1, 1),
            nn.ReLU(True) if non_negative else nn.Identity(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] % MULTIPLE or x.shape[3] % MULTIPLE:
            raise ValueError(f"MidasNet: expected [B, 3, H, W] with H, W multiples of {MULTIPLE}, got {list(x.shape)}")
        p, s = self.pretrained, self.scratch
        l1 = p.layer1(x)
        l2 = p.layer2(l1)
        l3 = p.layer3(l2)
        l4 = p.layer4(l3)
        path = s.refinenet4(s.layer4_rn(l4))
        path = s.refinenet3(path, s.layer3_rn(l3))
        path = s.refinenet2(path, s.layer2_rn(l2))
        path = s.refinenet1(path, s.layer1_rn(l1))
        return s.output_conv(path).squeeze(1)


def build_midas(encoder: str = OFFICIAL_ENCODER, features: int = OFFICIAL_FEATURES, seed: int = 0) -> MidasNet:
    """A randomly initialised MidasNet to train, its initialisation drawn from ``seed`` (the global RNG is left
    as it was). The head's last bias starts at 1: with torch's default init nearly every output pixel of an
    untrained network is below 0, so the non-negative ReLU would pass no gradient at all."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MidasNet(encoder, features)
    with torch.no_grad():
        model.scratch.output_conv[4].bias.fill_(1.0)
    return model


def _state_dict_of(obj: object, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, dict) and "optimizer" in obj and "model" in obj:  # a training checkpoint (MiDaS's own rule)
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise MidasWeightsError(f"{path} does not hold a MiDaS state dict (a mapping of parameter names to "
                                "tensors); give the official midas_v21-f6b98070.pt or a file written by train_labeller")
    return obj


def _preview(keys: list[str]) -> str:
    return ", ".join(keys[:5]) + (f" ... ({len(keys)} in all)" if len(keys) > 5 else "")


def _found_architecture(state: dict[str, torch.Tensor]) -> str:
    """What a state dict that does not fit is, in words: MidasNet's width from its first scratch convolution and the
    torchvision ResNet encoder whose layout it matches (the candidates: the official one and resnet18..152)."""
    conv = state.get("scratch.layer1_rn.weight")
    if conv is None:
        return "not a MidasNet (no scratch.layer1_rn.weight)"
    features = int(conv.shape[0])
    for encoder in (OFFICIAL_ENCODER, "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d"):
        with torch.device("meta"):
            layout = MidasNet(encoder, features).state_dict()
        if all(k in state and tuple(state[k].shape) == tuple(v.shape) for k, v in layout.items()
               if not k.endswith(_OPTIONAL)) and set(state) <= set(layout):
            return f"MidasNet(encoder={encoder!r}, features={features})"
    return f"a MidasNet of width {features} on an encoder that is not a torchvision ResNet (e.g. MiDaS small)"


def layout_problem(state: dict[str, torch.Tensor], path: str | os.PathLike, encoder: str = OFFICIAL_ENCODER,
                   features: int = OFFICIAL_FEATURES) -> str | None:
    """Why the state dict read from ``path`` does not fit MidasNet(``encoder``, ``features``), naming both
    architectures and the missing, unexpected and mis-shaped keys; None where it fits."""
    with torch.device("meta"):  # the layout only: no memory, no initialisation
        layout = MidasNet(encoder, features).state_dict()
    missing = sorted(k for k in layout if k not in state and not k.endswith(_OPTIONAL))
    unexpected = sorted(k for k in state if k not in layout)
    shapes = sorted(k for k in layout if k in state and tuple(state[k].shape) != tuple(layout[k].shape))
    if not (missing or unexpected or shapes):
        return None
    parts = [f"{path} holds {_found_architecture(state)}, not the configured MidasNet(encoder={encoder!r}, "
             f"features={features})"]
    if missing:
        parts.append(f"missing keys: {_preview(missing)}")
    if unexpected:
        parts.append(f"unexpected keys: {_preview(unexpected)}")
    if shapes:
        parts.append("mis-shaped keys: " + _preview([f"{k} {list(state[k].shape)} != {list(layout[k].shape)}"
                                                     for k in shapes]))
    parts.append("set sketchydepth.labeller.encoder / features to those the file was made with, or give another "
                 f"file (official MiDaS v2.1: {OFFICIAL_ENCODER!r}, {OFFICIAL_FEATURES})")
    return "; ".join(parts)


def weights_problem(path: str | os.PathLike, encoder: str = OFFICIAL_ENCODER,
                    features: int = OFFICIAL_FEATURES) -> str | None:
    """The preflight's check of a present weights file, before any job: unreadable, not a state dict, or of another
    architecture (:func:`layout_problem`); None where it fits. The tensors are memory-mapped, not read."""
    path = Path(path)
    try:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # a legacy (pre-zip) torch file cannot be memory-mapped
            obj = torch.load(path, map_location="cpu", weights_only=True)
        state = _state_dict_of(obj, path)
    except MidasWeightsError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same advice
        return f"{path} cannot be read as torch weights ({type(exc).__name__}: {exc}); get the file again"
    return layout_problem(state, path, encoder, features)


def load_midas(path: str | os.PathLike, encoder: str = OFFICIAL_ENCODER, features: int = OFFICIAL_FEATURES,
               device: str = "cpu") -> MidasNet:
    """MidasNet with the weights of ``path`` in eval mode on ``device``.

    Raises :class:`MidasWeightsError` before building anything if the file is missing (naming where
    the official file goes and how to get it), and, if its keys or shapes do not fit a MidasNet of
    ``encoder``/``features``, names the missing, unexpected and mis-shaped keys.
    """
    path = Path(path)
    if not path.is_file():
        from sketch3d.sketchydepth.sources import chapter_sources

        how = wts.how_to_get(wts.find(NETWORK, TAG), sources=chapter_sources())
        raise MidasWeightsError(f"MiDaS weights file {path} does not exist. The demo profile makes it with "
                                f"`sketch3d train_labeller`; the paper profile needs the official MiDaS v2.1 file "
                                f"there: {how}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same advice
        raise MidasWeightsError(f"{path} cannot be read as torch weights ({type(exc).__name__}: {exc}); "
                                "the file is incomplete or another one: get it again") from exc
    state = _state_dict_of(obj, path)
    problem = layout_problem(state, path, encoder, features)
    if problem:
        raise MidasWeightsError(problem)
    with torch.device("meta"):
        model = MidasNet(encoder, features)
    model.load_state_dict(state, strict=True, assign=True)  # the file's tensors, no random init to overwrite
    return model.to(device).eval().requires_grad_(False)


def _multiple(x: float, max_val: int | None = None) -> int:
    """MiDaS's Resize.constrain_to_multiple_of (no lower bound): nearest multiple, floored if above ``max_val``."""
    y = int(np.round(x / MULTIPLE) * MULTIPLE)
    if max_val is not None and y > max_val:
        y = int(np.floor(x / MULTIPLE) * MULTIPLE)
    return max(y, MULTIPLE)


def net_input_size(height: int, width: int, net_size: int) -> tuple[int, int]:
    """(h, w) the network sees: MiDaS v2.1's run.py transform, Resize(net_size, net_size, keep_aspect_ratio,
    ensure_multiple_of=32, resize_method="upper_bound"): the image scaled to fit a net_size square."""
    if net_size < MULTIPLE or net_size % MULTIPLE:
        raise ValueError(f"net_size={net_size} must be a positive multiple of {MULTIPLE} "
                         "(sketchydepth.labeller.net_size; MiDaS v2.1 uses 384)")
    scale = min(net_size / height, net_size / width)
    return _multiple(scale * height, net_size), _multiple(scale * width, net_size)


def prepare_input(images: np.ndarray, net_size: int, device: str | torch.device = "cpu",
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """MiDaS v2.1's input transform of uint8 RGB images [N, H, W, 3] (one size): [N, 3, h, w] on ``device`` in
    ``dtype``. As run.py's Resize(keep_aspect_ratio, ensure_multiple_of=32, "upper_bound", INTER_CUBIC) ->
    NormalizeImage(ImageNet mean/std) -> PrepareForNet, with torch's bicubic (a = -0.75, as OpenCV's) in place
    of OpenCV's resize; the values are computed in float32 and cast to ``dtype`` last."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
        raise ValueError(f"MiDaS input: expected uint8 [N, H, W, 3] RGB images, got {images.dtype} {list(images.shape)}")
    _, h, w, _ = images.shape
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float() / 255.0
    nh, nw = net_input_size(h, w, net_size)
    if (nh, nw) != (h, w):
        x = F.interpolate(x, size=(nh, nw), mode="bicubic", align_corners=False)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return ((x - mean) / std).to(dtype)


@torch.inference_mode()
def predict_tensor(model: nn.Module, images: np.ndarray, net_size: int) -> torch.Tensor:
    """Relative inverse depth float32 [N, H, W] on the model's device, of uint8 RGB images [N, H, W, 3] (one size,
    N >= 1), at the images' size: MiDaS's input transform, the network (in its parameters' dtype), and run.py's
    bicubic resize of the prediction back to the image size."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
        raise ValueError(f"predict_depth: expected uint8 [N, H, W, 3] RGB images, got {images.dtype} {list(images.shape)}")
    _, h, w, _ = images.shape
    param = next(model.parameters())
    pred = model(prepare_input(images, net_size, param.device, param.dtype)).float()
    if pred.shape[-2:] != (h, w):
        pred = F.interpolate(pred.unsqueeze(1), size=(h, w), mode="bicubic", align_corners=False).squeeze(1)
    return pred


def to_host(t: torch.Tensor) -> np.ndarray:
    """A device tensor's values as float32 numpy (the one place the labeller copies from the device)."""
    return t.detach().cpu().numpy().astype(np.float32)


def predict_depth(model: nn.Module, images: np.ndarray, net_size: int) -> np.ndarray:
    """Relative inverse depth float32 [N, H, W] of uint8 RGB images [N, H, W, 3] (one size), at the images' size."""
    if images.dtype == np.uint8 and images.ndim == 4 and len(images) == 0:
        return np.zeros((0, *images.shape[1:3]), np.float32)
    return to_host(predict_tensor(model, images, net_size))


def to_uint8(depth: np.ndarray) -> np.ndarray:
    """Each map of float [N, H, W] scaled to 0..255 by its own min and max and truncated, as MiDaS's
    write_depth (bits=1) does: 255 = nearest (largest inverse depth); a constant map becomes 0."""
    d = np.asarray(depth, np.float64)
    lo = d.min(axis=(1, 2), keepdims=True)
    span = d.max(axis=(1, 2), keepdims=True) - lo
    ok = span > np.finfo(np.float64).eps
    out = np.where(ok, 255.0 * (d - lo) / np.where(ok, span, 1.0), 0.0)
    return np.clip(out, 0, 255).astype(np.uint8)
