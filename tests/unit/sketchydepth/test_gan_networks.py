import numpy as np
import pytest
import torch

from sketch3d.sketchydepth.networks import (
    MODELS, PatchDiscriminator, UnetGenerator, build_networks, gan_loss, model_spec, num_downs_for, patch_map_size)


def test_num_downs_is_log2_of_the_side_and_bad_sides_are_named():
    assert num_downs_for(128) == 7 and num_downs_for(64) == 6 and num_downs_for(32) == 5
    for bad in (16, 96, 100):
        with pytest.raises(ValueError, match="power of two"):
            num_downs_for(bad)


@pytest.mark.parametrize("size,cin,cout", [(32, 3, 1), (64, 4, 3)])
def test_generator_shape_and_range(size, cin, cout):
    torch.manual_seed(0)
    g = UnetGenerator(cin, cout, num_downs_for(size), ngf=4)
    with torch.no_grad():
        y = g(torch.randn(2, cin, size, size) * 10)
    assert y.shape == (2, cout, size, size)
    assert float(y.min()) >= -1 and float(y.max()) <= 1 and float(y.std()) > 0
    assert isinstance(g.model.model[-1], torch.nn.Tanh)


def test_dropout_in_the_innermost_decoder_blocks_only():
    for downs, expected in ((5, 0), (6, 1), (7, 2)):
        g = UnetGenerator(3, 3, downs, ngf=2)
        drops = [m for m in g.modules() if isinstance(m, torch.nn.Dropout)]
        assert len(drops) == expected and all(d.p == 0.5 for d in drops)


@pytest.mark.parametrize("size,side", [(128, 14), (64, 6), (256, 30)])
def test_patchgan_output_map(size, side):
    d = PatchDiscriminator(7, ndf=4)
    assert d(torch.randn(1, 7, size, size)).shape == (1, 1, side, side)
    assert patch_map_size(size) == side


def test_patchgan_receptive_field_is_70():
    d = PatchDiscriminator(3, ndf=2).eval()  # eval: BatchNorm does not couple pixels through batch statistics
    x = torch.randn(1, 3, 128, 128, requires_grad=True)
    y = d(x)
    y[0, 0, 7, 7].backward()
    rows = torch.nonzero(x.grad.abs().sum(dim=(0, 1, 3)) > 0).flatten()
    cols = torch.nonzero(x.grad.abs().sum(dim=(0, 1, 2)) > 0).flatten()
    assert int(rows.max() - rows.min() + 1) == 70 and int(cols.max() - cols.min() + 1) == 70


def test_init_normal_002_and_seeded():
    a = build_networks("sketchydepth", 32, ngf=8, ndf=8, seed=3)
    b = build_networks("sketchydepth", 32, ngf=8, ndf=8, seed=3)
    c = build_networks("sketchydepth", 32, ngf=8, ndf=8, seed=4)
    convs = [m for m in a["G_i"].modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    w = torch.cat([m.weight.flatten() for m in convs]).detach()
    assert abs(float(w.mean())) < 2e-3 and abs(float(w.std()) - 0.02) < 2e-3
    assert all(m.bias is None or float(m.bias.detach().abs().max()) == 0 for m in convs)
    bn = torch.cat([m.weight for m in a["D_i"].modules() if isinstance(m, torch.nn.BatchNorm2d)]).detach()
    assert abs(float(bn.mean()) - 1) < 0.01
    for name in a:
        sa, sb, sc = a[name].state_dict(), b[name].state_dict(), c[name].state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
        assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_channel_counts_per_model():
    expected = {"baseline": ({"G_i": (3, 3)}, {"D_i": 6}),
                "sketchydepth": ({"G_d": (3, 1), "G_i": (4, 3)}, {"D_d": 4, "D_i": 7, "D_j": 7}),
                "no_depth": ({"G_i": (3, 3)}, {"D_i": 6, "D_j": 6}),
                "no_joint": ({"G_d": (3, 1), "G_i": (4, 3)}, {"D_d": 4, "D_i": 7})}
    assert set(MODELS) == set(expected)
    for model, (gens, discs) in expected.items():
        nets = build_networks(model, 32, ngf=2, ndf=2)
        assert set(nets) == set(gens) | set(discs)
        for n, (cin, cout) in gens.items():
            assert nets[n](torch.zeros(1, cin, 32, 32)).shape[1] == cout
        for n, cin in discs.items():
            assert nets[n].model[0].in_channels == cin
    with pytest.raises(ValueError, match="unknown model 'pix'"):
        model_spec("pix")


def test_vanilla_gan_loss_is_bce_on_logits():
    x = torch.tensor([[-2.0, 0.5], [3.0, -0.1]])
    p = 1 / (1 + np.exp(-x.numpy().astype(np.float64)))
    assert float(gan_loss(x, True)) == pytest.approx(-np.log(p).mean(), rel=1e-6)
    assert float(gan_loss(x, False)) == pytest.approx(-np.log(1 - p).mean(), rel=1e-6)
