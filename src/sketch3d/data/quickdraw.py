"""Real freehand sketches from the Quick, Draw! dataset (simplified ndjson format).

Three categories (chair, floor_lamp, table; 25 drawings each) ship with the package
under ``sketch3d/data/quickdraw/``. Data: "Quick, Draw! dataset, Google LLC",
CC BY 4.0 (see the README there).
"""
from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

import numpy as np

from sketch3d.data.sketch import Sketch, SketchError, validate

PACKAGE_DATA = ("data/quickdraw/*.ndjson",)  # bundled real drawings (see sketch3d.codeversion)
QUICKDRAW_CANVAS = (256, 256)
DEFAULT_WIDTH = 3.0  # px on the 256 x 256 canvas
BUNDLED_CATEGORIES = ("chair", "floor_lamp", "table")
_ALIASES = {"lamp": "floor_lamp", "floor lamp": "floor_lamp"}


def _parse_drawing(drawing: object, where: str) -> list[np.ndarray]:
    if not isinstance(drawing, list) or not drawing:
        raise SketchError(f"{where}: 'drawing' must be a non-empty list of strokes")
    strokes = []
    for i, stroke in enumerate(drawing):
        if not (isinstance(stroke, list) and len(stroke) >= 2 and isinstance(stroke[0], list)
                and isinstance(stroke[1], list)):
            raise SketchError(f"{where}: stroke {i} must be [[x0, x1, ...], [y0, y1, ...]]")
        xs, ys = stroke[0], stroke[1]
        if len(xs) != len(ys):
            raise SketchError(f"{where}: stroke {i} has {len(xs)} x values but {len(ys)} y values")
        if not xs:
            raise SketchError(f"{where}: stroke {i} has no points")
        try:
            pts = np.column_stack([np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)])
        except (TypeError, ValueError):
            raise SketchError(f"{where}: stroke {i} has non-numeric coordinates") from None
        strokes.append(pts)
    return strokes


def read_quickdraw(path: str | os.PathLike, width: float = DEFAULT_WIDTH, limit: int | None = None) -> list[Sketch]:
    """Read a simplified-format QuickDraw ndjson file into sketches on a 256 x 256 canvas.

    ``width`` is the stroke width in canvas pixels; ``limit`` stops after that many
    drawings. Blank lines are skipped; a malformed line raises :class:`SketchError`
    naming the file and line number.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"QuickDraw file {path} does not exist")
    if not width > 0:
        raise ValueError(f"read_quickdraw: width must be > 0, got {width}")
    sketches: list[Sketch] = []
    with path.open() as fh:
        for lineno, line in enumerate(fh, start=1):
            if limit is not None and len(sketches) >= limit:
                break
            if not line.strip():
                continue
            where = f"QuickDraw file {path}, line {lineno}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SketchError(f"{where}: invalid JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(record, dict) or "drawing" not in record:
                raise SketchError(f"{where}: expected an object with a 'drawing' key (simplified ndjson format)")
            strokes = _parse_drawing(record["drawing"], where)
            meta = {
                "source": "quickdraw",
                "word": record.get("word"),
                "key_id": record.get("key_id"),
                "countrycode": record.get("countrycode"),
                "recognized": record.get("recognized"),
                "file": path.name,
                "line": lineno,
            }
            sketch = Sketch(strokes=strokes, widths=[float(width)] * len(strokes), canvas=QUICKDRAW_CANVAS, meta=meta)
            try:
                validate(sketch)
            except SketchError as exc:
                raise SketchError(f"{where}: {exc}") from None
            sketches.append(sketch)
    if not sketches:
        raise SketchError(f"QuickDraw file {path} holds no drawings")
    return sketches


def bundled_quickdraw(category: str) -> Path:
    """Path of the packaged ndjson file of ``category`` (chair, floor_lamp or table; "lamp" means floor_lamp)."""
    key = _ALIASES.get(category.strip().lower(), category.strip().lower())
    if key not in BUNDLED_CATEGORIES:
        raise ValueError(
            f"no bundled QuickDraw drawings for category {category!r}; available: {list(BUNDLED_CATEGORIES)}"
        )
    ref = resources.files("sketch3d.data") / "quickdraw" / f"{key}.ndjson"
    path = Path(str(ref))
    if not path.is_file():
        raise FileNotFoundError(f"bundled QuickDraw file {path} is missing: reinstall the sketch3d package")
    return path
