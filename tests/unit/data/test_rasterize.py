"""Stage 'rasterize_sketches': a sketches manifest -> PNGs and their index."""
import numpy as np
import pandas as pd
import pytest

from sketch3d.data.manifest import SKETCH_COLUMNS
from sketch3d.data.rasterize import rasterize_rows
from sketch3d.data.sketch import Sketch, SketchError, save_sketch
from _helpers import png_chunk_types


def _line(x0, y0, x1, y1, width=4.0, canvas=(224, 224)) -> Sketch:
    return Sketch(strokes=[np.array([[x0, y0], [x1, y1]], float)], widths=[width], canvas=canvas)


def test_rasterize_sketches_writes_pngs_and_index(tmp_path):
    rows = []
    for i in range(2):
        p = save_sketch(_line(10 + i, 10, 100, 100), tmp_path / "in" / f"s{i}.json")
        rows.append({"sketch_id": f"s{i}", "shape_id": f"shape{i}", "category": "chair", "split": "test",
                     "azimuth": 30 * i, "path": str(p), "source": "simulated"})
    index = rasterize_rows(pd.DataFrame(rows, columns=SKETCH_COLUMNS), 64, tmp_path / "out")
    assert list(index.columns) == ["image_id", "shape_id", "azimuth", "path"]
    assert index["image_id"].tolist() == ["s0", "s1"]
    assert index["azimuth"].tolist() == [0, 30]
    from PIL import Image

    for path in index["path"]:
        img = Image.open(path)
        assert img.size == (64, 64) and img.mode == "L"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["s0.png", "s1.png"]

def test_rasterize_sketches_needs_manifest_columns(tmp_path):
    with pytest.raises(SketchError, match="lacks columns"):
        rasterize_rows(pd.DataFrame({"sketch_id": ["a"]}), 32, tmp_path)

def test_rasterize_sketches_pngs_are_reproducible_bytes(tmp_path):
    """Two runs into different folders: equal files, pixels only (no time, text or path chunk)."""
    sketch = Sketch(strokes=[np.array([[20.0, 30.0], [200.0, 180.0], [40.0, 210.0]]), np.array([[120.0, 40.0]])],
                    widths=[3.0, 6.0], canvas=(256, 256), meta={"source": "unit"})
    p = save_sketch(sketch, tmp_path / "in" / "s0.json")
    table = pd.DataFrame([{"sketch_id": "s0", "shape_id": "shape0", "category": "chair", "split": "test",
                           "azimuth": 0, "path": str(p), "source": "simulated"}], columns=SKETCH_COLUMNS)
    first = rasterize_rows(table, 224, tmp_path / "run1")["path"][0]
    second = rasterize_rows(table, 224, tmp_path / "elsewhere" / "run2")["path"][0]
    assert open(first, "rb").read() == open(second, "rb").read()
    assert png_chunk_types(first) == ["IHDR", "IDAT", "IEND"]
