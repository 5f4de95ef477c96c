"""Any sketch file format -> the internal sketch form."""
import json

import numpy as np
import pytest

from sketch3d.data.sketch import Sketch, SketchError, save_sketch
from sketch3d.data.sketch_files import load_any_sketch


def _line(x0, y0, x1, y1, width=4.0, canvas=(224, 224)) -> Sketch:
    return Sketch(strokes=[np.array([[x0, y0], [x1, y1]], float)], widths=[width], canvas=canvas)


def test_load_any_sketch_by_extension(tmp_path):
    s = _line(1, 2, 3, 4)
    save_sketch(s, tmp_path / "s.json")
    assert load_any_sketch(tmp_path / "s.json").canvas == (224, 224)
    nd = tmp_path / "q.ndjson"
    nd.write_text(json.dumps({"word": "chair", "key_id": "7", "drawing": [[[0, 10], [5, 5]]]}) + "\n")
    q = load_any_sketch(nd)
    assert q.canvas == (256, 256) and q.meta["word"] == "chair"
    np.testing.assert_array_equal(q.strokes[0], [[0, 5], [10, 5]])
    with pytest.raises(SketchError, match="unknown extension '.txt'"):
        load_any_sketch(tmp_path / "s.txt")


# ----------------------------------------------------------------------------- raster


def test_a_drawing_of_a_multi_drawing_file(tmp_path):
    nd = tmp_path / "q.ndjson"
    lines = [json.dumps({"word": "chair", "key_id": str(i), "drawing": [[[0, 10 * i + 10], [5, 5]]]}) for i in range(3)]
    nd.write_text("\n".join(lines) + "\n")
    assert load_any_sketch(nd, index=2).meta["key_id"] == "2"
    with pytest.raises(SketchError, match="out of range"):
        load_any_sketch(nd, index=5)
