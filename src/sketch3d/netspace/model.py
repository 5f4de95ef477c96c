"""NetSpace's encoder, decoder and ClassId head (chapter 5.3, Fig. 5.1, appendix C.1).

Sizes are the public peer's (CVLAB-Unibo/netspace, ``models/encoder.py``, ``models/decoder.py``):

- encoder, for an embedding of E values and h = E / 32 channels: two 1x3 convolutions of stride 1x2 over the
  width (1 -> h -> 2h), a max over the width, two 3x1 convolutions over the height (2h -> 4h -> E), a max over
  the height; LeakyReLU after each convolution, no batch norm. The embedding size does not depend on the PRep's
  height or width.
- decoder: the embedding reshaped to ``c0 x s x s`` (s = 64, c0 = E / 4096; an embedding that is not a multiple
  of 4096 must be an even square, s = sqrt(E)); a stride-2 3x3 convolution to ``H * grow`` channels, reshaped to
  ``mid x H x L``; a stride-2 convolution widening it, reshaped to ``wide x H/2 x W/4``; a stride-2 convolution
  to ``deep x H/4 x W/8``; a 3x3 convolution to 32 channels, read as the ``H x W`` PRep; then a learnt scale and
  bias per PRep element (``ScaleLayer``, initialised N(0,1) * 1e-3 and U(0,1) * 1e-2; ``scale_init`` setting).
  Peer channels: grow 256, mid 128, wide 512, deep 256.
- ClassId head (C.1): a stride-2 3x3 convolution of the ``c0 x s x s`` embedding to 10 channels, LeakyReLU,
  a linear layer to the number of architectures.

The channel counts (``channels``) are settings so that the CPU demo can run a narrower decoder; the paper profile
keeps the peer's.
"""
from __future__ import annotations

import math
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

PEER_CHANNELS = {"grow": 256, "mid": 128, "wide": 512, "deep": 256}  # decoder widths of the public peer
OUT_CHANNELS = 32  # the last convolution's channels: 4 x 8 PRep elements per position (H/4 x W/8 grid)
HEAD_CHANNELS = 10  # ClassId head's convolution (C.1, peer)


class ModelConfigError(ValueError):
    """NetSpace sizes that do not fit together."""


def embedding_grid(embedding: int) -> tuple[int, int]:
    """(channels c0, side s) of the decoder's first reshape of an embedding of ``embedding`` values."""
    if embedding <= 0:
        raise ModelConfigError(f"model.embedding={embedding}: must be positive (thesis: 4096)")
    if embedding % 4096 == 0:
        return embedding // 4096, 64
    side = math.isqrt(embedding)
    if side * side != embedding or side % 2:
        raise ModelConfigError(f"model.embedding={embedding}: must be a multiple of 4096 or an even square "
                               "(e.g. 1024, 2304); thesis: 4096")
    return 1, side


PEER_SCALE_INIT = {"scale": 1e-3, "bias": (0.0, 1e-2)}  # ScaleLayer init: scale N(0, 1) * 1e-3, bias U(0, 1e-2)


class ScaleLayer(nn.Module):
    """A learnt scale and bias per PRep element (5.3: 'an independent linear scaling ... every element').

    Initialised as the peer: scale ~ N(0, 1) * ``scale``, bias ~ U(``bias``); the peer's tiny values make the first
    decoded nets nearly constant functions, which take thousands of steps to leave (measured: a 300-step CPU demo
    stays at chance); a wider bias range (demo: U(-0.1, 0.1), about a freshly initialised net's weights) lets a
    short run learn."""

    def __init__(self, shape: tuple[int, int], scale: float = 1e-3, bias: tuple[float, float] = (0.0, 1e-2)) -> None:
        super().__init__()
        low, high = (float(v) for v in bias)
        if not low < high:
            raise ModelConfigError(f"model.scale_init.bias={list(bias)}: need low < high (peer: [0, 0.01])")
        self.init = {"scale": float(scale), "bias": [low, high]}
        self.scale = nn.Parameter(torch.randn(shape) * float(scale))
        self.bias = nn.Parameter(torch.rand(shape) * (high - low) + low)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.bias


class Encoder(nn.Module):
    """PRep [B, H, W] -> embedding [B, E]; any H, W (W >= 1)."""

    def __init__(self, embedding: int, channels: int | None = None) -> None:
        super().__init__()
        h = channels or embedding // 32
        if h <= 0:
            raise ModelConfigError(f"model.embedding={embedding}: too small for the encoder (needs >= 32)")
        self.conv1 = nn.Conv2d(1, h, (1, 3), stride=(1, 2), padding=(0, 1))
        self.conv2 = nn.Conv2d(h, 2 * h, (1, 3), stride=(1, 2), padding=(0, 1))
        self.conv3 = nn.Conv2d(2 * h, 4 * h, (3, 1), padding=(1, 0))
        self.conv4 = nn.Conv2d(4 * h, embedding, (3, 1), padding=(1, 0))

    def forward(self, prep: torch.Tensor) -> torch.Tensor:
        x = prep.unsqueeze(1)
        x = F.leaky_relu(self.conv1(x))
        x = F.leaky_relu(self.conv2(x))
        x = x.amax(dim=3, keepdim=True)
        x = F.leaky_relu(self.conv3(x))
        x = F.leaky_relu(self.conv4(x))
        return x.amax(dim=2).flatten(1)


class Decoder(nn.Module):
    """Embedding [B, E] -> PRep [B, H, W] (H a multiple of 4, W of 8)."""

    def __init__(self, prep_shape: tuple[int, int], embedding: int, channels: Mapping[str, int] | None = None,
                 scale_init: Mapping | None = None) -> None:
        super().__init__()
        height, width = (int(v) for v in prep_shape)
        if height <= 0 or width <= 0 or height % 4 or width % 8:
            raise ModelConfigError(f"PRep shape {prep_shape}: height must be a multiple of 4 and width of 8 "
                                   "(appendix C.2); build PReps with netspace.prep")
        ch = {**PEER_CHANNELS, **(channels or {})}
        unknown = set(ch) - set(PEER_CHANNELS)
        if unknown:
            raise ModelConfigError(f"model.channels: unknown key(s) {sorted(unknown)}; known {sorted(PEER_CHANNELS)}")
        self.c0, self.side = embedding_grid(embedding)
        half = self.side // 2
        # conv1 -> [H*grow, s/2, s/2] read as [mid, H, L]; conv2 (stride 2) -> [n2, H/2, L/2] read as [wide, H/2, W/4]
        length, rem = divmod(ch["grow"] * half * half, ch["mid"])
        n2, rem2 = divmod(ch["wide"] * width, 2 * length) if length % 2 == 0 else (0, 1)
        if rem or rem2 or n2 <= 0:
            raise ModelConfigError(
                f"model.channels {ch} with embedding {embedding} and PRep width {width}: the decoder's reshapes do "
                f"not divide (need grow*(s/2)^2/mid even and wide*W divisible by it); peer: {PEER_CHANNELS}")
        self.height, self.width, self.length, self.ch = height, width, length, ch
        self.conv1 = nn.Conv2d(self.c0, height * ch["grow"], 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(ch["mid"], n2, 3, stride=2, padding=1)
        self.conv3 = nn.Conv2d(ch["wide"], ch["deep"], 3, stride=2, padding=1)
        self.conv4 = nn.Conv2d(ch["deep"], OUT_CHANNELS, 3, padding=1)
        init = {**PEER_SCALE_INIT, **(scale_init or {})}
        self.scale = ScaleLayer((height, width), init["scale"], init["bias"])

    def grid(self, e: torch.Tensor) -> torch.Tensor:
        return e.reshape(e.shape[0], self.c0, self.side, self.side)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        b, h, w = e.shape[0], self.height, self.width
        x = F.leaky_relu(self.conv1(self.grid(e)))
        x = x.reshape(b, self.ch["mid"], h, self.length)
        x = F.leaky_relu(self.conv2(x))
        x = x.reshape(b, self.ch["wide"], h // 2, w // 4)
        x = F.leaky_relu(self.conv3(x))
        x = self.conv4(x)
        return self.scale(x.reshape(b, h, w))


class ClassHead(nn.Module):
    """ClassId classifier on the embedding (C.1): conv, LeakyReLU, linear; logits [B, classes]."""

    def __init__(self, embedding: int, classes: int) -> None:
        super().__init__()
        self.c0, self.side = embedding_grid(embedding)
        self.conv = nn.Conv2d(self.c0, HEAD_CHANNELS, 3, stride=2, padding=1)
        self.fc = nn.Linear(HEAD_CHANNELS * (self.side // 2) ** 2, classes)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.conv(e.reshape(e.shape[0], self.c0, self.side, self.side)))
        return self.fc(x.flatten(1))


class NetSpace(nn.Module):
    """Encoder + decoder (+ ClassId head when ``classes`` is given, the Multi-Architecture variant, Fig. C.1).

    ``prep_shape``: (H, W) of the decoded PReps (multi: the largest architecture's); ``embedding``: E (thesis 4096);
    ``channels``: the decoder's widths (default the peer's, ``PEER_CHANNELS``); ``encoder_channels``: h (default E/32);
    ``scale_init``: the ScaleLayer's initialisation (default the peer's, ``PEER_SCALE_INIT``).
    """

    def __init__(self, prep_shape: tuple[int, int], embedding: int = 4096, classes: int | None = None,
                 channels: Mapping[str, int] | None = None, encoder_channels: int | None = None,
                 scale_init: Mapping | None = None) -> None:
        super().__init__()
        self.prep_shape = (int(prep_shape[0]), int(prep_shape[1]))
        self.embedding = int(embedding)
        self.classes = classes
        self.encoder = Encoder(self.embedding, encoder_channels)
        self.decoder = Decoder(self.prep_shape, self.embedding, channels, scale_init)
        self.head = ClassHead(self.embedding, classes) if classes else None

    @classmethod
    def from_settings(cls, prep_shape: tuple[int, int], model: Mapping, classes: int | None = None) -> "NetSpace":
        """From the ``netspace.model`` settings: ``embedding`` (4096), ``channels`` (decoder widths, peer's by
        default), ``encoder_channels`` (E/32 by default), ``scale_init`` ({scale, bias: [low, high]}, peer's by
        default)."""
        unknown = set(model) - {"embedding", "channels", "encoder_channels", "scale_init"}
        if unknown:
            raise ModelConfigError(f"netspace.model: unknown key(s) {sorted(unknown)}")
        return cls(prep_shape, int(model.get("embedding", 4096)), classes, model.get("channels"),
                   model.get("encoder_channels"), model.get("scale_init"))

    def config(self) -> dict:
        """What rebuilds this model (saved beside its weights)."""
        return {"prep_shape": list(self.prep_shape), "embedding": self.embedding, "classes": self.classes,
                "channels": dict(self.decoder.ch), "encoder_channels": self.encoder.conv1.out_channels,
                "scale_init": dict(self.decoder.scale.init)}

    @classmethod
    def from_config(cls, config: Mapping) -> "NetSpace":
        return cls(tuple(config["prep_shape"]), config["embedding"], config["classes"], config["channels"],
                   config["encoder_channels"], config.get("scale_init"))

    def _check(self, prep: torch.Tensor) -> None:
        if prep.dim() != 3:
            raise ValueError(f"NetSpace.encode: PReps must be [B, H, W], got shape {tuple(prep.shape)}")

    def encode(self, prep: torch.Tensor) -> torch.Tensor:
        self._check(prep)
        return self.encoder(prep)

    def decode(self, e: torch.Tensor) -> torch.Tensor:
        if e.dim() != 2 or e.shape[1] != self.embedding:
            raise ValueError(f"NetSpace.decode: embeddings must be [B, {self.embedding}], got {tuple(e.shape)}")
        return self.decoder(e)

    def classify(self, e: torch.Tensor) -> torch.Tensor:
        if self.head is None:
            raise ValueError("NetSpace.classify: this model has no ClassId head (built without classes)")
        return self.head(e)

    def forward(self, prep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(embedding, decoded PRep)."""
        e = self.encode(prep)
        return e, self.decode(e)
