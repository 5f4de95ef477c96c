import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sketch3d.sketchydepth import midas
from sketch3d.sketchydepth.midas import MidasNet, MidasWeightsError, build_midas, load_midas, net_input_size, to_uint8

OFFICIAL = Path(__file__).resolve().parents[2] / "fixtures" / "official" / "isl-org_MiDaS"


def _official_layout() -> dict[str, tuple]:
    """midas_v21-f6b98070.pt's keys and shapes: the official MidasNet's (make_reference.py there)."""
    keys = json.loads((OFFICIAL / "midas_v21_layout.json").read_text())["keys"]
    return {k: tuple(v["shape"]) for k, v in keys.items()}


def _shapes(model):
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


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
    assert midas.predict_depth(model, small, 64).shape == (1, 48, 48)  # up to 64x64 for the network, back to 48x48
    # the transform itself: test_midas_official.py, against MiDaS's own
    with pytest.raises(ValueError, match="uint8"):
        midas.predict_depth(model, img.astype(np.float32), 64)
