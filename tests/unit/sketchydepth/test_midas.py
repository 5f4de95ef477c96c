import numpy as np
import pytest
import torch
from torch.nn import functional as F

from sketch3d.sketchydepth import midas
from sketch3d.sketchydepth.midas import MidasNet, MidasWeightsError, build_midas, load_midas, net_input_size, to_uint8

BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _bn(prefix, c):
    return {f"{prefix}.{k}": (() if k == "num_batches_tracked" else (c,)) for k in BN}


def _official_layout() -> dict[str, tuple]:
    """midas_v21-f6b98070.pt's keys and shapes, written down from MiDaS v2.1 (midas/midas_net.py, midas/blocks.py):
    pretrained = ResNeXt-101 32x8d (stages of 3, 4, 23, 3 bottlenecks; group width 8 x 32 groups, i.e. width = 4 x
    planes; layer1 = Sequential(conv1, bn1, relu, maxpool, layer1)); scratch = layer{i}_rn (3x3, no bias, to 256),
    refinenet{i}.resConfUnit{1,2}.conv{1,2} (3x3, bias), output_conv = conv 256->128, Interpolate, conv 128->32,
    ReLU, conv 32->1, ReLU."""
    keys = {"pretrained.layer1.0.weight": (64, 3, 7, 7), **_bn("pretrained.layer1.1", 64)}
    inplanes = 64
    for stage, (planes, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 23, 3)), 1):
        width, out = planes * 4, planes * 4
        for b in range(blocks):
            p = f"pretrained.layer1.4.{b}" if stage == 1 else f"pretrained.layer{stage}.{b}"
            keys[f"{p}.conv1.weight"] = (width, inplanes if b == 0 else out, 1, 1)
            keys.update(_bn(f"{p}.bn1", width))
            keys[f"{p}.conv2.weight"] = (width, width // 32, 3, 3)
            keys.update(_bn(f"{p}.bn2", width))
            keys[f"{p}.conv3.weight"] = (out, width, 1, 1)
            keys.update(_bn(f"{p}.bn3", out))
            if b == 0:
                keys[f"{p}.downsample.0.weight"] = (out, inplanes, 1, 1)
                keys.update(_bn(f"{p}.downsample.1", out))
        inplanes = out
    for i, c in enumerate((256, 512, 1024, 2048), 1):
        keys[f"scratch.layer{i}_rn.weight"] = (256, c, 3, 3)
        for unit in (1, 2):
            for conv in (1, 2):
                keys[f"scratch.refinenet{i}.resConfUnit{unit}.conv{conv}.weight"] = (256, 256, 3, 3)
                keys[f"scratch.refinenet{i}.resConfUnit{unit}.conv{conv}.bias"] = (256,)
    for idx, shape in ((0, (128, 256, 3, 3)), (2, (32, 128, 3, 3)), (4, (1, 32, 1, 1))):
        keys[f"scratch.output_conv.{idx}.weight"] = shape
        keys[f"scratch.output_conv.{idx}.bias"] = shape[:1]
    return keys


def _shapes(model):
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def test_official_network_has_the_published_keys_and_shapes():
    with torch.device("meta"):
        ours = _shapes(MidasNet())
    expected = _official_layout()
    assert sorted(set(expected) - set(ours)) == [] and sorted(set(ours) - set(expected)) == []
    assert {k: s for k, s in ours.items() if expected[k] != s} == {}
    assert "pretrained.layer1.4.0.conv1.weight" in ours and "scratch.refinenet4.resConfUnit1.conv1.weight" in ours


def test_small_encoder_keeps_the_decoder_module_for_module():
    small = _shapes(build_midas("resnet18", 32))
    official = _official_layout()
    assert {k for k in small if k.startswith("scratch.")} == {k for k in official if k.startswith("scratch.")}
    assert small["scratch.layer4_rn.weight"] == (32, 512, 3, 3)  # resnet18's last stage: 512 channels
    assert small["scratch.output_conv.0.weight"] == (16, 32, 3, 3)
    assert small["pretrained.layer1.4.1.conv2.weight"] == (64, 64, 3, 3)


@pytest.mark.parametrize("encoder,features,size", [("resnet18", 16, (64, 96)), ("resnext101_32x8d", 256, (32, 32))])
def test_output_is_non_negative_inverse_depth_at_the_input_size(encoder, features, size):
    model = build_midas(encoder, features, seed=1).eval()
    with torch.no_grad():
        model.scratch.output_conv[4].bias.fill_(-0.02)  # so that some pre-activations are negative
        x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(0))
        y = model(x)
        head = model.scratch.output_conv
        last, head[5] = head[5], torch.nn.Identity()  # the same network without its final ReLU
        raw = model(x)
        head[5] = last
    assert y.shape == (2, *size)
    assert (raw < 0).any() and (y >= 0).all()
    assert torch.allclose(y, raw.clamp_min(0))


def test_input_must_be_a_multiple_of_32():
    with pytest.raises(ValueError, match="multiples of 32"):
        build_midas("resnet18", 8)(torch.zeros(1, 3, 40, 64))
    with pytest.raises(ValueError, match="torchvision ResNet"):
        MidasNet("vgg16", 8)


def test_residual_unit_adds_the_rectified_input_as_the_official_in_place_relu_does():
    unit = midas.ResidualConvUnit(4)
    x = torch.randn(1, 4, 5, 5, generator=torch.Generator().manual_seed(2))
    r = x.clamp_min(0)
    expected = unit.conv2(unit.conv1(r).clamp_min(0)) + r
    assert torch.allclose(unit(x), expected)


def test_load_midas_round_trip_and_file_forms(tmp_path):
    model = build_midas("resnet18", 16, seed=3).eval()
    x = torch.randn(1, 3, 64, 64)
    state = model.state_dict()
    torch.save(state, tmp_path / "plain.pt")
    torch.save({"model": state, "optimizer": {}}, tmp_path / "checkpoint.pt")  # MiDaS's own training checkpoint form
    torch.save({k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}, tmp_path / "old.pt")
    for name in ("plain.pt", "checkpoint.pt", "old.pt"):
        loaded = load_midas(tmp_path / name, "resnet18", 16)
        assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
        assert torch.equal(loaded(x), model(x))


def test_load_midas_names_the_missing_file_and_how_to_get_it(tmp_path):
    with pytest.raises(MidasWeightsError) as err:
        load_midas(tmp_path / "midas_v21-f6b98070.pt")
    msg = str(err.value)
    assert str(tmp_path / "midas_v21-f6b98070.pt") in msg
    assert "https://github.com/isl-org/MiDaS/releases/download/v2_1/midas_v21-f6b98070.pt" in msg
    assert "train_labeller" in msg and "profiles.paper.sketchydepth.labeller.weights" in msg


def test_load_midas_names_missing_unexpected_and_misshaped_keys(tmp_path):
    state = build_midas("resnet18", 16).state_dict()
    state["scratch.refinenet9.resConfUnit1.conv1.weight"] = state.pop("scratch.refinenet4.resConfUnit1.conv1.weight")
    state["scratch.layer1_rn.weight"] = torch.zeros(16, 65, 3, 3)
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(MidasWeightsError) as err:
        load_midas(tmp_path / "bad.pt", "resnet18", 16)
    msg = str(err.value)
    assert "missing keys: scratch.refinenet4.resConfUnit1.conv1.weight" in msg
    assert "unexpected keys: scratch.refinenet9.resConfUnit1.conv1.weight" in msg
    assert "scratch.layer1_rn.weight [16, 65, 3, 3] != [16, 64, 3, 3]" in msg
    assert "sketchydepth.labeller.encoder" in msg
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(MidasWeightsError, match="cannot be read"):
        load_midas(tmp_path / "junk.pt", "resnet18", 16)


@pytest.mark.parametrize("h,w,net,expected", [(128, 128, 384, (384, 384)), (480, 640, 384, (288, 384)),
                                              (100, 300, 384, (128, 384)), (64, 64, 64, (64, 64)),
                                              (50, 70, 64, (32, 64))])
def test_net_input_size_follows_midas_upper_bound_resize(h, w, net, expected):
    # MiDaS: scale = min(net/h, net/w); each side rounded to a multiple of 32, floored if above net.
    # 50x70 at 64: scale 64/70 -> 45.7 rounds to 32 (45.7/32 = 1.43), 64 stays 64.
    assert net_input_size(h, w, net) == expected


def test_net_size_must_be_a_multiple_of_32():
    with pytest.raises(ValueError, match="multiple of 32"):
        net_input_size(64, 64, 100)


def test_to_uint8_scales_each_map_by_its_own_range():
    d = np.array([[[0.0, 1.0], [2.0, 4.0]], [[3.0, 3.0], [3.0, 3.0]], [[-1.0, 0.0], [0.5, 1.0]]])
    out = to_uint8(d)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out[0], [[0, 63], [127, 255]])  # 255 * (0, .25, .5, 1), truncated
    np.testing.assert_array_equal(out[1], 0)  # a constant map
    np.testing.assert_array_equal(out[2], [[0, 127], [191, 255]])


def test_predict_depth_normalises_like_imagenet_and_returns_the_input_size():
    model = build_midas("resnet18", 16, seed=4).eval()
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    x = (img / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    with torch.no_grad():
        direct = model(torch.from_numpy(x.transpose(0, 3, 1, 2)).float()).numpy()
    np.testing.assert_allclose(midas.predict_depth(model, img, 64), direct, rtol=1e-5, atol=1e-6)
    small = rng.integers(0, 256, (1, 48, 48, 3), dtype=np.uint8)
    out = midas.predict_depth(model, small, 64)  # up to 64x64 for the network, back to 48x48
    assert out.shape == (1, 48, 48)
    xs = torch.from_numpy(small).permute(0, 3, 1, 2).float() / 255.0
    xs = F.interpolate(xs, size=(64, 64), mode="bicubic", align_corners=False)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        ref = F.interpolate(model((xs - mean) / std).unsqueeze(1), size=(48, 48), mode="bicubic",
                            align_corners=False).squeeze(1).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="uint8"):
        midas.predict_depth(model, img.astype(np.float32), 64)
