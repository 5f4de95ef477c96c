"""reconstruction.generator's behaviour: loading a lightning-style checkpoint without pytorch-lightning (EMA or
trained networks), determinism, save/load round trip, styles, feature sampling. The port's parity with the
official code: test_generator_official.py."""
import math
import sys
import types

import numpy as np
import pytest
import torch

from sketch3d.reconstruction import generator as G

TINY = dict(z_dim=8, style_dim=8, style_depth=2, volume_res=8, channels=4, network_capacity=1, fmap_max=4,
            mlp_hidden=8, mlp_layers=1)


def _tiny(seed=0, **kw):
    torch.manual_seed(seed)
    return G.SDFStyleGAN(G.GeneratorConfig(**{**TINY, **kw})).eval()


def test_volume_and_sdf_shapes():
    model = _tiny()
    styles = G.sample_styles(model, 2, seed=0)
    assert styles.shape == (2, model.n_styles, 8) and model.n_styles == 2
    volume = model.volume(styles)
    assert volume.shape == (2, 4, 8, 8, 8)
    assert model.sdf(volume, torch.zeros(5, 3)).shape == (2, 5)
    assert model.sdf_grid(styles, 6, chunk=50).shape == (2, 6, 6, 6)
    with pytest.raises(ValueError, match="styles must have shape"):
        model.volume(torch.zeros(1, 3, 8))


def test_mapping_is_the_official_equal_linear_stack():
    model = _tiny(style_depth=1)
    z = torch.randn(3, 8)
    layer = model.S.net[0]
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    x = z.numpy() / np.sqrt((z.numpy() ** 2).mean(axis=1, keepdims=True) + 1e-6)
    pre = x @ (w * 0.1 / math.sqrt(8)).T + 0.1 * b
    expected = np.where(pre > 0, pre, 0.2 * pre) * math.sqrt(2)
    np.testing.assert_allclose(model.map(z).detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_feature_sampling_follows_the_official_xyz2index():
    volume = torch.randn(1, 3, 5, 5, 5, dtype=torch.float64)
    points = torch.rand(1, 7, 3, dtype=torch.float64) * 2 - 1
    got = G.sample_features(volume, points)[0].numpy()
    # official: pad 2 (replicate), index = (p + 1.01) / (2.02 / (R - 1)) + 2, volume[:, :, x, y, z], trilinear
    v = np.pad(volume[0].numpy(), ((0, 0), (2, 2), (2, 2), (2, 2)), mode="edge")
    idx = (points[0].numpy() + 1.01) / (2.02 / 4) + 2
    i0 = np.floor(idx).astype(int)
    f = idx - i0
    expected = np.zeros((7, 3))
    for dx in (0, 1):
        for dy in (0, 1):
            for dz in (0, 1):
                wgt = (f[:, 0] if dx else 1 - f[:, 0]) * (f[:, 1] if dy else 1 - f[:, 1]) * (f[:, 2] if dz else 1 - f[:, 2])
                expected += wgt[:, None] * v[:, i0[:, 0] + dx, i0[:, 1] + dy, i0[:, 2] + dz].T
    np.testing.assert_allclose(got, expected, atol=1e-10)


def test_a_style_always_gives_the_same_sdf():
    a, b = _tiny(seed=0), _tiny(seed=0)
    styles = G.sample_styles(a, 2, seed=3)
    points = torch.rand(2, 20, 3) * 2 - 1
    first = a(styles, points)
    assert torch.equal(first, a(styles, points))
    assert torch.equal(first, b(styles, points))  # same seeds: same weights and fixed noise
    assert torch.equal(styles, G.sample_styles(a, 2, seed=3))
    assert not torch.equal(styles, G.sample_styles(a, 2, seed=4))
    other_noise = _tiny(seed=0, noise_seed=1)
    assert not torch.equal(first, other_noise(styles, points))


def test_save_load_round_trip(tmp_path):
    model = _tiny(seed=5)
    path = tmp_path / "gen.pt"
    G.save_generator(model, path, extra={"demo": True})
    loaded = G.load_generator(path)
    assert loaded.config == model.config
    styles = G.sample_styles(model, 2, seed=0)
    points = torch.rand(2, 30, 3) * 2 - 1
    assert torch.equal(model(styles, points), loaded(styles, points))
    with pytest.raises(ValueError, match="mlp_hidden"):
        G.load_for_settings(path, {**TINY, "mlp_hidden": 16})


def test_mean_style_is_the_mean_of_sampled_styles(tmp_path):
    model = _tiny()
    mean = G.mean_style(model, n=50, seed=2)
    assert mean.shape == (1, model.n_styles, 8)
    torch.testing.assert_close(mean, G.sample_styles(model, 50, seed=2).mean(dim=0, keepdim=True))
    assert torch.equal(mean[:, 0], mean[:, 1])  # sampled styles are broadcast w
    G.write_mean_style(tmp_path / "m.npz", mean, 50, 2)
    torch.testing.assert_close(G.read_mean_style(tmp_path / "m.npz"), mean)


def test_official_lightning_checkpoint_loads_ema_weights_without_lightning(tmp_path):
    ema, trained = _tiny(seed=1), _tiny(seed=2)
    state = {}
    for prefix, model in (("SE", ema), ("S", trained)):
        state.update({f"{prefix}{k[1:]}": v for k, v in model.state_dict().items() if k.startswith("S.")})
    for prefix, model in (("GE", ema), ("G", trained)):
        state.update({f"{prefix}{k[1:]}": v for k, v in model.state_dict().items() if k.startswith("G.")})
    for prefix, model in (("ME", ema), ("M", trained)):
        state.update({f"{prefix}{k[1:]}": v for k, v in model.state_dict().items() if k.startswith("M.")})
    state["global_D.blocks.0.weight"] = torch.zeros(2, 2)
    # hyper-parameters pickled as a class of a module that will not exist when loading (lightning's AttributeDict)
    fake = types.ModuleType("fake_lightning_parsing")

    class AttributeDict(dict):
        pass

    AttributeDict.__module__ = fake.__name__
    AttributeDict.__qualname__ = "AttributeDict"
    fake.AttributeDict = AttributeDict
    sys.modules[fake.__name__] = fake
    try:
        torch.save({"state_dict": state, "hyper_parameters": AttributeDict(lr_mlp=0.1, latent_dim=8), "epoch": 199,
                    "pytorch-lightning_version": "1.5.1"}, tmp_path / "epoch=199.ckpt")
    finally:
        del sys.modules[fake.__name__]
    loaded = G.load_generator(tmp_path / "epoch=199.ckpt")
    assert loaded.config == ema.config
    styles = G.sample_styles(ema, 2, seed=0)
    points = torch.rand(2, 10, 3) * 2 - 1
    assert torch.equal(loaded(styles, points), ema(styles, points))
    assert torch.equal(G.load_generator(tmp_path / "epoch=199.ckpt", ema=False)(styles, points), trained(styles, points))


def test_unknown_layouts_are_refused_with_the_reason(tmp_path):
    torch.save({"state_dict": {"D.weight": torch.zeros(1)}}, tmp_path / "other.ckpt")
    with pytest.raises(ValueError, match="not an SDF-StyleGAN checkpoint"):
        G.load_generator(tmp_path / "other.ckpt")
    model = _tiny()
    broken = {f"SE{k[1:]}" if k.startswith("S.") else f"GE{k[1:]}" if k.startswith("G.") else f"ME{k[1:]}": v
              for k, v in model.state_dict().items() if "to_noise2" not in k}
    torch.save({"state_dict": broken}, tmp_path / "broken.ckpt")
    with pytest.raises(ValueError, match="missing.*to_noise2"):
        G.load_generator(tmp_path / "broken.ckpt")
    with pytest.raises(FileNotFoundError, match="epoch=199.ckpt"):
        G.load_generator(tmp_path / "absent.ckpt")
    with pytest.raises(ValueError, match="unknown reconstruction.generator"):
        G.GeneratorConfig.from_settings({"z_dims": 3})
    with pytest.raises(ValueError, match="n_styles"):
        G.GeneratorConfig.from_settings({"n_styles": 5, "volume_res": 32})


def test_styles_get_gradients_through_the_sdf_grid():
    model = _tiny()
    styles = G.mean_style(model, 20, 0).requires_grad_()
    model.sdf_grid(styles, 5).square().mean().backward()
    assert styles.grad is not None and styles.grad.abs().sum() > 0


def test_a_file_that_is_no_checkpoint_is_named(tmp_path):
    (tmp_path / "notes.ckpt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="notes.ckpt: not a readable torch checkpoint"):
        G.load_generator(tmp_path / "notes.ckpt")
