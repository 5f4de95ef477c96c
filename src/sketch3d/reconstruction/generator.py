"""SDF-StyleGAN's generator (Zheng et al. 2022, github.com/Zhengxinyang/SDF-StyleGAN), ported to plain torch.

The architecture, its parameter names and shapes follow the official ``network/generator.py`` (the
classes ``StyleVectorizer``, ``Generator``, ``MLP_Net``), so that the state dict of the official
pytorch-lightning checkpoint (``epoch=199.ckpt`` for chairs) loads as it is; no pytorch-lightning, no
custom CUDA ops (``bias_act`` and kornia's ``filter3d`` are written out with torch functions).

- mapping ``S`` (StyleVectorizer): z normalised to unit second moment, then ``style_depth`` (8)
  EqualLinear layers z_dim -> z_dim (learning-rate multiplier 0.1: weights scaled by 0.1/sqrt(in),
  biases by 0.1), each a leaky ReLU (0.2) times sqrt(2);
- synthesis ``G``: a learned 4^3 constant, a 3^3 convolution, then log2(volume_res) - 1 blocks (4 for
  32^3), each (but the first) upsampling x2 trilinearly, two modulated 3^3 convolutions (weights times
  style + 1, demodulated) with noise and leaky ReLU, and a 1^3 modulated convolution to ``channels``
  features summed over the blocks (the running sum upsampled and blurred by [1, 2, 1]^3 between them);
  one style vector per block: W+ is [B, n_styles, z_dim] = [B, 4, 512] for the released chair model; the
  output a [B, channels, R, R, R] feature volume;
- SDF ``M`` (MLP_Net): features trilinearly sampled at points of [-1, 1]^3 (the volume's voxel centres
  span [-1.01, 1.01], the official ``xyz2index``), then Linear(channels, 128), ``mlp_layers`` x
  Linear(128, 128), each with leaky ReLU 0.2, and Linear(128, 1).

Two architectures exist in the official code: ``network/model.py``'s defaults (z 128, 32 features, MLP depth 4)
and ``train.py``'s (z 512, ``G_feature_dim`` 16, ``mlp_network_depth`` 2), which ``scripts/train_chair.sh`` trains:
the released chair checkpoint ``epoch=199.ckpt`` is the latter, and :class:`GeneratorConfig`'s defaults are it.
A lightning checkpoint carries its architecture in ``hyper_parameters``; :func:`checkpoint_architecture` reads it
(and checks it against the tensors' shapes), never assumes it.

The official checkpoint holds the trained networks (S, G, M) and their exponential moving averages (SE,
GE, ME; decay 0.995); the averages are the ones the authors generate with, and the ones loaded here.

Noise. The official blocks draw fresh Gaussian noise at every call, so one style gives a different
shape at each call. Here each block has a FIXED noise volume drawn from ``noise_seed`` (the same for
every batch item; saved with the weights): a style always gives the same SDF, as an inversion needs.
``noise: "zero"`` uses none (only the noise layers' biases remain).

Checking the port: the unit tests compare it with outputs of the official code on seeded random weights, both
architectures (``tests/fixtures/official/Zhengxinyang_SDF-StyleGAN/``: mapping bit-identical, SDF within 1e-5 of
the SDF's scale); :func:`compare_with_reference` (CLI ``sketch3d check_generator``) compares it with SDF samples a
user makes with the official code from the real checkpoint, noise off (:data:`REFERENCE_RECIPE` says how).

Frames: points are in the generator's cube; ``sketch3d.geometry.sdf`` maps the pipeline's mesh frame
to it (``mesh_to_cube``) and scales distances (``sdf_cube_to_mesh``).
"""
from __future__ import annotations

import math
import pickle
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sketch3d.atomic import atomic_path, save_torch
from sketch3d.geometry.sdf import grid_points

FORMAT = "sketch3d.sdf_stylegan/1"
_INTERP_EXTENT = 1.01  # the official xyz2index's ext_scale: voxel centres span [-1.01, 1.01]
_NON_ARCHITECTURE = {"weights", "mean_samples", "mc_resolution", "mc_level", "n_styles"}


@dataclass(frozen=True)
class GeneratorConfig:
    """The generator's architecture. Defaults: the released chair model ``epoch=199.ckpt``, trained by the
    official ``scripts/train_chair.sh`` through ``train.py`` (whose defaults it keeps for all of these; the
    names in brackets are ``train.py``'s / ``StyleGAN2_3D``'s hyper-parameters).

    z_dim / style_dim: latent and style size (``latent_dim``, 512; the mapping keeps the size, so both must
    be equal); style_depth: mapping layers (``style_depth``, 8); lr_multiplier: the mapping's learning-rate
    multiplier (``lr_mlp``, 0.1; it scales the forward pass too); volume_res: feature volume side
    (``G_vol_size``, 32; n_styles = log2(volume_res) - 1 = 4); channels: features per voxel
    (``G_feature_dim``, 16); network_capacity, fmap_max: synthesis widths (``network_capacity`` 16,
    ``G_fmap_max`` 256: block filters min(fmap_max, 16 * 4^(i+1)) from the top, here 256, 256, 256, 64);
    mlp_hidden, mlp_layers: the SDF MLP's width and hidden 128->128 layers (``mlp_latent_dim`` 128,
    ``mlp_network_depth`` 2); noise: "fixed" (a seeded noise volume per block) or "zero"; noise_seed: its
    seed. (``network/model.py``'s own defaults differ: latent 128, 32 features, MLP depth 4.)
    """

    z_dim: int = 512
    style_dim: int = 512
    style_depth: int = 8
    lr_multiplier: float = 0.1
    volume_res: int = 32
    channels: int = 16
    network_capacity: int = 16
    fmap_max: int = 256
    mlp_hidden: int = 128
    mlp_layers: int = 2
    noise: str = "fixed"
    noise_seed: int = 0

    def __post_init__(self) -> None:
        if self.style_dim != self.z_dim:
            raise ValueError(f"generator style_dim ({self.style_dim}) must equal z_dim ({self.z_dim}): "
                             "SDF-StyleGAN's mapping network keeps the size")
        if self.volume_res < 4 or 2 ** round(math.log2(self.volume_res)) != self.volume_res:
            raise ValueError(f"generator volume_res must be a power of two >= 4, got {self.volume_res}")
        if self.noise not in ("fixed", "zero"):
            raise ValueError(f"generator noise must be 'fixed' or 'zero', got {self.noise!r}")
        for name in ("z_dim", "style_depth", "channels", "network_capacity", "fmap_max", "mlp_hidden"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"generator {name} must be a positive integer, got {getattr(self, name)!r}")
        if self.mlp_layers < 0:
            raise ValueError(f"generator mlp_layers must be >= 0, got {self.mlp_layers}")

    @property
    def n_styles(self) -> int:
        """Style vectors in W+: one per synthesis block."""
        return int(round(math.log2(self.volume_res))) - 1

    @property
    def filters(self) -> list[int]:
        """Channels entering block 0, then each block's output channels (official ``Generator``)."""
        n = self.n_styles
        widths = [min(self.fmap_max, self.network_capacity * 4 ** (i + 1)) for i in range(n)][::-1]
        return [widths[0], *widths]

    @classmethod
    def from_settings(cls, settings: dict) -> "GeneratorConfig":
        """From the params section ``reconstruction.generator`` (keys as the fields; ``weights``,
        ``mean_samples``, ``mc_resolution``, ``mc_level`` are read elsewhere; ``n_styles`` if given
        must agree with volume_res). Unknown keys raise, naming them."""
        settings = dict(settings or {})
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - names - _NON_ARCHITECTURE)
        if unknown:
            raise ValueError(f"unknown reconstruction.generator setting(s) {unknown}; known: {sorted(names)}")
        config = cls(**{k: v for k, v in settings.items() if k in names})
        if "n_styles" in settings and int(settings["n_styles"]) != config.n_styles:
            raise ValueError(f"reconstruction.generator.n_styles = {settings['n_styles']} disagrees with "
                             f"volume_res = {config.volume_res} (log2(volume_res) - 1 = {config.n_styles})")
        return config


def _leaky(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


class EqualLinear(nn.Module):
    """Official ``EqualLinear`` with ``activation='lrelu'``: weights stored / lr_mul, used times
    lr_mul / sqrt(in); ``bias_act``'s lrelu is leaky ReLU 0.2 times sqrt(2)."""

    def __init__(self, in_dim: int, out_dim: int, lr_mul: float):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.zeros(out_dim))
        self.lr_mul = float(lr_mul)
        self.scale = self.lr_mul / math.sqrt(in_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _leaky(F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)) * math.sqrt(2.0)


class StyleVectorizer(nn.Module):
    def __init__(self, dim: int, depth: int, lr_mul: float):
        super().__init__()
        self.net = nn.Sequential(*[EqualLinear(dim, dim, lr_mul) for _ in range(depth)])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z * (z.square().mean(dim=1, keepdim=True) + 1e-6).rsqrt()
        return self.net(z)


class Conv3DMod(nn.Module):
    """Modulated 3D convolution: weight x (style + 1), optionally demodulated, grouped over the batch."""

    def __init__(self, in_chan: int, out_chan: int, kernel: int, demod: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_chan, in_chan, kernel, kernel, kernel))
        nn.init.kaiming_normal_(self.weight, a=0.2, mode="fan_out", nonlinearity="leaky_relu")
        self.out_chan, self.kernel, self.demod = out_chan, kernel, demod

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        b, _, d, h, w = x.shape
        weights = self.weight[None] * (style[:, None, :, None, None, None] + 1)
        if self.demod:
            weights = weights * torch.rsqrt(weights.square().sum(dim=(2, 3, 4, 5), keepdim=True) + 1e-8)
        weights = weights.reshape(b * self.out_chan, *weights.shape[2:])
        out = F.conv3d(x.reshape(1, -1, d, h, w), weights, padding=(self.kernel - 1) // 2, groups=b)
        return out.reshape(b, self.out_chan, d, h, w)


class Blur3d(nn.Module):
    """[1, 2, 1]^3 / 64 blur with replicated borders (kornia ``filter3d(..., normalized=True)``)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("f", torch.tensor([1.0, 2.0, 1.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.f
        kernel = f[:, None, None] * f[None, :, None] * f[None, None, :]
        kernel = (kernel / kernel.sum()).to(x.dtype)
        c = x.shape[1]
        x = F.pad(x, (1,) * 6, mode="replicate")
        return F.conv3d(x, kernel.expand(c, 1, 3, 3, 3), groups=c)


class FeatureBlock(nn.Module):
    def __init__(self, latent_dim: int, input_channel: int, upsample: bool, feature_dim: int):
        super().__init__()
        self.to_style = nn.Linear(latent_dim, input_channel)
        self.conv = Conv3DMod(input_channel, feature_dim, 1, demod=False)
        self.upsample = nn.Sequential(nn.Upsample(scale_factor=2, mode="trilinear", align_corners=False),
                                      Blur3d()) if upsample else None

    def forward(self, x, prev_feature, istyle):
        x = self.conv(x, self.to_style(istyle))
        if prev_feature is not None:
            x = x + prev_feature
        return self.upsample(x) if self.upsample is not None else x


class GeneratorBlock(nn.Module):
    def __init__(self, latent_dim: int, input_channels: int, filters: int, upsample: bool,
                 upsample_feature: bool, feature_dim: int):
        super().__init__()
        self.upsample = nn.Upsample(scale_factor=2, mode="trilinear", align_corners=False) if upsample else None
        self.to_style1 = nn.Linear(latent_dim, input_channels)
        self.to_noise1 = nn.Linear(1, filters)
        self.conv1 = Conv3DMod(input_channels, filters, 3)
        self.to_style2 = nn.Linear(latent_dim, filters)
        self.to_noise2 = nn.Linear(1, filters)
        self.conv2 = Conv3DMod(filters, filters, 3)
        self.to_feature = FeatureBlock(latent_dim, filters, upsample_feature, feature_dim)

    def forward(self, x, prev_feature, istyle, noise):
        """``noise``: [1, D, H, W, 1] (the official input layout; shared by the batch)."""
        if self.upsample is not None:
            x = self.upsample(x)
        noise1 = self.to_noise1(noise).permute(0, 4, 3, 2, 1)
        noise2 = self.to_noise2(noise).permute(0, 4, 3, 2, 1)
        x = _leaky(self.conv1(x, self.to_style1(istyle)) + noise1)
        x = _leaky(self.conv2(x, self.to_style2(istyle)) + noise2)
        return x, self.to_feature(x, prev_feature, istyle)


class Synthesis(nn.Module):
    """Official ``Generator``: W+ [B, n_styles, dim] -> feature volume [B, channels, R, R, R]."""

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        filters = config.filters
        n = config.n_styles
        self.initial_block = nn.Parameter(torch.randn(1, filters[0], 4, 4, 4))
        self.initial_conv = nn.Conv3d(filters[0], filters[0], 3, padding=1)
        self.blocks = nn.ModuleList(
            GeneratorBlock(config.z_dim, cin, cout, upsample=i != 0, upsample_feature=i != n - 1,
                           feature_dim=config.channels)
            for i, (cin, cout) in enumerate(zip(filters[:-1], filters[1:])))
        gen = torch.Generator().manual_seed(int(config.noise_seed))
        for i in range(n):
            side = 4 * 2 ** i
            # drawn on the CPU (the same noise on every device); the buffers follow the module's .to()
            volume = torch.randn(1, side, side, side, 1, generator=gen, device="cpu")
            if config.noise == "zero":
                volume = torch.zeros_like(volume)
            self.register_buffer(f"noise_{i}", volume, persistent=False)

    def noises(self) -> list[torch.Tensor]:
        return [getattr(self, f"noise_{i}") for i in range(len(self.blocks))]

    def forward(self, styles: torch.Tensor) -> torch.Tensor:
        x = self.initial_conv(self.initial_block.expand(styles.shape[0], -1, -1, -1, -1))
        feature = None
        for style, block, noise in zip(styles.transpose(0, 1), self.blocks, self.noises()):
            x, feature = block(x, feature, style, noise)
        return feature


class SDFMLP(nn.Module):
    """Official ``MLP_Net``: sampled features -> signed distance."""

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(config.channels, config.mlp_hidden), nn.LeakyReLU(0.2)]
        for _ in range(config.mlp_layers):
            layers += [nn.Linear(config.mlp_hidden, config.mlp_hidden), nn.LeakyReLU(0.2)]
        layers.append(nn.Linear(config.mlp_hidden, 1))
        self.mapping = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.mapping(features).squeeze(-1)


def sample_features(volume: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Trilinear features [B, N, C] of ``volume`` [B, C, R, R, R] at cube points [B, N, 3].

    The official ``xyz2index`` puts voxel i of an axis at -1.01 + 2.02 i / (R - 1) and indexes the
    volume's dims (D, H, W) by (x, y, z), replicating the border; ``grid_sample`` with
    ``align_corners=True``, ``padding_mode='border'`` and the grid in (z, y, x) order is the same map
    (and twice differentiable in the points, for normals by autograd).
    """
    grid = (points.flip(-1) / _INTERP_EXTENT)[:, :, None, None, :].to(volume.dtype)
    out = F.grid_sample(volume, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out[:, :, :, 0, 0].transpose(1, 2)


class SDFStyleGAN(nn.Module):
    """z -> w (``map``) -> W+ (``broadcast``) -> feature volume (``volume``) -> SDF at cube points (``sdf``).

    Parameters are named as the official model's (S, G, M), so ``state_dict()`` is the official layout
    with S/G/M for SE/GE/ME (plus nothing: the fixed noise volumes are non-persistent buffers, saved by
    :func:`save_generator` beside the state dict).
    """

    def __init__(self, config: GeneratorConfig | None = None):
        super().__init__()
        self.config = config or GeneratorConfig()
        self.S = StyleVectorizer(self.config.z_dim, self.config.style_depth, self.config.lr_multiplier)
        self.G = Synthesis(self.config)
        self.M = SDFMLP(self.config)

    @property
    def n_styles(self) -> int:
        return self.config.n_styles

    def map(self, z: torch.Tensor) -> torch.Tensor:
        """Latents [B, z_dim] -> w [B, z_dim]."""
        if z.ndim != 2 or z.shape[1] != self.config.z_dim:
            raise ValueError(f"z must have shape [B, {self.config.z_dim}], got {tuple(z.shape)}")
        return self.S(z)

    def broadcast(self, w: torch.Tensor) -> torch.Tensor:
        """w [B, dim] -> W+ styles [B, n_styles, dim] (the same vector for every block)."""
        return w[:, None, :].expand(-1, self.n_styles, -1)

    def volume(self, styles: torch.Tensor) -> torch.Tensor:
        """W+ [B, n_styles, dim] -> feature volume [B, channels, R, R, R]."""
        expected = (self.n_styles, self.config.z_dim)
        if styles.ndim != 3 or tuple(styles.shape[1:]) != expected:
            raise ValueError(f"styles must have shape [B, {expected[0]}, {expected[1]}], got {tuple(styles.shape)}")
        return self.G(styles)

    def sdf(self, volume: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """Signed distance [B, N] (cube units) at cube points [B, N, 3] (or [N, 3], shared by the batch)."""
        if points.ndim == 2:
            points = points[None].expand(volume.shape[0], -1, -1)
        if points.ndim != 3 or points.shape[-1] != 3 or points.shape[0] != volume.shape[0]:
            raise ValueError(f"points must have shape [B, N, 3] with B = {volume.shape[0]}, got {tuple(points.shape)}")
        return self.M(sample_features(volume, points))

    def forward(self, styles: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        return self.sdf(self.volume(styles), points)

    def sdf_grid(self, styles: torch.Tensor, resolution: int, chunk: int = 65536) -> torch.Tensor:
        """SDF [B, R, R, R] on the cube grid of ``sketch3d.geometry.sdf.grid_points`` (``[i, j, k]`` at
        (x_i, y_j, z_k)), evaluated ``chunk`` points at a time; differentiable in the styles."""
        volume = self.volume(styles)
        points = torch.as_tensor(grid_points(resolution), dtype=volume.dtype, device=volume.device)
        parts = [self.sdf(volume, points[s:s + chunk]) for s in range(0, len(points), int(chunk))]
        return torch.cat(parts, dim=1).reshape(volume.shape[0], resolution, resolution, resolution)


def sample_styles(generator: SDFStyleGAN, n: int, seed: int, batch: int = 1000) -> torch.Tensor:
    """``n`` W+ style samples [n, n_styles, dim] from z ~ N(0, I) drawn with ``seed`` (no gradient), on the
    generator's device and in its dtype. The latents are drawn on the CPU, so that a seed gives the same styles
    on every device."""
    gen = torch.Generator().manual_seed(int(seed))
    z = torch.randn(int(n), generator.config.z_dim, generator=gen, device="cpu")
    param = next(generator.parameters())
    with torch.no_grad():
        w = torch.cat([generator.map(z[s:s + batch].to(param.device, param.dtype)) for s in range(0, len(z), batch)])
    return generator.broadcast(w).contiguous()


def mean_style(generator: SDFStyleGAN, n: int = 1000, seed: int = 0) -> torch.Tensor:
    """The mean of ``n`` sampled styles, [1, n_styles, dim]: the inversion's start (thesis 4.3.2.2: the
    mean of 1000 sampled style vectors; the official code's ``av``, the mean mapped latent)."""
    if int(n) < 1:
        raise ValueError(f"mean_samples must be >= 1, got {n}")
    return sample_styles(generator, n, seed).mean(dim=0, keepdim=True)


# ----------------------------------------------------------------------------- loading and saving

class _Stub(dict):
    """Stands in for any class of a checkpoint's pickle other than torch's tensors (pytorch-lightning's
    AttributeDict, callbacks' classes...): a dict that keeps the items and state it is built with and
    runs no code of the class it replaces."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def __setstate__(self, state):
        if isinstance(state, dict):
            self.update(state)
        elif isinstance(state, tuple):
            for part in state:
                if isinstance(part, dict):
                    self.update(part)

    def as_dict(self) -> dict:
        return dict(self)


_SAFE_BUILTINS = {"set": set, "frozenset": frozenset, "slice": slice, "complex": complex}


class _RestrictedUnpickler(pickle.Unpickler):
    """Builds torch tensors, storages, dtypes and ordered dicts; every other class becomes a :class:`_Stub`
    (a lightning checkpoint's pickle names pytorch-lightning classes; none of their code runs here)."""

    def find_class(self, module: str, name: str):
        if module == "collections" and name == "OrderedDict":
            import collections

            return collections.OrderedDict
        if module == "torch._utils" and name.startswith("_rebuild"):
            import torch._utils

            return getattr(torch._utils, name)
        if module == "torch" and (name.endswith("Storage") or isinstance(getattr(torch, name, None), torch.dtype)):
            return getattr(torch, name)
        if module == "torch" and name == "Size":
            return torch.Size
        if module == "copyreg" and name == "_reconstructor":
            import copyreg

            return copyreg._reconstructor
        if module == "builtins" and name in _SAFE_BUILTINS:
            return _SAFE_BUILTINS[name]
        return type(name, (_Stub,), {"__module__": "sketch3d.stub." + module})


class _RestrictedPickle:
    """A ``pickle_module`` for ``torch.load`` with :class:`_RestrictedUnpickler`."""

    Unpickler = _RestrictedUnpickler
    __name__ = "sketch3d_restricted_pickle"

    @staticmethod
    def load(file, **kwargs):
        return _RestrictedUnpickler(file, **kwargs).load()


def _read_checkpoint(path: Path, mmap: bool = False) -> dict:
    """``torch.load`` with ``weights_only=True`` (tensors and plain containers only); if the pickle names
    other classes (a pytorch-lightning checkpoint's hyper-parameters), again with the restricted
    unpickler, which builds them as inert stubs. ``mmap``: map the tensors instead of reading them (a zip
    checkpoint: the architecture is read without loading hundreds of MB; other files fall back to a read)."""
    if mmap:
        try:
            return _read_checkpoint_with(path, mmap=True)
        except ValueError:
            pass
    return _read_checkpoint_with(path, mmap=False)


def _read_checkpoint_with(path: Path, mmap: bool) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as first:  # noqa: BLE001 - any failure: try the restricted unpickler, then explain both
        try:
            return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_RestrictedPickle,
                              mmap=mmap)
        except Exception as second:  # noqa: BLE001
            raise ValueError(f"{path}: not a readable torch checkpoint ({type(first).__name__}: {first}; "
                             f"{type(second).__name__}: {second}); expected the official SDF-StyleGAN lightning "
                             ".ckpt or a generator saved by sketch3d") from second


def _count(keys, prefix: str, suffix: str) -> int:
    n = 0
    while f"{prefix}{n}{suffix}" in keys:
        n += 1
    return n


ARCHITECTURE = ("z_dim", "style_depth", "lr_multiplier", "volume_res", "channels", "network_capacity", "fmap_max",
                "mlp_hidden", "mlp_layers")
"""The fields of :class:`GeneratorConfig` that a weights file fixes (the rest: noise, chosen when loading)."""

HYPER_PARAMETERS = {"z_dim": "latent_dim", "style_depth": "style_depth", "lr_multiplier": "lr_mlp",
                    "volume_res": "G_vol_size", "channels": "G_feature_dim", "network_capacity": "network_capacity",
                    "fmap_max": "G_fmap_max", "mlp_hidden": "mlp_latent_dim", "mlp_layers": "mlp_network_depth"}
"""Our field -> the official ``StyleGAN2_3D`` argument (``train.py``'s option) a lightning checkpoint's
``hyper_parameters`` records it under."""


def describe_architecture(config: GeneratorConfig) -> str:
    """``z_dim=512, style_depth=8, ...``: the fields a weights file fixes."""
    return ", ".join(f"{k}={getattr(config, k)}" for k in ARCHITECTURE)


class ArchitectureMismatch(ValueError):
    """A weights file whose architecture is not the one the params describe (or disagrees with itself)."""


def config_from_state_dict(state: dict, lr_multiplier: float = 0.1, **extra) -> GeneratorConfig:
    """The architecture an official-layout state dict (keys S./G./M.) was built with, from its shapes
    (all but ``lr_multiplier``, which no shape shows)."""
    keys = set(state)
    need = ["S.net.0.weight", "G.initial_block", "G.blocks.0.to_feature.conv.weight", "M.mapping.0.weight"]
    missing = [k for k in need if k not in keys]
    if missing:
        raise ValueError(f"not an SDF-StyleGAN generator state dict: missing {missing} (and the EMA copies "
                         "SE./GE./ME. of the official checkpoint)")
    n_blocks = _count(keys, "G.blocks.", ".conv1.weight")
    filters = [tuple(state[f"G.blocks.{i}.conv1.weight"].shape)[0] for i in range(n_blocks)]
    n_mlp = sum(1 for k in keys if k.startswith("M.mapping.") and k.endswith(".weight"))
    return GeneratorConfig(
        z_dim=int(state["S.net.0.weight"].shape[1]), style_dim=int(state["S.net.0.weight"].shape[1]),
        style_depth=_count(keys, "S.net.", ".weight"), lr_multiplier=float(lr_multiplier),
        volume_res=2 ** (n_blocks + 1), channels=int(state["G.blocks.0.to_feature.conv.weight"].shape[0]),
        network_capacity=int(filters[-1]) // 4, fmap_max=int(state["G.initial_block"].shape[1]),
        mlp_hidden=int(state["M.mapping.0.weight"].shape[0]), mlp_layers=n_mlp - 2, **extra)


def _hyper_parameters(checkpoint: dict) -> dict:
    hp = checkpoint.get("hyper_parameters", {})
    if isinstance(hp, _Stub):
        hp = hp.as_dict()
    return hp if isinstance(hp, dict) else {}


def _lightning_networks(path: Path, checkpoint: dict, ema: bool) -> dict:
    """The generator networks of a lightning checkpoint's state_dict, renamed S/G/M (from SE/GE/ME with ``ema``)."""
    src = ("SE", "GE", "ME") if ema else ("S", "G", "M")
    raw = checkpoint["state_dict"]
    state = {}
    for new, old in zip(("S", "G", "M"), src):
        state.update({new + k[len(old):]: v for k, v in raw.items() if k.startswith(old + ".")})
    if not state:
        raise ValueError(f"{path}: its state_dict has no {'/'.join(src)} networks; keys start with "
                         f"{sorted({k.split('.')[0] for k in raw})}: not an SDF-StyleGAN checkpoint")
    return state


def _lightning_architecture(path: Path, checkpoint: dict, state: dict, lr_default: float | None,
                            **extra) -> tuple[GeneratorConfig, str]:
    """The architecture of a lightning checkpoint: its ``hyper_parameters`` (what ``StyleGAN2_3D`` was built
    with), checked against the tensors' shapes; the shapes alone where no hyper-parameters were saved."""
    hp = _hyper_parameters(checkpoint)
    shapes = config_from_state_dict(state, lr_multiplier=0.1, **extra)
    recorded = {field: hp[name] for field, name in HYPER_PARAMETERS.items() if name in hp}
    if not recorded:
        if lr_default is None:
            lr_default = GeneratorConfig.lr_multiplier
        config = config_from_state_dict(state, lr_multiplier=float(lr_default), **extra)
        return config, (f"the tensors' shapes (the checkpoint has no hyper_parameters; lr_multiplier "
                        f"{float(lr_default):g} taken from the params, no shape shows it)")
    try:
        values = {f: (float(v) if f == "lr_multiplier" else int(v)) for f, v in recorded.items()}
        if "z_dim" in values:
            values["style_dim"] = values["z_dim"]
        from_hp = GeneratorConfig(**{**asdict(shapes), **values})
    except (TypeError, ValueError) as exc:
        raise ArchitectureMismatch(f"{path}: unusable hyper_parameters {recorded}: {exc}") from exc
    disagree = [f"{f}: hyper_parameters.{HYPER_PARAMETERS[f]} = {getattr(from_hp, f)} vs tensors {getattr(shapes, f)}"
                for f in ARCHITECTURE if f != "lr_multiplier" and getattr(from_hp, f) != getattr(shapes, f)]
    if disagree:
        raise ArchitectureMismatch(f"{path}: the checkpoint disagrees with itself ({'; '.join(disagree)}): a "
                                   "damaged or edited file; download epoch=199.ckpt again")
    unread = sorted(set(HYPER_PARAMETERS) - set(recorded))
    source = "its hyper_parameters" + (f" (and the tensors' shapes for {unread})" if unread else "")
    return from_hp, source


def checkpoint_architecture(path: str | Path, ema: bool = True, lr_default: float | None = None
                            ) -> tuple[GeneratorConfig, str]:
    """(architecture, where it was read) of a weights file: a file of :func:`save_generator` (its config) or the
    official lightning checkpoint (its ``hyper_parameters``, checked against the tensors' shapes). The tensors are
    memory-mapped, not read: cheap enough for a preflight. Raises naming the file when it is none of these."""
    path = Path(path)
    checkpoint = _read_checkpoint(path, mmap=True)
    return _architecture(path, checkpoint, ema, lr_default)[:2]


def _architecture(path: Path, checkpoint, ema: bool, lr_default: float | None, **extra):
    """(config, source, state, noises) of a read checkpoint."""
    if not isinstance(checkpoint, dict):
        raise ValueError(f"{path}: expected a checkpoint dict, got {type(checkpoint).__name__}")
    if checkpoint.get("format") == FORMAT:
        config = GeneratorConfig(**checkpoint["config"])
        return config, "its config (a sketch3d generator)", checkpoint["state_dict"], checkpoint.get("noise")
    if "state_dict" in checkpoint:
        state = _lightning_networks(path, checkpoint, ema)
        config, source = _lightning_architecture(path, checkpoint, state, lr_default, **extra)
        return config, source, state, None
    raise ValueError(f"{path}: neither a sketch3d generator ({FORMAT}) nor a lightning checkpoint "
                     f"with 'state_dict' (keys: {sorted(checkpoint)[:8]})")


def architecture_mismatch(path: str | Path, expect: GeneratorConfig, config: GeneratorConfig,
                          source: str = "the file") -> str | None:
    """None when ``config`` (read from the weights ``path``) has ``expect``'s architecture; else the message naming
    both architectures, their differences and the fix."""
    diff = [f"{k}: params {getattr(expect, k)} vs weights {getattr(config, k)}" for k in ARCHITECTURE
            if getattr(expect, k) != getattr(config, k)]
    if not diff:
        return None
    return (f"{path}: the weights' architecture differs from reconstruction.generator ({'; '.join(diff)}). "
            f"The params describe [{describe_architecture(expect)}]; the weights (read from {source}) are "
            f"[{describe_architecture(config)}]. The released chair model epoch=199.ckpt is train.py's architecture "
            "(scripts/train_chair.sh: z_dim 512, channels 16, mlp_layers 2): point reconstruction.generator.weights "
            "at it, or set reconstruction.generator to the weights' architecture")


def load_generator(path: str | Path, ema: bool = True, noise: str = "fixed", noise_seed: int = 0,
                   expect: GeneratorConfig | None = None) -> SDFStyleGAN:
    """A generator (eval mode, CPU) from ``path``: a file written by :func:`save_generator`, or the official
    pytorch-lightning checkpoint (e.g. ``epoch=199.ckpt``), whose EMA networks SE/GE/ME are taken (``ema``;
    False: the trained S/G/M). The official checkpoint's architecture is read from its ``hyper_parameters``
    (checked against its tensors' shapes; the shapes alone if it has none); ``expect`` (the params' config), if
    given, must agree with it (:class:`ArchitectureMismatch`, naming both). ``noise``/``noise_seed`` set the fixed
    noise of an official checkpoint (ours carry theirs).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"generator weights {path} not found (reconstruction.generator.weights): "
                                "the paper profile needs SDF-StyleGAN's chair checkpoint epoch=199.ckpt "
                                "(github.com/Zhengxinyang/SDF-StyleGAN, 'pretrained models' link); the demo "
                                "trains its own (sketch3d train_generator)")
    checkpoint = _read_checkpoint(path)
    config, source, state, noises = _architecture(
        path, checkpoint, ema, None if expect is None else expect.lr_multiplier, noise=noise,
        noise_seed=int(noise_seed))
    if expect is not None:
        message = architecture_mismatch(path, expect, config, source)
        if message:
            raise ArchitectureMismatch(message)
    generator = SDFStyleGAN(config)
    result = generator.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(f"{path}: state dict does not fit SDF-StyleGAN's layout: missing "
                         f"{result.missing_keys[:6]}{'...' if len(result.missing_keys) > 6 else ''}, unexpected "
                         f"{result.unexpected_keys[:6]}{'...' if len(result.unexpected_keys) > 6 else ''}")
    if noises is not None:
        for i, volume in enumerate(noises):
            getattr(generator.G, f"noise_{i}").copy_(volume)
    return generator.eval()


def save_generator(generator: SDFStyleGAN, path: str | Path, extra: dict | None = None) -> None:
    """Write ``generator`` (config, state dict, fixed noise volumes, ``extra`` plain values) atomically;
    :func:`load_generator` reads it back with ``weights_only=True``."""
    payload = {"format": FORMAT, "config": asdict(generator.config),
               "state_dict": {k: v.detach().cpu().clone() for k, v in generator.state_dict().items()},
               "noise": [v.detach().cpu().clone() for v in generator.G.noises()], "extra": dict(extra or {})}
    save_torch(payload, path)


def load_for_settings(path: str | Path, generator_settings: dict) -> SDFStyleGAN:
    """:func:`load_generator` for the params section ``reconstruction.generator``: its architecture must match
    the weights', its ``noise``/``noise_seed`` fix an official checkpoint's noise."""
    config = GeneratorConfig.from_settings(generator_settings)
    return load_generator(path, noise=config.noise, noise_seed=config.noise_seed, expect=config)


def write_mean_style(path: str | Path, style: torch.Tensor, samples: int, seed: int) -> None:
    """The mean style as .npz: ``mean`` [1, n_styles, dim] float32, ``samples``, ``seed``."""
    with atomic_path(path) as tmp:
        np.savez(tmp, mean=style.detach().cpu().numpy().astype(np.float32), samples=np.int64(samples),
                 seed=np.int64(seed))


def read_mean_style(path: str | Path) -> torch.Tensor:
    """The [1, n_styles, dim] mean style written by :func:`write_mean_style`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mean style {path} not found: make it with `sketch3d mean_style`")
    with np.load(path, allow_pickle=False) as data:
        if "mean" not in data or data["mean"].ndim != 3 or data["mean"].shape[0] != 1:
            raise ValueError(f"{path}: expected 'mean' of shape [1, n_styles, dim] (rerun `sketch3d mean_style`)")
        return torch.from_numpy(data["mean"])


# ----------------------------------------------------------------------------- check against the official code

REFERENCE_TOLERANCE = 1e-4
"""Default bound on the largest |SDF difference| (cube units) between the port and the official code on the same
latents and points: float32 evaluations of one network by different kernels (CPU/GPU convolution algorithms,
summation orders) differ by ~1e-6 to 1e-5; a wrong weight, layer or axis order shifts the SDF by 1e-2 or more.
1e-4 is ~1/300 of a voxel of the official 64^3 marching-cubes grid (2/63 wide): the surfaces move by far less
than a voxel."""

REFERENCE_RECIPE = '''\
# In a clone of github.com/Zhengxinyang/SDF-StyleGAN with its requirements (pytorch-lightning), next to the
# checkpoint; writes official_samples.npz for `sketch3d check_generator`.
import numpy as np, torch
from network.model import StyleGAN2_3D

torch.backends.cuda.matmul.allow_tf32 = False   # TF32 would change the official numbers by ~1e-3
torch.backends.cudnn.allow_tf32 = False
model = StyleGAN2_3D.load_from_checkpoint("epoch=199.ckpt", map_location="cpu").eval()
for block in model.GE.blocks:                  # the official blocks draw fresh noise at every call;
    block.use_noise = False                    # without it they add zeros (the port's noise "zero")
z = torch.from_numpy(np.random.default_rng(0).standard_normal((8, model.latent_dim)).astype(np.float32))
points = model.get_voxel_coordinates(resolution=32).cpu()        # [32^3, 3] in [-1, 1]^3
with torch.no_grad():
    w = model.SE(z)                                              # EMA mapping (generate.py's ema=True)
    styles = w[:, None, :].expand(-1, model.GE.num_layers, -1)   # trunc_psi = 1: no truncation
    volume = model.GE(styles, torch.zeros(len(z), 1, 1, 1, 1))
    sdf = model.ME(points, volume).reshape(len(z), -1)           # raw SDF, no level subtracted
np.savez("official_samples.npz", z=z.numpy(), points=points.numpy(), sdf=sdf.numpy(), ema=True)
'''


def read_reference(path: str | Path) -> dict:
    """The arrays of a reference file made with the official code (:data:`REFERENCE_RECIPE`): ``z`` [n, z_dim]
    latents, ``points`` [N, 3] cube points, ``sdf`` [n, N] the official SDF of each latent at each point, and
    ``ema`` (optional, default True: made with the EMA networks SE/GE/ME). Raises, naming the fix, when a key is
    missing or the shapes disagree."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"reference samples {path} not found: make them with the official SDF-StyleGAN "
                                "code (see sketch3d.reconstruction.generator.REFERENCE_RECIPE)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k]) for k in data.files}
    except Exception as exc:  # noqa: BLE001 - any unreadable file: say what was expected
        raise ValueError(f"{path}: not a readable .npz ({type(exc).__name__}: {exc}); expected z, points, sdf "
                         "(see generator.REFERENCE_RECIPE)") from exc
    missing = [k for k in ("z", "points", "sdf") if k not in arrays]
    if missing:
        raise ValueError(f"{path}: reference samples lack {missing} (has {sorted(arrays)}); save z [n, z_dim], "
                         "points [N, 3] and sdf [n, N] as in generator.REFERENCE_RECIPE")
    z, points, sdf = (arrays[k].astype(np.float32) for k in ("z", "points", "sdf"))
    if sdf.ndim == 3 and sdf.shape[1] == 1:  # ME's raw [n, 1, N]
        sdf = sdf[:, 0]
    if z.ndim != 2 or points.ndim != 2 or points.shape[1] != 3 or sdf.shape != (len(z), len(points)):
        raise ValueError(f"{path}: reference shapes z {z.shape}, points {points.shape}, sdf {sdf.shape}; expected "
                         "z [n, z_dim], points [N, 3], sdf [n, N]")
    if not (np.isfinite(z).all() and np.isfinite(points).all() and np.isfinite(sdf).all()):
        raise ValueError(f"{path}: the reference holds NaN or inf values; remake it")
    return {"z": z, "points": points, "sdf": sdf, "ema": bool(arrays.get("ema", True))}


def compare_with_reference(generator: SDFStyleGAN, reference: str | Path | dict,
                           tolerance: float = REFERENCE_TOLERANCE, chunk: int = 65536) -> dict:
    """Evaluate ``generator`` on a reference file's latents and points, noise off, and compare with its SDF.

    ``reference``: a path (read by :func:`read_reference`) or its dict. The official blocks either draw fresh
    noise at each call or (``use_noise = False``) add zeros, so the reference must be made with the noise off
    and the port is evaluated the same way (a copy with its noise volumes zeroed; ``generator`` is unchanged).
    ``tolerance``: the largest |difference| allowed, cube units (default :data:`REFERENCE_TOLERANCE`).

    Returns plain values: ``samples``, ``points``, ``max_abs`` and ``mean_abs`` (|port - official|),
    ``max_abs_reference`` (the SDF's own scale), ``sign_agreement`` (fraction of (sample, point) pairs on the
    same side of level 0), ``tolerance``, ``passed`` (max_abs <= tolerance), ``ema`` and ``message``.
    """
    ref = reference if isinstance(reference, dict) else read_reference(reference)
    name = "the reference" if isinstance(reference, dict) else str(reference)
    if float(tolerance) <= 0:
        raise ValueError(f"tolerance must be > 0, got {tolerance}")
    z_dim = generator.config.z_dim
    if ref["z"].shape[1] != z_dim:
        raise ValueError(f"{name}: latents of size {ref['z'].shape[1]}, the generator's z_dim is {z_dim}: the "
                         "reference was made with another model (check the checkpoint)")
    import copy

    quiet = copy.deepcopy(generator).eval()
    for volume in quiet.G.noises():
        volume.zero_()
    device = next(quiet.parameters()).device
    z = torch.from_numpy(ref["z"]).to(device)
    points = torch.from_numpy(ref["points"]).to(device)
    with torch.no_grad():
        volume = quiet.volume(quiet.broadcast(quiet.map(z)))
        ours = torch.cat([quiet.sdf(volume, points[s:s + chunk]) for s in range(0, len(points), int(chunk))], dim=1)
    ours = ours.cpu().numpy().astype(np.float64)
    theirs = ref["sdf"].astype(np.float64)
    diff = np.abs(ours - theirs)
    report = {"samples": int(len(z)), "points": int(len(points)), "max_abs": float(diff.max()),
              "mean_abs": float(diff.mean()), "max_abs_reference": float(np.abs(theirs).max()),
              "sign_agreement": float(((ours < 0) == (theirs < 0)).mean()), "tolerance": float(tolerance),
              "ema": ref["ema"]}
    report["passed"] = report["max_abs"] <= float(tolerance)
    if report["passed"]:
        report["message"] = (f"the port matches {name}: max |SDF difference| {report['max_abs']:.2e} <= "
                             f"{float(tolerance):.0e} over {report['samples']} samples x {report['points']} points")
    else:
        report["message"] = (
            f"the port DIFFERS from {name}: max |SDF difference| {report['max_abs']:.3g} > {float(tolerance):.0e} "
            f"(mean {report['mean_abs']:.3g}, signs agree at {100 * report['sign_agreement']:.1f}% of points). "
            "Check that the reference was made from this checkpoint, with the "
            f"{'EMA (SE/GE/ME)' if ref['ema'] else 'trained (S/G/M)'} networks the reference's 'ema' names, with "
            "every GE block's use_noise = False, no truncation (trunc_psi 1), TF32 off, and the raw ME output "
            "(no level subtracted); see generator.REFERENCE_RECIPE")
    return report
