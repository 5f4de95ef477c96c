"""Batch-norm folding (C.6): same outputs in eval mode, eqs. C.6-C.7 by hand, no norms left, errors."""
import pytest
import torch
from torch import nn

from sketch3d.netspace.architectures import build, count_parameters
from sketch3d.netspace.bn_fold import conv_bn_pairs, fold_batchnorm


def _randomise_norms(model, generator):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=generator) * 0.5)
                m.running_var.copy_(torch.rand(c, generator=generator) * 1.5 + 0.25)
                m.weight.copy_(torch.rand(c, generator=generator) + 0.5)
                m.bias.copy_(torch.randn(c, generator=generator) * 0.2)
    return model


@pytest.mark.parametrize("name,size,classes", [("resnet8", 32, 10), ("resnet8", 64, 200), ("resnet32", 32, 10)])
def test_folded_net_gives_the_same_outputs(name, size, classes):
    g = torch.Generator().manual_seed(0)
    model = _randomise_norms(build(name, classes, size, batch_norm=True, seed=1), g).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    folded = fold_batchnorm(model)
    x = torch.randn(3, 3, size, size, generator=g)
    with torch.no_grad():
        want, got = model(x), folded(x)
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-5), (got - want).abs().max()
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert count_parameters(folded) == count_parameters(build(name, classes, size))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the input is left as it was


def test_fold_matches_equations_c6_c7_by_hand():
    g = torch.Generator().manual_seed(2)
    model = _randomise_norms(build("resnet8", 10, 32, batch_norm=True, seed=2), g)
    conv, bn = model.conv1, model.bn1
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # diagonal of W_BN (C.2)
    b_bn = bn.bias - bn.weight * bn.running_mean / torch.sqrt(bn.running_var + bn.eps)  # C.3
    folded = fold_batchnorm(model)
    assert torch.allclose(folded.conv1.weight, conv.weight * scale[:, None, None, None], atol=1e-6)  # C.6
    assert torch.allclose(folded.conv1.bias, b_bn, atol=1e-6)  # C.7, b_conv = 0 (no conv bias with batch norm)
    assert torch.equal(folded.fc.weight, model.fc.weight)


def test_pairs_follow_each_conv():
    pairs = conv_bn_pairs(build("resnet8", 10, 32, batch_norm=True))
    assert pairs[0] == ("conv1", "bn1")
    assert ("layer2.0.shortcut.0", "layer2.0.shortcut.1") in pairs and len(pairs) == 1 + 2 + 3 + 3


def test_net_without_norms_is_copied():
    model = build("lenetlike", 10, 32, seed=0)
    folded = fold_batchnorm(model)
    assert folded is not model
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), folded.parameters()))
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(model(x), folded(x))


def test_foreign_models_are_refused():
    with pytest.raises(ValueError, match="follows no"):
        conv_bn_pairs(nn.Sequential(nn.BatchNorm2d(3), nn.Conv2d(3, 3, 1)))
    with pytest.raises(ValueError, match="channels"):
        conv_bn_pairs(nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(5)))
    with pytest.raises(TypeError, match="rebuild"):
        fold_batchnorm(nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4)))
