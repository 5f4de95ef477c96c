"""The GPU rules' computation on a device that is not the CPU (PyTorch's meta device: a meta tensor beside a
CPU tensor raises, as a CUDA one does): extract_features and retrieval_grid embed through
``embed_images`` -> ``inference_model`` + ``embed_batch``, train_mask through ``inference_model`` + ``embed_batch``
(its own step on meta: tests/unit/retrieval/test_masks.py); one batch of each network of Tables 4.5 / 4.6 runs
with model and inputs on meta.
What needs real values (the copy to numpy, autocast's dtypes, which meta cannot run) is checked on the CPU."""
import numpy as np
import pytest
import torch
from PIL import Image

from sketch3d.features.backbone import FeatureSpec, feature_dim
from sketch3d.features.extract import embed_batch, inference_model, prepare_batch

NETWORKS = [
    FeatureSpec(backbone="RN101", layer="layer3"),  # the thesis's CLIP layer 3
    FeatureSpec(backbone="ViT-B-32", layer="embedding"),  # Table 4.5's ViT
    FeatureSpec(backbone="resnet101", layer="layer3", family="imagenet"),  # Table 4.6
    FeatureSpec(backbone="vit_b_32", layer="cls", family="imagenet"),
]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("img")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(2):
        a = np.full((224, 224), 255, np.uint8)
        a[40 + 10 * i:180, 60:170] = rng.integers(0, 255, (140 - 10 * i, 110), dtype=np.uint8)
        paths.append(folder / f"{i}.png")
        Image.fromarray(a).save(paths[-1])
    return paths


@pytest.mark.parametrize("spec", NETWORKS, ids=lambda s: f"{s.family}-{s.backbone}-{s.layer}")
def test_one_batch_on_a_non_cpu_device(spec, images):
    with torch.device("meta"):  # the weights never exist: only devices, shapes and dtypes are computed
        model = inference_model(spec, "meta")
    assert {p.device.type for p in model.parameters()} == {"meta"}
    x = prepare_batch(images, 170, spec=spec)  # built on the CPU, as the feature stage's reader thread does
    y = embed_batch(model, x, "meta", "fp32", np.dtype("float32"))
    assert y.device.type == "meta" and y.dtype == torch.float32
    assert tuple(y.shape) == (2, feature_dim(spec))
    y16 = embed_batch(model, x, "meta", "fp32", np.dtype("float16"))  # features.dtype float16
    assert y16.dtype == torch.float16


def test_meta_catches_a_tensor_left_on_the_cpu():
    """The premise of the test above: a model that builds a CPU tensor in its forward fails on meta."""
    class Bad(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)

        def forward(self, x):
            return self.conv(x) + torch.ones(4, 1, 1)  # no device: the CPU

    with torch.device("meta"):
        bad = Bad()
    with pytest.raises((RuntimeError, ValueError)):
        embed_batch(bad, torch.zeros(1, 3, 8, 8), "meta", "fp32", np.dtype("float32"))


def test_autocast_output_comes_back_in_the_storage_dtype():
    """bf16 autocast (CPU here; GPU alike) computes in bfloat16: features leave in float32 / float16 as stored."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 4, 3).eval()
    x = torch.randn(2, 3, 8, 8)
    y = embed_batch(conv, x, "cpu", "bf16", np.dtype("float32"))
    assert y.dtype == torch.float32 and y.shape == (2, 4 * 6 * 6)
    assert embed_batch(conv, x, "cpu", "bf16", np.dtype("float16")).dtype == torch.float16
    ref = conv(x).reshape(2, -1)
    torch.testing.assert_close(y, ref, atol=0.05, rtol=0.05)  # bf16 has ~3 significant digits
    torch.testing.assert_close(embed_batch(conv, x, "cpu", "fp32", np.dtype("float32")), ref)
