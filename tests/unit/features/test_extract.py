"""features.extract: BatchNorm folding (same features, within rounding) and the precision option."""
from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

import sketch3d.features.extract as extract_mod
from sketch3d.features.backbone import FeatureSpec, load_backbone
from sketch3d.features.extract import embed_images, fold_batchnorm, prepare_batch

SPEC = FeatureSpec(backbone="RN50", layer="layer3", weights="random", seed=0)


@pytest.fixture
def images(tmp_path):
    paths = []
    for k in range(2):
        img = Image.new("L", (224, 224), 255)
        d = ImageDraw.Draw(img)
        d.rectangle([30 + 9 * k, 40, 150, 120 + 11 * k], outline=0, width=3)
        d.line([(20, 190), (120 + 15 * k, 25)], fill=0, width=2)
        p = tmp_path / f"v{k}.png"
        img.save(p)
        paths.append(p)
    return paths


class _Net(torch.nn.Module):
    """conv-bn-relu, a BatchNorm on a conv output used twice (must stay), and a BatchNorm after a ReLU."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = torch.nn.Conv2d(3, 4, 3, padding=1, bias=False), torch.nn.BatchNorm2d(4)
        self.conv2, self.bn2 = torch.nn.Conv2d(4, 4, 1), torch.nn.BatchNorm2d(4)
        self.bn3 = torch.nn.BatchNorm2d(4)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        z = self.conv2(y)
        return self.bn3(torch.relu(self.bn2(z) + z))


def _randomise_bn(net: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g))
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.randn(m.num_features, generator=g))
            m.bias.data.copy_(torch.randn(m.num_features, generator=g))


def test_fold_batchnorm_folds_only_conv_bn_pairs_and_keeps_outputs():
    torch.manual_seed(0)
    net = _Net().eval()
    _randomise_bn(net, 1)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        ref = net(x)
        assert fold_batchnorm(net) == 1  # bn2 reads a conv output that is also used elsewhere; bn3 follows a ReLU
        out = net(x)
    assert isinstance(net.bn1, torch.nn.Identity) and isinstance(net.bn2, torch.nn.BatchNorm2d)
    assert isinstance(net.bn3, torch.nn.BatchNorm2d) and net.conv1.bias is not None
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_fold_batchnorm_refuses_training_mode():
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(_Net().train())


def test_folded_backbone_matches_the_plain_one(images):
    plain = load_backbone(SPEC)
    folded = load_backbone(SPEC)
    assert fold_batchnorm(folded) == sum(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules()) > 0
    x = prepare_batch(images, 129).contiguous()
    with torch.no_grad():
        ref, out = plain(x), folded(x)
    assert (out - ref).abs().max() <= 1e-5 * ref.abs().max()


def test_precision_is_part_of_the_cache_key_and_bf16_stays_close(tmp_path, images, monkeypatch):
    seen = {"images": 0}
    real = extract_mod.load_backbone

    def counting_load(spec, device="cpu"):
        model = real(spec, device)
        model.register_forward_hook(lambda m, i, o: seen.__setitem__("images", seen["images"] + o.shape[0]))
        return model

    monkeypatch.setattr(extract_mod, "load_backbone", counting_load)
    cache = tmp_path / "cache"
    fp32 = embed_images(images, SPEC, 129, cache, dtype="float32")
    bf16 = embed_images(images, SPEC, 129, cache, dtype="float32", precision="bf16")
    assert seen["images"] == 4  # bf16 was not served fp32's cached rows
    embed_images(images, SPEC, 129, cache, dtype="float32", precision="bf16")
    assert seen["images"] == 4  # ... but its own
    assert not np.array_equal(fp32, bf16)
    rel = np.abs(bf16 - fp32).max() / np.abs(fp32).max()
    assert rel < 0.05  # bf16 keeps 8 significant bits; random RN50 weights stay within a few percent
    cos = (fp32 * bf16).sum(1) / np.linalg.norm(fp32, axis=1) / np.linalg.norm(bf16, axis=1)
    assert cos.min() > 0.999


def test_bad_precision_is_refused_before_any_work(tmp_path, images, monkeypatch):
    monkeypatch.setattr(extract_mod, "load_backbone", lambda *a, **k: pytest.fail("backbone built"))
    with pytest.raises(ValueError, match=r"precision 'fp64'.*features\.precision"):
        embed_images(images, SPEC, 129, tmp_path, precision="fp64")
    with pytest.raises(ValueError, match=r"'fp16' needs a CUDA device.*features\.precision"):
        embed_images(images, SPEC, 129, tmp_path, precision="fp16")


def test_bf16_on_a_cpu_without_it_warns(tmp_path, images, monkeypatch, caplog):
    monkeypatch.setattr(extract_mod, "_cpu_has_bf16", lambda: False)
    monkeypatch.setattr(extract_mod, "_embed_missing", lambda *a, **k: None)
    with caplog.at_level(logging.WARNING, logger="sketch3d.features.extract"):
        embed_images(images[:1], SPEC, 129, tmp_path, precision="bf16")
    assert "no native bf16" in caplog.text


def test_the_network_is_built_once_for_many_transforms_and_rebuilt_for_another_spec(tmp_path, images, monkeypatch):
    """A search embeds under dozens of transforms, one embed_images call each: one build serves them all, the same
    features as a fresh build; another spec (here another seed) gets its own network."""
    builds = []
    real = extract_mod.load_backbone

    def counting_load(spec, device="cpu"):
        builds.append(spec)
        return real(spec, device)

    monkeypatch.setattr(extract_mod, "load_backbone", counting_load)
    a = embed_images(images, SPEC, 129, tmp_path / "c1", dtype="float32")
    embed_images(images, SPEC, 150, tmp_path / "c1", dtype="float32")
    assert len(builds) == 1
    extract_mod._BUILT.clear()
    np.testing.assert_array_equal(embed_images(images, SPEC, 129, tmp_path / "c2", dtype="float32"), a)
    assert len(builds) == 2
    other = dataclasses.replace(SPEC, seed=SPEC.seed + 1)
    b = embed_images(images, other, 129, tmp_path / "c2", dtype="float32")
    assert len(builds) == 3 and not np.array_equal(a, b)
