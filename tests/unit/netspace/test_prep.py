"""PRep (C.2): round trip for every architecture, the padding rule, gradients through forward_with_prep."""
import math

import pytest
import torch

from sketch3d.netspace.architectures import ARCHITECTURES, build, build_siren
from sketch3d.netspace.prep import (PRepLayout, common_height, forward_with_prep, from_prep, load_prep,
                                    params_to_prep, prep_height, to_prep)

CLASSIFIERS = [n for n in ARCHITECTURES if n != "siren"]


def _inputs(name, size, g):
    return torch.randn(5, 3) if name == "siren" else torch.randn(2, 3, size, size, generator=g)


def _net(name, size, seed):
    return build_siren(32, seed=seed) if name == "siren" else build(name, size // 3, size, seed=seed)


@pytest.mark.parametrize("name,size", [*((n, s) for n in CLASSIFIERS for s in (32, 64)), ("siren", 0)])
def test_round_trip_gives_identical_outputs(name, size):
    g = torch.Generator().manual_seed(0)
    source, target = _net(name, size, 1), _net(name, size, 2)
    prep = to_prep(source, width=1000)
    assert prep.shape == (prep_height(sum(p.numel() for p in source.parameters()), 1000), 1000)
    x = _inputs(name, size, g)
    with torch.no_grad():
        want = source(x)
        assert torch.equal(forward_with_prep(target, prep, x), want)  # template values unused
        assert torch.equal(load_prep(target, prep)(x), want)
    for n, p in source.named_parameters():  # the parameters themselves, bit for bit
        assert torch.equal(p, target.get_parameter(n))


def test_layout_order_and_padding_is_zero():
    net = build("resnet8", 10, 32, seed=0)
    lay = PRepLayout.from_model(net, width=4096)
    assert lay.names[:4] == ("conv1.weight", "conv1.bias", "layer1.0.conv1.weight", "layer1.0.conv1.bias")
    assert lay.names[-2:] == ("fc.weight", "fc.bias")
    prep = to_prep(net, layout=lay)
    flat = prep.reshape(-1)
    assert torch.equal(flat[lay.n_params:], torch.zeros(lay.height * lay.width - lay.n_params))
    first = net.conv1.weight.reshape(-1)
    assert torch.equal(flat[: first.numel()], first)  # row-major, one row after the other (Fig. C.2)
    assert torch.equal(prep[1, :3], flat[4096:4099])


def test_padding_rule_c2():
    # ceil(P / W) rows, then 4 - (rows mod 4) more when rows is not a multiple of 4
    for p, w in [(1, 8), (32, 8), (33, 8), (77706, 10000), (1000, 16), (999, 8)]:
        rows = math.ceil(p / w)
        want = rows + (4 - rows % 4 if rows % 4 else 0)
        assert prep_height(p, w) == want
    # the public peer's PRep sizes at width 10000 (folded counts)
    assert PRepLayout.from_architecture("resnet8", 10000, num_classes=10, image_size=32).shape == (8, 10000)
    assert PRepLayout.from_architecture("resnet8", 10000, num_classes=200, image_size=64).shape == (16, 10000)
    assert PRepLayout.from_architecture("siren", 10000, hidden=256).shape == (8, 10000)
    big = PRepLayout.from_architecture("resnet56", 10000, num_classes=10, image_size=32)
    assert big.shape == (88, 10000)
    small = PRepLayout.from_architecture("lenetlike", 10000, num_classes=10, image_size=32, height=88)
    assert common_height([small, big]) == 88 and small.shape == (88, 10000)


def test_bad_sizes_raise():
    net = build("lenetlike", 10, 32)
    with pytest.raises(ValueError, match="multiple of 8"):
        to_prep(net, width=1001)
    with pytest.raises(ValueError, match="at least"):
        PRepLayout.from_model(net, 1000, height=4)
    with pytest.raises(ValueError, match="multiple of 4"):
        PRepLayout.from_model(net, 1000, height=66)
    lay = PRepLayout.from_model(net, 1000)
    with pytest.raises(ValueError, match="layout needs"):
        from_prep(torch.zeros(lay.height, 1008), lay)
    with pytest.raises(ValueError, match="fold it first"):
        to_prep(build("resnet8", 10, 32, batch_norm=True), width=1000)


def test_gradient_reaches_the_prep_batched_and_single():
    g = torch.Generator().manual_seed(3)
    template = build("vanillacnn", 10, 32, seed=0)
    lay = PRepLayout.from_model(template, 2000)
    preps = torch.stack([to_prep(build("vanillacnn", 10, 32, seed=s), layout=lay) for s in (1, 2, 3)])
    preps.requires_grad_(True)
    x = torch.randn(4, 3, 32, 32, generator=g)
    out = forward_with_prep(template, preps, x, lay, vectorize=True)
    assert out.shape == (3, 4, 10)
    assert torch.allclose(forward_with_prep(template, preps, x, lay, vectorize=False), out, atol=1e-6)
    for b, s in enumerate((1, 2, 3)):  # batched = each net on its own
        with torch.no_grad():
            assert torch.allclose(out[b], build("vanillacnn", 10, 32, seed=s)(x), atol=1e-5)
    out.square().sum().backward()
    grad = preps.grad.reshape(3, -1)
    assert grad[:, : lay.n_params].abs().sum(dim=1).gt(0).all()
    assert torch.equal(grad[:, lay.n_params:], torch.zeros_like(grad[:, lay.n_params:]))  # padding: no effect
    # per-net inputs, and a single PRep
    xs = torch.randn(3, 2, 3, 32, 32, generator=g)
    looped = forward_with_prep(template, preps, xs, lay, per_net_inputs=True)
    assert looped.shape == (3, 2, 10)
    assert torch.allclose(forward_with_prep(template, preps, xs, lay, per_net_inputs=True, vectorize=True), looped,
                          atol=1e-6)
    with torch.no_grad():
        assert torch.allclose(looped[1], build("vanillacnn", 10, 32, seed=2)(xs[1]), atol=1e-5)
    one = preps[0].detach().clone().requires_grad_(True)
    forward_with_prep(template, one, x).sum().backward()
    assert one.grad.abs().sum() > 0


def test_from_prep_views_and_params_to_prep_inverse():
    net = build_siren(16, seed=0)
    lay = PRepLayout.from_model(net, 64)
    prep = to_prep(net, layout=lay)
    params = from_prep(prep, lay)
    assert params["net.0.weight"].data_ptr() == prep.data_ptr()  # a view, nothing copied
    assert torch.equal(params_to_prep(params, lay), prep)
    batch = from_prep(torch.stack([prep, 2 * prep]), lay)
    assert batch["net.4.bias"].shape == (2, 1) and torch.equal(batch["net.4.bias"][1], 2 * net.net[4].bias)
