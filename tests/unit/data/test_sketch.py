"""The internal sketch form: validation, JSON round trip, rasterisation."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from sketch3d.data.sketch import (
    Sketch,
    SketchError,
    load_sketch,
    rasterize,
    save_sketch,
    validate,
)


def _ink(img) -> np.ndarray:
    """Ink coverage per pixel in [0, 1] (1 = black)."""
    return (255.0 - np.asarray(img, dtype=float)) / 255.0

def _line(x0, y0, x1, y1, width=4.0, canvas=(224, 224)) -> Sketch:
    return Sketch(strokes=[np.array([[x0, y0], [x1, y1]], float)], widths=[width], canvas=canvas)


# ----------------------------------------------------------------------------- validate


@pytest.mark.parametrize(
    "sketch, message",
    [
        (Sketch(strokes=[], widths=[], canvas=(10, 10)), "no strokes"),
        (Sketch(strokes=[np.zeros((2, 2))], widths=[1.0, 2.0], canvas=(10, 10)), "2 widths"),
        (Sketch(strokes=[np.zeros((0, 2))], widths=[1.0], canvas=(10, 10)), "stroke 0 has no points"),
        (Sketch(strokes=[np.array([[0.0, np.nan]])], widths=[1.0], canvas=(10, 10)), "non-finite"),
        (Sketch(strokes=[np.zeros((3, 3))], widths=[1.0], canvas=(10, 10)), r"shape \(N, 2\)"),
        (Sketch(strokes=[np.zeros((2, 2))], widths=[0.0], canvas=(10, 10)), "width must be"),
        (Sketch(strokes=[np.zeros((2, 2))], widths=[1.0], canvas=(0, 10)), "canvas"),
    ],
)
def test_validate_names_the_problem(sketch, message):
    with pytest.raises(SketchError, match=message):
        validate(sketch)

def test_validate_accepts_a_good_sketch():
    s = _line(0, 0, 5, 5)
    assert validate(s) is s


# ----------------------------------------------------------------------------- JSON

def test_json_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    s = Sketch(
        strokes=[rng.uniform(0, 256, size=(5, 2)), np.array([[3.25, 4.5]])],
        widths=[2.5, 1.0],
        canvas=(256, 200),
        meta={"source": "test", "view": {"azimuth": np.float64(30.0)}, "ids": np.arange(3)},
    )
    path = save_sketch(s, tmp_path / "a" / "s.json", decimals=None)
    back = load_sketch(path)
    assert back.canvas == (256, 200)
    assert back.widths == [2.5, 1.0]
    assert len(back.strokes) == 2
    for a, b in zip(s.strokes, back.strokes):
        np.testing.assert_array_equal(a, b)
    assert back.meta == {"source": "test", "view": {"azimuth": 30.0}, "ids": [0, 1, 2]}
    raw = json.loads(path.read_text())
    assert raw["strokes"][1] == {"points": [[3.25, 4.5]], "width": 1.0}
    assert list(tmp_path.joinpath("a").iterdir()) == [path]  # no temporary file left

def test_json_rounds_to_decimals(tmp_path):
    s = Sketch(strokes=[np.array([[1.234567, 2.0]])], widths=[1.0], canvas=(8, 8))
    back = load_sketch(save_sketch(s, tmp_path / "s.json", decimals=2))
    np.testing.assert_array_equal(back.strokes[0], [[1.23, 2.0]])


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "invalid JSON at line 1"),
        ("[1, 2]", "top level must be a JSON object"),
        ('{"strokes": []}', "missing key 'canvas'"),
        ('{"canvas": [10], "strokes": []}', "'canvas' must be"),
        ('{"canvas": [10, 10], "strokes": []}', "no strokes"),
        ('{"canvas": [10, 10], "strokes": [{"points": [[1, 2]]}]}', "stroke 0 must be an object"),
        ('{"canvas": [10, 10], "strokes": [{"points": [[1, 2, 3]], "width": 1}]}', "stroke 0: 'points'"),
        ('{"canvas": [10, 10], "strokes": [{"points": [[1, 2]], "width": "x"}]}', "'width' must be a number"),
        ('{"canvas": [10, 10], "strokes": [{"points": [[1, 2]], "width": -1}]}', "width must be"),
    ],
)
def test_load_errors_name_file_and_problem(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(SketchError, match=message) as info:
        load_sketch(path)
    assert str(path) in str(info.value)

def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.json"):
        load_sketch(tmp_path / "nothere.json")

def test_horizontal_line_lands_on_expected_rows_and_columns():
    img = rasterize(_line(50, 112, 150, 112, width=4.0), size=224, supersample=4)
    assert img.mode == "L" and img.size == (224, 224)
    ink = _ink(img)
    rows = np.flatnonzero(ink.sum(axis=1) > 0.5)
    np.testing.assert_array_equal(rows, [110, 111, 112, 113])  # y in [110, 114)
    cols = np.flatnonzero(ink.sum(axis=0) > 0.5)
    assert cols.min() == 48 and cols.max() == 151  # round caps reach 2 px past each end
    assert ink[112, 60:140].min() > 0.99  # solid black along the middle
    assert ink[:108].max() == 0 and ink[116:].max() == 0

def test_line_ink_is_length_times_width_plus_caps():
    for width in (2.0, 4.0, 7.0):
        ink = _ink(rasterize(_line(30, 40, 190, 160, width=width), size=224)).sum()
        expected = 200.0 * width + math.pi * (width / 2) ** 2
        assert ink == pytest.approx(expected, rel=0.03)

def test_dot_is_a_disc_at_the_point():
    s = Sketch(strokes=[np.array([[100.0, 60.0]])], widths=[6.0], canvas=(224, 224))
    ink = _ink(rasterize(s, size=224))
    assert ink.sum() == pytest.approx(math.pi * 9.0, rel=0.05)
    ys, xs = np.mgrid[0:224, 0:224]
    assert (ink * (xs + 0.5)).sum() / ink.sum() == pytest.approx(100.0, abs=0.05)
    assert (ink * (ys + 0.5)).sum() / ink.sum() == pytest.approx(60.0, abs=0.05)

def test_canvas_is_scaled_uniformly_and_centred():
    # a 400 x 200 canvas maps to 224 x 112, centred vertically (offset 56); widths scale by 0.56
    s = _line(0, 100, 400, 100, width=10.0, canvas=(400, 200))
    ink = _ink(rasterize(s, size=224))
    rows = np.flatnonzero(ink.sum(axis=1) > 0.5 * 224 * 0.5)
    assert rows.min() == 109 and rows.max() == 114  # y = 56 + 56 = 112, width 5.6
    assert ink.sum() == pytest.approx(224 * 5.6, rel=0.05)

def test_polyline_joint_is_round_and_closed():
    s = Sketch(strokes=[np.array([[40.0, 40.0], [180.0, 40.0], [180.0, 180.0]])], widths=[6.0], canvas=(224, 224))
    ink = _ink(rasterize(s))
    assert ink[38:42, 178:182].min() > 0.99  # the corner is filled
    assert ink.sum() == pytest.approx(280 * 6 + math.pi * 9, rel=0.03)

def test_strokes_off_the_canvas_are_clipped():
    s = Sketch(strokes=[np.array([[-50.0, 10.0], [300.0, 250.0]]), np.array([[255.9, 255.9]])],
               widths=[20.0, 20.0], canvas=(256, 256))
    ink = _ink(rasterize(s, size=64))
    assert ink.shape == (64, 64) and ink[-1, -1] > 0.99 and ink[0, -1] == 0
