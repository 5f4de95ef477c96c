"""pixel_features: area-averaged ink thumbnails."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sketch3d.features.box import fit_to_box
from sketch3d.retrieval.pixel import pixel_features


def test_values_against_block_mean(tmp_path):
    rng = np.random.default_rng(0)
    img = np.full((224, 224), 255, np.uint8)
    img[40:180, 60:170] = rng.integers(0, 256, (140, 110))
    img[40, 60] = img[179, 169] = 0  # pin the ink bbox
    path = tmp_path / "a.png"
    Image.fromarray(img).save(path)
    feats = pixel_features([path, path], box=150, size=28)
    assert feats.shape == (2, 784) and feats.dtype == np.float32
    assert 0.0 <= feats.min() and feats.max() <= 1.0
    fitted = np.asarray(fit_to_box(Image.fromarray(img), 150), np.float64)
    expected = (255.0 - fitted.reshape(28, 8, 28, 8).mean(axis=(1, 3))) / 255.0  # 224 / 28 = 8
    np.testing.assert_allclose(feats[0].reshape(28, 28), expected, atol=1 / 255 + 1e-6)


def test_white_is_zero_and_black_is_one(tmp_path):
    img = np.full((224, 224), 255, np.uint8)
    img[10:214, 10:214] = 0  # a black square, fitted to the full canvas
    path = tmp_path / "sq.png"
    Image.fromarray(img).save(path)
    f = pixel_features([path], box=224, size=7).reshape(7, 7)
    np.testing.assert_allclose(f, 1.0, atol=1e-6)


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        pixel_features([tmp_path / "nope.png"], box=129)
    with pytest.raises(ValueError, match="size"):
        pixel_features([], box=129, size=0)
