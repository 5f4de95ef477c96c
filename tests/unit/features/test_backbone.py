"""CLIP backbone: shapes, seeded random weights, layer cut, local weights files, normalisation."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from sketch3d.features.backbone import (
    CLIP_MEAN,
    CLIP_STD,
    FeatureSpec,
    WeightsUnavailableError,
    clip_normalize,
    feature_dim,
    images_to_tensor,
    load_backbone,
)
from sketch3d.weights import CLIP_SETTING

SMALL = "RN50"  # same layer3 geometry as RN101 (1024 x 14 x 14), faster to build in tests


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))


def _run(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(x)


def test_rn101_layer3_shape(x):
    spec = FeatureSpec()
    assert spec.backbone == "RN101" and spec.layer == "layer3" and spec.is_random
    model = load_backbone(spec)
    assert not model.training
    out = _run(model, x[:1])
    assert out.shape == (1, 1024, 14, 14)
    assert feature_dim(spec) == 1024 * 14 * 14


def test_embedding_shape(x):
    spec = FeatureSpec(backbone=SMALL, layer="embedding")
    assert _run(load_backbone(spec), x).shape == (2, feature_dim(spec))


def test_seeded_random_weights(x):
    a = _run(load_backbone(FeatureSpec(backbone=SMALL, seed=0)), x)
    b = _run(load_backbone(FeatureSpec(backbone=SMALL, seed=0)), x)
    c = _run(load_backbone(FeatureSpec(backbone=SMALL, seed=1)), x)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert (a - c).abs().max() > 1e-3
    assert FeatureSpec(seed=0).key() != FeatureSpec(seed=1).key()
    assert FeatureSpec(weights="openai", seed=0).key() == FeatureSpec(weights="openai", seed=1).key()


@pytest.mark.parametrize("backbone", ["RN50", "RN101", "ViT-B-32"])
def test_random_image_tower_is_open_clips_own(backbone):
    """Built without the text tower, the seeded random image tower has create_model's exact weights."""
    import open_clip

    from sketch3d.features.backbone import random_clip_visual

    torch.manual_seed(3)
    full = open_clip.create_model(backbone, pretrained=None).visual.state_dict()
    torch.manual_seed(3)
    alone = random_clip_visual(backbone).state_dict()
    assert list(alone) == list(full)
    assert all(torch.equal(alone[k], full[k]) for k in full)


def test_layer3_equals_trunk_stages_and_local_file_roundtrip(tmp_path, x):
    """layer3 output = open_clip's own intermediate after stage 4 of 5; a saved state dict reproduces it."""
    import open_clip

    torch.manual_seed(7)
    model, _, _ = open_clip.create_model_and_transforms(SMALL, pretrained=None)
    model.eval()
    with torch.inference_mode():
        ref = model.visual.forward_intermediates(x, indices=[3], intermediates_only=True)["image_intermediates"][0]
        ref_emb = model.visual(x)
    weights = tmp_path / "clip_rn50.pt"
    torch.save(model.state_dict(), weights)
    spec = FeatureSpec(backbone=SMALL, weights=str(weights))
    assert spec.is_local_file and not spec.is_random
    torch.testing.assert_close(_run(load_backbone(spec), x), ref, rtol=1e-5, atol=1e-5)
    # Random weights seeded with 7 are the same model open_clip builds after torch.manual_seed(7).
    emb = load_backbone(FeatureSpec(backbone=SMALL, layer="embedding", seed=7))
    torch.testing.assert_close(_run(emb, x), ref_emb, rtol=1e-5, atol=1e-5)


def test_key_follows_local_file_content(tmp_path):
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    a.write_bytes(b"one")
    b.write_bytes(b"two")
    key_a = FeatureSpec(weights=str(a)).key()
    assert key_a != FeatureSpec(weights=str(b)).key()
    b.write_bytes(b"one")
    assert FeatureSpec(weights=str(b)).key() == key_a  # content, not name, decides


def test_missing_local_file_error(tmp_path):
    spec = FeatureSpec(weights=str(tmp_path / "missing" / "RN101.safetensors"))
    with pytest.raises(WeightsUnavailableError) as err:
        load_backbone(spec)
    msg = str(err.value)
    assert "RN101.safetensors" in msg and CLIP_SETTING in msg and "timm/resnet101_clip.openai" in msg


def test_openai_tag_offline_fails_fast(monkeypatch, tmp_path):
    import time

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # empty cache
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError, match="not in the local cache"):
        load_backbone(FeatureSpec(weights="openai"))
    assert time.monotonic() - start < 10


def test_unknown_tag_and_layer():
    with pytest.raises(WeightsUnavailableError, match="known open_clip tag"):
        load_backbone(FeatureSpec(backbone=SMALL, weights="no-such-tag"))
    with pytest.raises(ValueError, match="layer='layer5'"):
        FeatureSpec(layer="layer5")
    with pytest.raises(ValueError, match="CLIP ResNet"):
        feature_dim(FeatureSpec(backbone="ViT-B-32"))
    assert feature_dim(FeatureSpec(layer="embedding")) == 512


def test_images_to_tensor_grey_and_rgb():
    grey = Image.fromarray(np.full((224, 224), 255, np.uint8), "L")
    rgb = Image.fromarray(np.zeros((224, 224, 3), np.uint8), "RGB")
    t = images_to_tensor([grey, rgb])
    assert t.shape == (2, 3, 224, 224) and t.dtype == torch.float32
    mean, std = torch.tensor(CLIP_MEAN), torch.tensor(CLIP_STD)
    torch.testing.assert_close(t[0, :, 5, 5], (1 - mean) / std)
    torch.testing.assert_close(t[1, :, 5, 5], -mean / std)
    torch.testing.assert_close(clip_normalize(torch.ones(1, 3, 2, 2))[0, :, 0, 0], (1 - mean) / std)
    with pytest.raises(ValueError, match="differ in size"):
        images_to_tensor([grey, grey.resize((100, 100))])
