"""Batch-norm folding (thesis appendix C.6): a network trained with batch norm becomes the same architecture
without it, every convolution absorbing the frozen affine map of the norm that follows it (eqs. C.6-C.7:
W = W_BN W_conv, b = W_BN b_conv + b_BN, with W_BN = diag(gamma / sqrt(var + eps)) and
b_BN = beta - gamma mean / sqrt(var + eps)). In eval mode the folded net computes what the original computes.

The arithmetic is torch's own ``torch.nn.utils.fusion.fuse_conv_bn_weights``. Which convolution a norm
follows: the networks of :mod:`sketch3d.netspace.architectures` register each BatchNorm2d right after its
convolution, so each norm is paired with the latest convolution registered before it (checked: same number
of channels, one norm per convolution).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

from sketch3d.netspace.architectures import rebuild


def conv_bn_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """(convolution name, batch norm name) for every BatchNorm2d of ``model``, in registration order."""
    pairs, last_conv, used = [], None, set()
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            last_conv = (name, module)
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            if not isinstance(module, nn.BatchNorm2d):
                raise ValueError(f"fold_batchnorm: {name} is a {type(module).__name__}; only BatchNorm2d after a "
                                 "Conv2d can be folded")
            if last_conv is None or last_conv[0] in used:
                raise ValueError(f"fold_batchnorm: batch norm {name} follows no unfolded convolution")
            conv_name, conv = last_conv
            if conv.out_channels != module.num_features:
                raise ValueError(f"fold_batchnorm: {name} normalises {module.num_features} channels but {conv_name} "
                                 f"gives {conv.out_channels}")
            if module.running_mean is None or module.running_var is None:
                raise ValueError(f"fold_batchnorm: {name} keeps no running statistics (track_running_stats=False); "
                                 "it is not a frozen affine map and cannot be folded")
            used.add(conv_name)
            pairs.append((conv_name, name))
    return pairs


@torch.no_grad()
def fold_batchnorm(model: nn.Module) -> nn.Module:
    """The same architecture built with ``batch_norm=False``, holding ``model``'s weights with every batch norm
    folded into the convolution before it (C.6). A model without batch norm comes back as a copy.

    ``model`` must come from :func:`sketch3d.netspace.architectures.build`; the result is in eval mode, on
    ``model``'s device and dtype, and its parameters are fresh tensors (``model`` is left unchanged).
    """
    pairs = conv_bn_pairs(model)
    folded = rebuild(model, batch_norm=False)
    ref = next(model.parameters())
    folded = folded.to(device=ref.device, dtype=ref.dtype)
    modules = dict(model.named_modules())
    source = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    target: dict[str, torch.Tensor] = {}
    for conv_name, bn_name in pairs:
        conv, bn = modules[conv_name], modules[bn_name]
        w, b = fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight,
                                    bn.bias)
        target[f"{conv_name}.weight"], target[f"{conv_name}.bias"] = w.detach(), b.detach()
        for key in list(source):
            if key.startswith(f"{conv_name}.") or key.startswith(f"{bn_name}."):
                source.pop(key)
    target.update(source)  # everything not normalised (fc, unnormalised convs) as it is
    expected = set(folded.state_dict())
    if set(target) != expected:
        raise ValueError(f"fold_batchnorm: the folded {type(model).__name__} expects {sorted(expected - set(target))}"
                         f" and does not know {sorted(set(target) - expected)}: is the model from "
                         "netspace.architectures.build?")
    folded.load_state_dict(target)
    return folded.eval()
