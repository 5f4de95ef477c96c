"""QuickDraw ndjson input and the bundled drawings."""
from __future__ import annotations

import json

import numpy as np
import pytest

from sketch3d.data.quickdraw import BUNDLED_CATEGORIES, bundled_quickdraw, read_quickdraw
from sketch3d.data.sketch import SketchError, rasterize


def _write(path, records):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def test_reads_strokes_canvas_width_and_meta(tmp_path):
    rec = {"word": "chair", "countrycode": "DE", "recognized": True, "key_id": "123",
           "drawing": [[[0, 10, 20], [5, 6, 7]], [[100], [200]]]}
    path = _write(tmp_path / "c.ndjson", [rec, "", {**rec, "key_id": "456"}])
    sketches = read_quickdraw(path)
    assert len(sketches) == 2  # the blank line is skipped
    s = sketches[0]
    assert s.canvas == (256, 256)
    np.testing.assert_array_equal(s.strokes[0], [[0, 5], [10, 6], [20, 7]])
    np.testing.assert_array_equal(s.strokes[1], [[100, 200]])
    assert s.widths == [3.0, 3.0]
    assert s.meta["word"] == "chair" and s.meta["key_id"] == "123" and s.meta["source"] == "quickdraw"
    assert sketches[1].meta["key_id"] == "456" and sketches[1].meta["line"] == 3
    assert read_quickdraw(path, width=1.5, limit=1)[0].widths == [1.5, 1.5]


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"word": "chair", "drawing": [[[1, 2], [3]', "invalid JSON"),
        ('{"word": "chair"}', "'drawing' key"),
        ('{"drawing": []}', "non-empty list of strokes"),
        ('{"drawing": [[[1, 2], [3]]]}', "stroke 0 has 2 x values but 1 y values"),
        ('{"drawing": [[[1, 2]]]}', r"stroke 0 must be \[\[x0"),
        ('{"drawing": [[[], []]]}', "stroke 0 has no points"),
        ('{"drawing": [[["a"], [1]]]}', "non-numeric"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, line, message):
    good = json.dumps({"drawing": [[[0, 1], [0, 1]]]})
    path = _write(tmp_path / "bad.ndjson", [good, line])
    with pytest.raises(SketchError, match=message) as info:
        read_quickdraw(path)
    assert f"{path}, line 2" in str(info.value)


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "e.ndjson"
    empty.write_text("\n")
    with pytest.raises(SketchError, match="holds no drawings"):
        read_quickdraw(empty)
    with pytest.raises(FileNotFoundError, match="nope.ndjson"):
        read_quickdraw(tmp_path / "nope.ndjson")


@pytest.mark.parametrize("category", BUNDLED_CATEGORIES)
def test_bundled_files_read_and_rasterise(category):
    path = bundled_quickdraw(category)
    sketches = read_quickdraw(path)
    assert len(sketches) == 25
    word = category.replace("_", " ")
    assert all(s.meta["word"] == word for s in sketches)
    for s in sketches:
        pts = np.concatenate(s.strokes)
        assert pts.min() >= 0 and pts.max() <= 255
    ink = 255 - np.asarray(rasterize(sketches[0]), dtype=float)
    assert ink.sum() > 255 * 50  # something was drawn


def test_bundled_aliases_licence_and_unknown_category():
    assert bundled_quickdraw("lamp") == bundled_quickdraw("floor_lamp") == bundled_quickdraw("Floor Lamp")
    readme = (bundled_quickdraw("chair").parent / "README.md").read_text()
    assert "Quick, Draw! dataset, Google LLC" in readme and "CC BY 4.0" in readme
    with pytest.raises(ValueError, match="no bundled QuickDraw drawings for category 'sofa'"):
        bundled_quickdraw("sofa")
