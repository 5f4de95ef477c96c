"""NetSpace's encoder / decoder / ClassId head: sizes (thesis 5.3, C.1; the peer's layer shapes)."""
import pytest
import torch

from sketch3d.netspace.model import PEER_CHANNELS, ModelConfigError, NetSpace, embedding_grid

SMALL = {"grow": 8, "mid": 4, "wide": 16, "deep": 8}


@pytest.mark.parametrize("height,width", [(4, 64), (8, 64), (20, 128), (4, 1000)])
def test_embedding_size_does_not_depend_on_prep_size(height, width):
    model = NetSpace((4, 64), embedding=256, channels=SMALL)  # the decoder's size plays no part in encoding
    e = model.encode(torch.randn(3, height, width))
    assert e.shape == (3, 256)


@pytest.mark.parametrize("shape,embedding", [((4, 64), 256), ((12, 128), 256), ((8, 256), 4096)])
def test_decoded_prep_has_the_prep_shape(shape, embedding):
    channels = SMALL if embedding != 4096 else {"grow": 4, "mid": 2, "wide": 16, "deep": 4}
    model = NetSpace(shape, embedding=embedding, classes=4, channels=channels)
    e, prep = model(torch.randn(2, *shape))
    assert e.shape == (2, embedding)
    assert prep.shape == (2, *shape)
    assert model.classify(e).shape == (2, 4)


def test_peer_sizes_reshape_exactly():
    # the peer's decoder: 4096 -> 1x64x64 -> H*256 x 32 x 32 -> 128 x H x 2048 -> W/8 x H/2 x 1024 -> ...
    model = NetSpace((8, 10000), embedding=4096)
    assert embedding_grid(4096) == (1, 64)
    assert model.decoder.ch == PEER_CHANNELS
    assert model.decoder.length == 2048
    assert model.decoder.conv2.out_channels == 10000 // 8
    assert model.encoder.conv4.out_channels == 4096 and model.encoder.conv1.out_channels == 128


def test_config_round_trip_gives_the_same_outputs():
    torch.manual_seed(0)
    model = NetSpace((4, 64), embedding=256, classes=4, channels=SMALL)
    again = NetSpace.from_config(model.config())
    again.load_state_dict(model.state_dict())
    x = torch.randn(2, 4, 64)
    assert torch.equal(model(x)[1], again(x)[1])


@pytest.mark.parametrize("shape", [(6, 64), (4, 60), (0, 64)])
def test_bad_prep_shapes_are_refused(shape):
    with pytest.raises(ModelConfigError, match="multiple of 4"):
        NetSpace(shape, embedding=256, channels=SMALL)


def test_bad_embedding_and_channels_are_refused():
    with pytest.raises(ModelConfigError, match="even square"):
        NetSpace((4, 64), embedding=1000, channels=SMALL)
    with pytest.raises(ModelConfigError, match="unknown"):
        NetSpace((4, 64), embedding=256, channels={"bogus": 3})
    with pytest.raises(ModelConfigError, match="do not divide"):
        NetSpace((4, 64), embedding=256, channels={"grow": 8, "mid": 3, "wide": 16, "deep": 8})


def test_classify_needs_a_head_and_inputs_are_checked():
    model = NetSpace((4, 64), embedding=256, channels=SMALL)
    with pytest.raises(ValueError, match="no ClassId head"):
        model.classify(torch.zeros(1, 256))
    with pytest.raises(ValueError, match=r"\[B, H, W\]"):
        model.encode(torch.zeros(4, 64))
    with pytest.raises(ValueError, match="256"):
        model.decode(torch.zeros(1, 100))


def test_scale_layer_starts_as_the_peer_or_as_set():
    model = NetSpace((4, 64), embedding=256, channels=SMALL)
    bias = model.decoder.scale.bias.detach()
    assert 0 <= float(bias.min()) and float(bias.max()) < 1e-2
    model = NetSpace((4, 64), embedding=256, channels=SMALL, scale_init={"bias": [-0.1, 0.1]})
    bias = model.decoder.scale.bias.detach()
    assert -0.1 <= float(bias.min()) < 0 < float(bias.max()) <= 0.1
    assert NetSpace.from_config(model.config()).config()["scale_init"] == {"scale": 1e-3, "bias": [-0.1, 0.1]}
    with pytest.raises(ModelConfigError, match="low < high"):
        NetSpace((4, 64), embedding=256, channels=SMALL, scale_init={"bias": [0.1, 0.1]})
    with pytest.raises(ModelConfigError, match="unknown"):
        NetSpace.from_settings((4, 64), {"embeding": 256})
