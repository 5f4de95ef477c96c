"""PRep, the parameter representation NetSpace reads and writes (thesis appendix C.2, Fig. C.2).

All parameters of a network, in registration order (``named_parameters``: for a folded ResNet conv weight,
conv bias, ..., fc weight, fc bias, the peer's order), flattened and laid one row after the other into a
[height, width] matrix, zero-padded at the end. The width W is fixed for a setting (10,000 in the thesis and
the public peer) and must be a multiple of 8; the height is ceil(P / W) rounded up to a multiple of 4 (C.2),
or a larger multiple of 4 shared by several architectures (multi-architecture setting: the largest one's).
With W = 10,000: ResNet8 8 rows (CIFAR-10) or 16 (Tiny-ImageNet), SIREN 256 8 rows, ResNet56 on CIFAR-10 88,
as in the peer's scripts.

:class:`PRepLayout` says where each parameter lies; :func:`to_prep` makes a PRep of a network;
:func:`from_prep` reads the parameters back as views of the PRep (differentiable, nothing copied);
:func:`forward_with_prep` runs a network's architecture with a PRep's parameters through
``torch.func.functional_call`` (``torch.func.vmap`` over a batch of PReps), so gradients reach the PRep.
Networks with batch norm must be folded first (:func:`sketch3d.netspace.bn_fold.fold_batchnorm`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import torch
from torch import nn
from torch.func import functional_call, vmap

from sketch3d.netspace.architectures import build

WIDTH_MULTIPLE = 8
HEIGHT_MULTIPLE = 4


def prep_height(n_params: int, width: int) -> int:
    """C.2's height: ceil(P / W) rows, plus 4 - (ceil(P / W) mod 4) rows of padding when that is not 0."""
    _check_width(width)
    rows = math.ceil(int(n_params) / int(width))
    return rows + (-rows) % HEIGHT_MULTIPLE


def _check_width(width: int) -> None:
    if int(width) != width or width <= 0 or width % WIDTH_MULTIPLE:
        raise ValueError(f"PRep width must be a positive multiple of {WIDTH_MULTIPLE} (thesis C.2; 10000 in the "
                         f"paper), got {width!r}: set netspace.prep.width")


@dataclass(frozen=True)
class PRepLayout:
    """Where each parameter of an architecture lies in its PRep: ``names`` (``named_parameters`` order),
    ``shapes``, ``offsets`` (start in the flattened PRep), ``n_params`` (sum of their sizes), ``height`` and
    ``width`` (the PRep's shape)."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    offsets: tuple[int, ...]
    n_params: int
    height: int
    width: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    @classmethod
    def from_model(cls, model: nn.Module, width: int, height: int | None = None) -> "PRepLayout":
        """The layout of ``model``'s parameters; ``height`` defaults to C.2's rule, and a larger one (a multiple
        of 4) gives the common PRep size of several architectures."""
        _check_not_normalised(model)
        return cls.from_shapes([(n, tuple(p.shape)) for n, p in model.named_parameters()], width, height)

    @classmethod
    def from_architecture(cls, name: str, width: int, height: int | None = None, **build_args) -> "PRepLayout":
        """The layout of architecture ``name`` as it enters a PRep (without batch norm); ``build_args`` are
        :func:`sketch3d.netspace.architectures.build`'s (num_classes, image_size; hidden for siren)."""
        build_args.pop("batch_norm", None)
        return cls.from_model(build(name, **build_args), width, height)

    @classmethod
    def from_shapes(cls, named_shapes, width: int, height: int | None = None) -> "PRepLayout":
        """The layout of parameters given as (name, shape) pairs, in PRep order."""
        _check_width(width)
        names, shapes, offsets, total = [], [], [], 0
        for name, shape in named_shapes:
            names.append(name)
            shapes.append(tuple(int(s) for s in shape))
            offsets.append(total)
            total += math.prod(shapes[-1])
        needed = prep_height(total, width)
        if height is None:
            height = needed
        elif int(height) != height or height < needed or height % HEIGHT_MULTIPLE:
            raise ValueError(f"PRep height {height!r} cannot hold {total} parameters at width {width}: it must be a "
                             f"multiple of {HEIGHT_MULTIPLE} and at least {needed} (C.2)")
        return cls(tuple(names), tuple(shapes), tuple(offsets), total, int(height), int(width))


def common_height(layouts) -> int:
    """The height a PRep needs to hold each of ``layouts`` (their largest): the multi-architecture PRep size."""
    layouts = list(layouts)
    if not layouts:
        raise ValueError("common_height: no layouts given")
    if len({lay.width for lay in layouts}) != 1:
        raise ValueError(f"common_height: layouts of different widths {sorted({lay.width for lay in layouts})}")
    return max(lay.height for lay in layouts)


def _check_not_normalised(model: nn.Module) -> None:
    norms = [n for n, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if norms:
        raise ValueError(f"{type(model).__name__} still has batch norm ({norms[0]}, ...): fold it first with "
                         "netspace.bn_fold.fold_batchnorm (C.6); a PRep holds parameters of plain layers only")


def params_to_prep(params: Mapping[str, torch.Tensor], layout: PRepLayout) -> torch.Tensor:
    """The PRep [height, width] of parameters named as in ``layout`` (differentiable: interpolations in weight
    space, decoded nets)."""
    missing = [n for n in layout.names if n not in params]
    if missing:
        raise ValueError(f"params_to_prep: no tensor for {missing[:3]}... (the layout holds {len(layout.names)} "
                         "parameters); are the parameters of this architecture?")
    parts = []
    for name, shape in zip(layout.names, layout.shapes):
        t = params[name]
        if tuple(t.shape) != shape:
            raise ValueError(f"params_to_prep: {name} has shape {tuple(t.shape)}, the layout expects {shape}")
        parts.append(t.reshape(-1))
    flat = torch.cat(parts)
    flat = torch.nn.functional.pad(flat, (0, layout.height * layout.width - layout.n_params))
    return flat.reshape(layout.height, layout.width)


def to_prep(model: nn.Module, width: int | None = None, height: int | None = None,
            layout: PRepLayout | None = None) -> torch.Tensor:
    """The PRep [height, width] of ``model`` (a detached snapshot on the model's device): give ``width``
    (and optionally ``height``), or a ``layout``."""
    if layout is None:
        if width is None:
            raise ValueError("to_prep: give the PRep width (netspace.prep.width) or a PRepLayout")
        layout = PRepLayout.from_model(model, width, height)
    else:
        _check_not_normalised(model)
    with torch.no_grad():
        return params_to_prep(dict(model.named_parameters()), layout).detach()


def from_prep(prep: torch.Tensor, layout: PRepLayout) -> dict[str, torch.Tensor]:
    """The parameters held by ``prep`` ([height, width], or [B, height, width] for B networks: each tensor
    then gets a leading B axis), as views of it: differentiable, nothing copied; the padding is ignored."""
    if prep.dim() not in (2, 3) or tuple(prep.shape[-2:]) != layout.shape:
        raise ValueError(f"from_prep: PRep of shape {tuple(prep.shape)}, the layout needs [..., {layout.height}, "
                         f"{layout.width}] (same netspace.prep.width and architecture?)")
    batch = tuple(prep.shape[:-2])
    flat = prep.reshape(*batch, -1)
    return {name: flat[..., off:off + math.prod(shape)].reshape(*batch, *shape)
            for name, shape, off in zip(layout.names, layout.shapes, layout.offsets)}


def forward_with_prep(template: nn.Module, prep: torch.Tensor, x: torch.Tensor, layout: PRepLayout | None = None,
                      per_net_inputs: bool = False, vectorize: bool | None = None) -> torch.Tensor:
    """``template``'s architecture run on ``x`` with the parameters of ``prep`` (the template's own values are
    not used); differentiable with respect to ``prep``.

    ``prep`` [H, W]: one network, output ``template(x)``-shaped. ``prep`` [B, H, W]: B networks (vmap), output
    [B, ...]; they all see the same ``x``, or with ``per_net_inputs=True`` network b sees ``x[b]``.
    ``layout`` defaults to the template's layout at the PRep's width and height. ``vectorize``: run the B
    networks at once with ``torch.func.vmap`` (default on CUDA) or one after the other (default elsewhere: on
    one CPU thread the loop measured faster, ResNet8 8 nets x 128 images forward+backward ~5 s vs ~8 s); both
    give the same values.
    """
    if layout is None:
        if prep.dim() not in (2, 3):
            raise ValueError(f"forward_with_prep: PRep must be [H, W] or [B, H, W], got {tuple(prep.shape)}")
        layout = PRepLayout.from_model(template, prep.shape[-1], prep.shape[-2])
    if prep.dim() == 2:
        if per_net_inputs:
            raise ValueError("forward_with_prep: per_net_inputs needs a batch of PReps [B, H, W]")
        return functional_call(template, from_prep(prep, layout), (x,))
    if per_net_inputs and x.shape[0] != prep.shape[0]:
        raise ValueError(f"forward_with_prep: {prep.shape[0]} PReps but inputs for {x.shape[0]} networks")

    def one(p, inputs):
        return functional_call(template, from_prep(p, layout), (inputs,))

    if vectorize is None:
        vectorize = prep.device.type == "cuda"
    if vectorize:
        return vmap(one, in_dims=(0, 0 if per_net_inputs else None))(prep, x)
    return torch.stack([one(p, x[b] if per_net_inputs else x) for b, p in enumerate(prep)])


@torch.no_grad()
def load_prep(model: nn.Module, prep: torch.Tensor, layout: PRepLayout | None = None) -> nn.Module:
    """Copy the parameters of ``prep`` [H, W] into ``model`` (in place; returns it): a decoded network as an
    ordinary module, e.g. to evaluate or save it."""
    if layout is None:
        layout = PRepLayout.from_model(model, prep.shape[-1], prep.shape[-2])
    params = dict(model.named_parameters())
    for name, value in from_prep(prep, layout).items():
        params[name].copy_(value)
    return model
