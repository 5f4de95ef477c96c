"""Stage 'rasterize_sketches': sketch files of one category/split -> 224x224 PNGs."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from sketch3d.atomic import atomic_dir, atomic_path
from sketch3d.data.manifest import SKETCH_COLUMNS, read_sketches, select
from sketch3d.imageset import write_index


def rasterize_sketches(sketches_csv: Path, category: str, split: str, size: int, out_dir: Path) -> int:
    """Rasterise the sketches of (category, split) listed in ``sketches_csv`` into ``out_dir``; return their number."""
    sketches = select(read_sketches(sketches_csv), category, split)
    if sketches.empty:
        raise ValueError(f"{sketches_csv}: no sketches of category '{category}' in split '{split}'")
    with atomic_dir(out_dir) as tmp:
        index = rasterize_rows(sketches, size, tmp)
        write_index(tmp, index)
    return len(index)


def rasterize_rows(sketches: pd.DataFrame, size: int, out_dir: str | os.PathLike) -> pd.DataFrame:
    """Rasterise every sketch of a sketches manifest into ``out_dir/<sketch_id>.png``.

    Returns the image index: image_id (= sketch_id), shape_id, azimuth, path (the PNG).
    """
    from sketch3d.data.sketch import SketchError, rasterize
    from sketch3d.data.sketch_files import load_any_sketch

    missing = [c for c in SKETCH_COLUMNS if c not in sketches.columns]
    if missing:
        raise SketchError(f"rasterize_rows: sketches table lacks columns {missing}; expected {SKETCH_COLUMNS}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for rec in sketches.itertuples(index=False):
        sketch = load_any_sketch(rec.path)
        png = out_dir / f"{rec.sketch_id}.png"
        with atomic_path(png) as tmp:
            rasterize(sketch, size=size).save(tmp)
        rows.append({"image_id": rec.sketch_id, "shape_id": rec.shape_id, "azimuth": rec.azimuth, "path": str(png)})
    return pd.DataFrame(rows, columns=["image_id", "shape_id", "azimuth", "path"])
