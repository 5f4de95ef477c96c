"""fit_to_box on images with known geometry."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from sketch3d.features.box import fit_to_box, ink_bbox


def _rect_image(w: int, h: int, at: tuple[int, int], size: tuple[int, int] = (224, 224), mode: str = "L") -> Image.Image:
    img = Image.new("L", size, 255)
    img.paste(0, (at[0], at[1], at[0] + w, at[1] + h))
    return img.convert(mode)


def _bbox(img: Image.Image) -> tuple[int, int, int, int]:
    return ink_bbox(np.asarray(img), 200)


@pytest.mark.parametrize("box", [129, 170])
def test_rectangle_in_corner_is_centred_and_scaled(box):
    out = fit_to_box(_rect_image(50, 20, (0, 0)), box)
    assert out.mode == "L" and out.size == (224, 224)
    left, top, right, bottom = _bbox(out)
    exp_w, exp_h = box, box * 20 / 50
    assert abs((right - left) - exp_w) <= 1
    assert abs((bottom - top) - exp_h) <= 1
    assert abs(left - (224 - exp_w) / 2) <= 1 and abs(top - (224 - exp_h) / 2) <= 1
    assert abs((right - left) / (bottom - top) - 50 / 20) < 0.06  # aspect kept


def test_tall_object_and_non_square_input_rgb():
    img = _rect_image(10, 40, (290, 5), size=(300, 120), mode="RGB")
    out = fit_to_box(img, 100)
    left, top, right, bottom = _bbox(out)
    assert abs((bottom - top) - 100) <= 1 and abs((right - left) - 25) <= 1
    assert abs((left + right) / 2 - 112) <= 1 and abs((top + bottom) / 2 - 112) <= 1


def test_idempotent_on_line_drawing():
    img = Image.new("L", (256, 256), 255)
    d = ImageDraw.Draw(img)
    d.line([(30, 200), (90, 40), (200, 120)], fill=0, width=3)
    d.ellipse([120, 150, 180, 230], outline=0, width=2)
    once = fit_to_box(img, 129)
    twice = fit_to_box(once, 129)
    assert abs(np.array(_bbox(once)) - np.array(_bbox(twice))).max() <= 1
    diff = np.abs(np.asarray(once, np.int16) - np.asarray(twice, np.int16))
    assert diff.mean() < 2.0


def test_transparent_background_counts_as_white():
    img = Image.new("RGBA", (64, 64), (0, 0, 0, 0))  # transparent black everywhere
    ImageDraw.Draw(img).rectangle([10, 10, 30, 20], fill=(0, 0, 0, 255))
    left, top, right, bottom = _bbox(fit_to_box(img, 100))
    assert abs((right - left) - 100) <= 1


def test_blank_image_and_bad_box_raise():
    with pytest.raises(ValueError, match="blank image"):
        fit_to_box(Image.new("L", (224, 224), 255), 129)
    with pytest.raises(ValueError, match="box=300"):
        fit_to_box(_rect_image(5, 5, (0, 0)), 300)
