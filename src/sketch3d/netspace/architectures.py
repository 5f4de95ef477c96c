"""The networks NetSpace embeds (thesis appendix C.3, Figs. C.3-C.4, Table C.1) and the SIREN SDF MLP.

Image classifiers: LeNetLike (ClassId 0), VanillaCNN (1), ResNet8 (2), ResNet32 (3), and ResNet56 (the
multi-architecture teacher, no ClassId). Each comes in the two variants of the thesis, picked by the input
size: 32x32 (CIFAR-10; the demo's digits are resized to it) and 64x64 (Tiny-ImageNet). The layer shapes are
the public peer's (github CVLAB-Unibo/netspace, ``models/``): LeakyReLU activations everywhere; ResNets of
He et al. (6n+2 layers, 16/32/64 filters, 1x1 convolution + batch norm on the shortcut when the shape changes,
average pooling 8x8, so a 64x64 input leaves 2x2x64 features to the classifier).

ResNets are trained with batch norm (``batch_norm=True``: convolutions without bias, each followed by a
BatchNorm2d) and enter the zoo folded (``bn_fold.fold_batchnorm``, thesis C.6): the same network with
``batch_norm=False``, where every convolution carries a bias and the norms are identities. Parameter names
are the same in both forms except the norms, so a folded net's parameters follow the peer's PRep order
(conv weight, conv bias, ..., shortcut weight, shortcut bias, ..., fc weight, fc bias).

Table C.1's "# Params" counts the networks as trained (``count_parameters(build(name, ..., batch_norm=True))``
for ResNets: convolutions without bias, batch norm's gamma and beta); the folded ResNet has one bias per
normalised channel instead of gamma and beta, so it holds fewer numbers (``FOLDED_COUNTS`` below, e.g. ResNet8
on CIFAR-10: 78,042 trained, 77,706 folded). Classes without batch norm are the same in both forms.

SIREN (Sitzmann et al. 2020; thesis C.3 "3D SDF regression"): 3 -> hidden -> hidden -> 1 with sin(30 x)
after the first two layers, the peer's ``MLP(256, 1)``; initialised as in the SIREN paper (first layer
U(-1/3, 1/3), later layers U(-sqrt(6/fan_in)/30, +sqrt(6/fan_in)/30); biases keep torch's default).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

IMAGE_SIZES = (32, 64)
"""Input sizes with a thesis variant: 32 (CIFAR-10, the demo digits), 64 (Tiny-ImageNet)."""

TABLE_C1_COUNTS = {
    (32, 10): {"lenetlike": 62006, "vanillacnn": 68818, "resnet8": 78042, "resnet32": 466906, "resnet56": 855770},
    (64, 200): {"lenetlike": 79612, "vanillacnn": 112856, "resnet8": 128792, "resnet32": 517656,
                "resnet56": 906520},
}
"""Table C.1 "# Params" per (image size, classes): the networks as trained (ResNets with batch norm)."""

FOLDED_COUNTS = {
    (32, 10): {"lenetlike": 62006, "vanillacnn": 68818, "resnet8": 77706, "resnet32": 465674, "resnet56": 853642},
    (64, 200): {"lenetlike": 79612, "vanillacnn": 112856, "resnet8": 128456, "resnet32": 516424,
                "resnet56": 904392},
}
"""Parameters of the same networks after batch-norm folding: what a PRep holds (one bias per normalised
channel replaces gamma and beta). SIREN with hidden 256 holds 67,073."""


class ZooNet(nn.Module):
    """Base of the classifiers: remembers how it was built, so it can be rebuilt (folding, PRep templates)."""

    def __init__(self, architecture: str, num_classes: int, image_size: int, batch_norm: bool) -> None:
        super().__init__()
        self.architecture = architecture
        self.num_classes = int(num_classes)
        self.image_size = int(image_size)
        self.batch_norm = bool(batch_norm)

    @property
    def class_id(self) -> int | None:
        return ARCHITECTURES[self.architecture].class_id

    def build_args(self) -> dict:
        """Keyword arguments of :func:`build` that give this network's architecture."""
        return {"name": self.architecture, "num_classes": self.num_classes, "image_size": self.image_size,
                "batch_norm": self.batch_norm}


# ----------------------------------------------------------------------------- LeNetLike, VanillaCNN

class LeNetLike(ZooNet):
    """LeNet-5 with LeakyReLU (Fig. C.3 top left). 32x32: conv 3->6 k5 s2, conv 6->16 k5 s2; 64x64: conv 3->4
    k5 s2 p2, conv 4->8 k5 s2, conv 8->16 k5 s2; then fc 400->120->84->classes."""

    def __init__(self, num_classes: int, image_size: int, batch_norm: bool = False) -> None:
        super().__init__("lenetlike", num_classes, image_size, batch_norm)
        if image_size == 32:
            convs = [nn.Conv2d(3, 6, 5, stride=2), nn.Conv2d(6, 16, 5, stride=2)]
        else:
            convs = [nn.Conv2d(3, 4, 5, stride=2, padding=2), nn.Conv2d(4, 8, 5, stride=2),
                     nn.Conv2d(8, 16, 5, stride=2)]
        self.convs = nn.ModuleList(convs)
        self.fcs = nn.ModuleList([nn.Linear(16 * 5 * 5, 120), nn.Linear(120, 84), nn.Linear(84, num_classes)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = F.leaky_relu(conv(x))
        x = torch.flatten(x, 1)
        for fc in self.fcs[:-1]:
            x = F.leaky_relu(fc(x))
        return self.fcs[-1](x)


_VANILLA_CONFIG = {  # (filters, kernel, stride) per conv, padding 1 (peer models/vanillacnn.py)
    32: ((8, 3, 2), (8, 3, 1), (32, 3, 2), (64, 3, 1), (64, 3, 2)),
    64: ((8, 3, 2), (16, 3, 2), (32, 3, 2), (64, 3, 2), (64, 3, 2)),
}


class VanillaCNN(ZooNet):
    """Five 3x3 convolutions (padding 1) with LeakyReLU and one fully connected layer (Fig. C.3 bottom left)."""

    def __init__(self, num_classes: int, image_size: int, batch_norm: bool = False) -> None:
        super().__init__("vanillacnn", num_classes, image_size, batch_norm)
        convs, channels, size = [], 3, image_size
        for filters, kernel, stride in _VANILLA_CONFIG[image_size]:
            convs.append(nn.Conv2d(channels, filters, kernel, stride=stride, padding=1))
            channels, size = filters, size // stride
        self.convs = nn.ModuleList(convs)
        self.fc = nn.Linear(channels * size * size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = F.leaky_relu(conv(x))
        return self.fc(torch.flatten(x, 1))


# ----------------------------------------------------------------------------- ResNets

def _norm(channels: int, batch_norm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if batch_norm else nn.Identity()


class BasicBlock(nn.Module):
    """Two 3x3 convolutions, each followed by its norm (identity once folded); shortcut 1x1 conv + norm when
    the stride or width changes; LeakyReLU after the first conv and after the sum."""

    def __init__(self, inplanes: int, planes: int, stride: int, batch_norm: bool) -> None:
        super().__init__()
        bias = not batch_norm
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=bias)
        self.bn1 = _norm(planes, batch_norm)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=bias)
        self.bn2 = _norm(planes, batch_norm)
        self.shortcut = None
        if stride != 1 or inplanes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride=stride, bias=bias),
                                          _norm(planes, batch_norm))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.leaky_relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.shortcut is None else self.shortcut(x)
        return F.leaky_relu(out + identity)


class ResNet(ZooNet):
    """CIFAR ResNet of depth 6n+2 (Figs. C.3 right, C.4): conv 3->16, three stages of n blocks (16, 32, 64
    filters; stride 2 entering stages 2 and 3), average pooling 8x8, fc. Kaiming-normal (fan_out) conv init."""

    def __init__(self, architecture: str, depth: int, num_classes: int, image_size: int,
                 batch_norm: bool = False) -> None:
        super().__init__(architecture, num_classes, image_size, batch_norm)
        if (depth - 2) % 6:
            raise ValueError(f"ResNet depth must be 6n+2 (8, 32, 56, ...), got {depth}")
        n = (depth - 2) // 6
        self.depth = depth
        self.conv1 = nn.Conv2d(3, 16, 3, stride=1, padding=1, bias=not batch_norm)
        self.bn1 = _norm(16, batch_norm)
        stages, inplanes = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = []
            for i in range(n):
                blocks.append(BasicBlock(inplanes, planes, stride if i == 0 else 1, batch_norm))
                inplanes = planes
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        pooled = (image_size // 4) // 8  # two stride-2 stages, then average pooling 8x8
        self.fc = nn.Linear(64 * pooled * pooled, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = F.avg_pool2d(x, 8)
        return self.fc(torch.flatten(x, 1))


# ----------------------------------------------------------------------------- SIREN

class Sine(nn.Module):
    """sin(w0 x), w0 = 30 (SIREN)."""

    def __init__(self, w0: float = 30.0) -> None:
        super().__init__()
        self.w0 = w0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.w0 * x)


class Siren(nn.Module):
    """SDF MLP: coordinates [..., 3] -> signed distance [...]."""

    architecture = "siren"
    class_id = None

    def __init__(self, hidden: int = 256, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.hidden = int(hidden)
        self.net = nn.Sequential(nn.Linear(3, hidden), Sine(), nn.Linear(hidden, hidden), Sine(),
                                 nn.Linear(hidden, 1))
        with torch.no_grad():
            for i, layer in enumerate(m for m in self.net if isinstance(m, nn.Linear)):
                fan_in = layer.weight.shape[1]
                bound = 1.0 / fan_in if i == 0 else math.sqrt(6.0 / fan_in) / 30.0
                layer.weight.uniform_(-bound, bound, generator=generator)
                b = 1.0 / math.sqrt(fan_in)  # torch's default bias range, drawn from the same generator
                layer.bias.uniform_(-b, b, generator=generator)

    def build_args(self) -> dict:
        return {"name": "siren", "hidden": self.hidden}

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        return self.net(coords).squeeze(-1)


def build_siren(hidden: int = 256, seed: int | None = None) -> Siren:
    """A SIREN SDF MLP 3 -> hidden -> hidden -> 1, SIREN-initialised (from ``seed`` if given)."""
    if int(hidden) < 1:
        raise ValueError(f"siren hidden width must be >= 1, got {hidden}")
    generator = None if seed is None else torch.Generator().manual_seed(int(seed))
    return Siren(int(hidden), generator)


# ----------------------------------------------------------------------------- registry

@dataclass(frozen=True)
class ArchitectureSpec:
    """One entry of :data:`ARCHITECTURES`: ClassId (None: not embedded by the classifier head), whether it is
    trained with batch norm, and its builder ``(num_classes, image_size, batch_norm) -> ZooNet``."""

    name: str
    class_id: int | None
    trained_with_batch_norm: bool
    builder: Callable[..., nn.Module]


ARCHITECTURES: dict[str, ArchitectureSpec] = {
    "lenetlike": ArchitectureSpec("lenetlike", 0, False, LeNetLike),
    "vanillacnn": ArchitectureSpec("vanillacnn", 1, False, VanillaCNN),
    "resnet8": ArchitectureSpec("resnet8", 2, True, lambda c, s, bn: ResNet("resnet8", 8, c, s, bn)),
    "resnet32": ArchitectureSpec("resnet32", 3, True, lambda c, s, bn: ResNet("resnet32", 32, c, s, bn)),
    "resnet56": ArchitectureSpec("resnet56", None, True, lambda c, s, bn: ResNet("resnet56", 56, c, s, bn)),
    "siren": ArchitectureSpec("siren", None, False, lambda hidden=256, seed=None: build_siren(hidden, seed)),
}
"""name -> spec. ClassIds are the thesis's (Table C.1): LeNetLike 0, VanillaCNN 1, ResNet8 2, ResNet32 3."""

CLASS_IDS = {name: spec.class_id for name, spec in ARCHITECTURES.items() if spec.class_id is not None}


def build(name: str, num_classes: int | None = None, image_size: int | None = None, batch_norm: bool = False,
          *, hidden: int = 256, seed: int | None = None) -> nn.Module:
    """A fresh network of architecture ``name`` (see :data:`ARCHITECTURES`).

    Classifiers need ``num_classes`` (10 for CIFAR-10 and the digits, 200 for Tiny-ImageNet) and
    ``image_size`` (32 or 64: which thesis variant); ``batch_norm=True`` gives the trainable form of a ResNet.
    ``seed`` (optional) seeds the initialisation through torch's global generator state, restored afterwards.
    ``siren`` reads only ``hidden`` and ``seed``.
    """
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(ARCHITECTURES)}")
    if name == "siren":
        return build_siren(hidden, seed)
    if num_classes is None or int(num_classes) < 2:
        raise ValueError(f"build({name!r}): num_classes must be an integer >= 2, got {num_classes!r}")
    if image_size not in IMAGE_SIZES:
        raise ValueError(f"build({name!r}): image_size must be one of {IMAGE_SIZES} (the thesis's CIFAR-10 and "
                         f"Tiny-ImageNet variants; resize the images), got {image_size!r}")
    spec = ARCHITECTURES[name]
    if batch_norm and not spec.trained_with_batch_norm:
        raise ValueError(f"build({name!r}): this architecture has no batch norm; pass batch_norm=False")
    if seed is None:
        return spec.builder(int(num_classes), int(image_size), bool(batch_norm))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return spec.builder(int(num_classes), int(image_size), bool(batch_norm))


def rebuild(model: nn.Module, **changes) -> nn.Module:
    """A fresh network of ``model``'s architecture (its build arguments, updated with ``changes``)."""
    if not hasattr(model, "build_args"):
        raise TypeError(f"{type(model).__name__} was not made by netspace.architectures.build; cannot rebuild it")
    args = {**model.build_args(), **changes}
    return build(args.pop("name"), **args)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (what Table C.1 counts)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
