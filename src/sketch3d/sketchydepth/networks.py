"""The chapter's networks: pix2pix's U-Net generator and PatchGAN discriminator, and which model has which.

Facts from pix2pix (Isola et al. 2017; junyanz/pytorch-CycleGAN-and-pix2pix, the thesis's reference
implementation), written anew here:

- U-Net generator: ``num_downs`` stride-2 4x4 convolutions take a side-``2**num_downs`` image to 1x1
  (unet_128: 7 for 128x128; the demo's 64x64: 6). Encoder widths ngf, 2ngf, 4ngf, then 8ngf; every encoder
  block is LeakyReLU(0.2) -> conv -> BatchNorm, except the outermost (conv only) and the innermost (no norm).
  Decoder blocks are ReLU -> transposed conv -> BatchNorm, their output concatenated with the skip; the
  ``num_downs - 5`` 8ngf blocks between the innermost and the 4ngf one end with Dropout(0.5); the
  outermost decoder ends with Tanh. Only the outermost transposed conv has a bias (pix2pix sets bias off
  for every other U-Net conv, the outermost and innermost down convs included).
- PatchGAN (``n_layers`` 3 = the 70x70 receptive field): 4x4 convolutions ndf (stride 2, no norm),
  2ndf, 4ndf (stride 2), 8ndf (stride 1), then 1 channel (stride 1), LeakyReLU(0.2), BatchNorm; logits out.
- Init: conv weights ~ N(0, 0.02), biases 0, BatchNorm weights ~ N(1, 0.02), biases 0.
- GAN loss "vanilla": binary cross-entropy on the logits against an all-1 (real) or all-0 (fake) map.

Which networks a model of Table 3.1 has, and their channel counts, is :data:`MODELS` (``sketchydepth.names``).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from sketch3d.sketchydepth.names import MODELS, ModelSpec  # noqa: F401  (their home: the light names module)

MIN_DOWNS = 5  # the fixed ngf, 2ngf, 4ngf, 8ngf blocks and the innermost one


def model_spec(model: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``model``, or a ValueError listing the models."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose one of {sorted(MODELS)}")
    return MODELS[model]


def num_downs_for(size: int) -> int:
    """U-Net depth for a square image of side ``size``: log2(size) (128 -> 7, pix2pix's unet_128)."""
    if size < 2 ** MIN_DOWNS or size & (size - 1):
        raise ValueError(f"image side {size}: the U-Net needs a power of two >= {2 ** MIN_DOWNS} "
                         "(prepare the scenes at e.g. 64 or 128)")
    return size.bit_length() - 1


class UnetBlock(nn.Module):
    """One level of the U-Net: down, the inner levels, up; the input is concatenated to the output
    (except at the outermost level, whose output is the image)."""

    def __init__(self, outer: int, inner: int, sub: nn.Module | None, in_channels: int | None = None,
                 outermost: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        self.outermost = outermost
        in_channels = outer if in_channels is None else in_channels
        innermost = sub is None
        down: list[nn.Module] = [] if outermost else [nn.LeakyReLU(0.2, True)]
        down.append(nn.Conv2d(in_channels, inner, 4, 2, 1, bias=False))  # as pix2pix: no bias on any down conv
        if not (outermost or innermost):
            down.append(nn.BatchNorm2d(inner))
        up_in = inner if innermost else inner * 2
        up: list[nn.Module] = [nn.ReLU(True), nn.ConvTranspose2d(up_in, outer, 4, 2, 1, bias=outermost)]
        up.append(nn.Tanh() if outermost else nn.BatchNorm2d(outer))
        if dropout and not (outermost or innermost):
            up.append(nn.Dropout(dropout))
        self.model = nn.Sequential(*down, *([sub] if sub is not None else []), *up)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.model(x)
        return y if self.outermost else torch.cat([x, y], 1)


class UnetGenerator(nn.Module):
    """pix2pix's U-Net: [B, in_channels, S, S] in [-1, 1] -> [B, out_channels, S, S] in [-1, 1] (Tanh)."""

    def __init__(self, in_channels: int, out_channels: int, num_downs: int, ngf: int, dropout: float = 0.5) -> None:
        super().__init__()
        if num_downs < MIN_DOWNS:
            raise ValueError(f"UnetGenerator: num_downs must be >= {MIN_DOWNS}, got {num_downs}")
        self.in_channels, self.out_channels, self.num_downs = in_channels, out_channels, num_downs
        block = UnetBlock(ngf * 8, ngf * 8, None)  # innermost: 1x1 at the bottleneck
        for _ in range(num_downs - MIN_DOWNS):
            block = UnetBlock(ngf * 8, ngf * 8, block, dropout=dropout)
        block = UnetBlock(ngf * 4, ngf * 8, block)
        block = UnetBlock(ngf * 2, ngf * 4, block)
        block = UnetBlock(ngf, ngf * 2, block)
        self.model = UnetBlock(out_channels, ngf, block, in_channels=in_channels, outermost=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PatchDiscriminator(nn.Module):
    """pix2pix's NLayerDiscriminator (n_layers 3: 70x70 PatchGAN): [B, C, S, S] -> logits [B, 1, S', S']."""

    def __init__(self, in_channels: int, ndf: int, n_layers: int = 3) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"PatchDiscriminator: n_layers must be >= 1, got {n_layers}")
        self.in_channels = in_channels
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        width = ndf
        for n in range(1, n_layers + 1):
            nxt = ndf * min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(width, nxt, 4, stride, 1, bias=False), nn.BatchNorm2d(nxt), nn.LeakyReLU(0.2, True)]
            width = nxt
        layers.append(nn.Conv2d(width, 1, 4, 1, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def patch_map_size(size: int, n_layers: int = 3) -> int:
    """Side of the PatchGAN's output map for a side-``size`` input (each 4x4 conv, padding 1: stride 2
    gives floor(s / 2), stride 1 gives s - 1)."""
    s = size
    for _ in range(n_layers):
        s //= 2
    return s - 2


def init_weights(net: nn.Module, generator: torch.Generator, gain: float = 0.02) -> nn.Module:
    """pix2pix's 'normal' init, drawn from ``generator``: conv weights N(0, gain), BatchNorm weights
    N(1, gain), every bias 0."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                m.weight.normal_(0.0, gain, generator=generator)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.normal_(1.0, gain, generator=generator)
                m.bias.zero_()
    return net


def build_networks(model: str, size: int, ngf: int, ndf: int, n_layers_d: int = 3, dropout: float = 0.5,
                   init_gain: float = 0.02, seed: int = 0, discriminators: bool = True) -> dict[str, nn.Module]:
    """The networks of ``model`` for side-``size`` images, initialised from ``seed`` (in name order)."""
    spec = model_spec(model)
    downs = num_downs_for(size)
    g = torch.Generator().manual_seed(int(seed))
    nets: dict[str, nn.Module] = {}
    for name in sorted(spec.generators):
        cin, cout = spec.generators[name]
        nets[name] = init_weights(UnetGenerator(cin, cout, downs, ngf, dropout), g, init_gain)
    if discriminators:
        for name in sorted(spec.discriminators):
            nets[name] = init_weights(PatchDiscriminator(spec.discriminators[name], ndf, n_layers_d), g, init_gain)
    return nets


def gan_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """pix2pix's 'vanilla' GAN loss: BCE of the logits against an all-real (1) or all-fake (0) target."""
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)
