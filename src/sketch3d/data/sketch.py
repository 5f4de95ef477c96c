"""The one internal sketch form, its JSON file, and its rasterisation.

Every sketch source (simulated, AmateurSketch SVG, QuickDraw) becomes a
:class:`Sketch`: polylines in pixel coordinates (y down) on a canvas of
``(width, height)`` pixels, one line width per stroke. Pixel coordinates are
continuous: pixel ``i`` covers ``[i, i + 1)``, so the canvas centre is
``(width / 2, height / 2)``, as in :meth:`sketch3d.geometry.camera.View.project`.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sketch3d.atomic import atomic_path
from sketch3d.geometry.batching import bbox_batches


class SketchError(ValueError):
    """A sketch (in memory or in a file) is malformed."""


@dataclass
class Sketch:
    strokes: list[np.ndarray]
    widths: list[float]
    canvas: tuple[int, int]
    meta: dict = field(default_factory=dict)


def validate(sketch: Sketch) -> Sketch:
    """Raise :class:`SketchError` naming the first problem; return the sketch unchanged."""
    canvas = tuple(sketch.canvas)
    if len(canvas) != 2 or not all(isinstance(c, (int, np.integer)) and c > 0 for c in canvas):
        raise SketchError(f"sketch canvas must be two positive integers (width, height), got {sketch.canvas!r}")
    if len(sketch.strokes) == 0:
        raise SketchError("sketch has no strokes; a sketch needs at least one stroke")
    if len(sketch.widths) != len(sketch.strokes):
        raise SketchError(
            f"sketch has {len(sketch.strokes)} strokes but {len(sketch.widths)} widths; give one width per stroke"
        )
    for i, (stroke, width) in enumerate(zip(sketch.strokes, sketch.widths)):
        pts = np.asarray(stroke)
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise SketchError(f"stroke {i}: points must have shape (N, 2), got shape {pts.shape}")
        if pts.shape[0] < 1:
            raise SketchError(f"stroke {i} has no points; every stroke needs at least one point")
        if not np.issubdtype(pts.dtype, np.number) or not np.all(np.isfinite(pts)):
            raise SketchError(f"stroke {i} has non-finite or non-numeric coordinates")
        if not (isinstance(width, (int, float, np.integer, np.floating)) and math.isfinite(width) and width > 0):
            raise SketchError(f"stroke {i}: width must be a finite number > 0, got {width!r}")
    return sketch


# ----------------------------------------------------------------------------- JSON


def _jsonable(value: Any) -> Any:
    """json.dumps fallback for numpy values in ``meta``."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"sketch meta value {value!r} of type {type(value).__name__} is not JSON serialisable")


def sketch_to_dict(sketch: Sketch, decimals: int | None = 4) -> dict:
    """The JSON form ``{"canvas", "strokes": [{"points", "width"}], "meta"}``."""
    validate(sketch)
    strokes = []
    for stroke, width in zip(sketch.strokes, sketch.widths):
        pts = np.asarray(stroke, dtype=float)
        if decimals is not None:
            pts = np.round(pts, decimals)
        strokes.append({"points": pts.tolist(), "width": float(width)})
    return {"canvas": [int(sketch.canvas[0]), int(sketch.canvas[1])], "strokes": strokes, "meta": sketch.meta}


def sketch_from_dict(data: Any, source: str = "sketch") -> Sketch:
    """Inverse of :func:`sketch_to_dict`; errors are prefixed with ``source`` (e.g. the file name)."""
    if not isinstance(data, dict):
        raise SketchError(f"{source}: top level must be a JSON object, got {type(data).__name__}")
    for key in ("canvas", "strokes"):
        if key not in data:
            raise SketchError(f"{source}: missing key {key!r}; expected keys 'canvas', 'strokes', 'meta'")
    canvas = data["canvas"]
    if not (isinstance(canvas, list) and len(canvas) == 2 and all(isinstance(c, int) and c > 0 for c in canvas)):
        raise SketchError(f"{source}: 'canvas' must be [width, height] with positive integers, got {canvas!r}")
    if not isinstance(data["strokes"], list):
        raise SketchError(f"{source}: 'strokes' must be a list, got {type(data['strokes']).__name__}")
    meta = data.get("meta", {})
    if not isinstance(meta, dict):
        raise SketchError(f"{source}: 'meta' must be an object, got {type(meta).__name__}")
    strokes, widths = [], []
    for i, entry in enumerate(data["strokes"]):
        if not isinstance(entry, dict) or "points" not in entry or "width" not in entry:
            raise SketchError(f"{source}: stroke {i} must be an object with 'points' and 'width'")
        try:
            pts = np.asarray(entry["points"], dtype=float)
        except (TypeError, ValueError) as exc:
            raise SketchError(f"{source}: stroke {i}: 'points' must be a list of [x, y] pairs ({exc})") from None
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise SketchError(
                f"{source}: stroke {i}: 'points' must be a list of [x, y] pairs, got array of shape {pts.shape}"
            )
        width = entry["width"]
        if isinstance(width, bool) or not isinstance(width, (int, float)):
            raise SketchError(f"{source}: stroke {i}: 'width' must be a number, got {width!r}")
        strokes.append(pts)
        widths.append(float(width))
    sketch = Sketch(strokes=strokes, widths=widths, canvas=(canvas[0], canvas[1]), meta=meta)
    try:
        return validate(sketch)
    except SketchError as exc:
        raise SketchError(f"{source}: {exc}") from None


def save_sketch(sketch: Sketch, path: str | os.PathLike, decimals: int | None = 4) -> Path:
    """Write ``sketch`` as JSON (coordinates rounded to ``decimals``; None keeps full precision)."""
    path = Path(path)
    text = json.dumps(sketch_to_dict(sketch, decimals), default=_jsonable, separators=(",", ":"))
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


def load_sketch(path: str | os.PathLike) -> Sketch:
    """Read a sketch JSON written by :func:`save_sketch`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sketch file {path} does not exist")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SketchError(
            f"sketch file {path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    return sketch_from_dict(data, source=f"sketch file {path}")


# ----------------------------------------------------------------------------- raster


def _fit_transform(canvas: tuple[int, int], size: int) -> tuple[float, float, float]:
    """(scale, offset_x, offset_y) mapping canvas pixels into a size x size square, centred."""
    w, h = canvas
    scale = size / max(w, h)
    return scale, (size - w * scale) / 2.0, (size - h * scale) / 2.0


def _paint_capsules(mask: np.ndarray, a: np.ndarray, b: np.ndarray, radius: np.ndarray) -> None:
    """Set every pixel of ``mask`` whose centre lies within ``radius`` of segment a-b (pixel units)."""
    # hand-written: PIL's wide lines come out up to 12% too thin on diagonals (measured); a pixel-centre
    # test against each segment's capsule (round caps = round joins) is exact and vectorises
    h_img, w_img = mask.shape
    lo = np.floor(np.minimum(a, b) - radius[:, None] - 0.5)
    hi = np.ceil(np.maximum(a, b) + radius[:, None] - 0.5) + 1
    lo = np.clip(lo, 0, [w_img, h_img]).astype(np.int64)
    hi = np.clip(hi, 0, [w_img, h_img]).astype(np.int64)
    sizes = hi - lo
    live = np.flatnonzero((sizes[:, 0] > 0) & (sizes[:, 1] > 0))
    for part in bbox_batches(sizes[live]):
        k = live[part]
        w, h = sizes[k].max(axis=0)
        px = lo[k, 0][:, None, None] + np.arange(w)[None, None, :] + 0.5
        py = lo[k, 1][:, None, None] + np.arange(h)[None, :, None] + 0.5
        ax, ay = a[k, 0][:, None, None], a[k, 1][:, None, None]
        dx, dy = (b[k, 0] - a[k, 0])[:, None, None], (b[k, 1] - a[k, 1])[:, None, None]
        dd = dx * dx + dy * dy
        t = np.clip(((px - ax) * dx + (py - ay) * dy) / np.where(dd > 0, dd, 1.0), 0.0, 1.0)
        ex, ey = px - ax - t * dx, py - ay - t * dy
        hit = ((ex * ex + ey * ey <= radius[k][:, None, None] ** 2)
               & (px < hi[k, 0][:, None, None]) & (py < hi[k, 1][:, None, None]))
        seg, yy, xx = np.nonzero(hit)
        mask[lo[k, 1][seg] + yy, lo[k, 0][seg] + xx] = True


def rasterize(sketch: Sketch, size: int = 224, supersample: int = 4) -> Image.Image:
    """Draw ``sketch`` black on white into a size x size greyscale image (mode "L").

    The canvas is scaled uniformly (aspect kept, centred); widths scale with it.
    Strokes are drawn at ``supersample`` times the size with round joins and caps
    (every pixel whose centre is within half the width of the polyline) and
    box-filtered down, which antialiases them.
    """
    if size < 1 or supersample < 1:
        raise ValueError(f"rasterize: size ({size}) and supersample ({supersample}) must be >= 1")
    validate(sketch)
    big = size * supersample
    scale, ox, oy = _fit_transform(sketch.canvas, size)
    starts, ends, radii = [], [], []
    for stroke, width in zip(sketch.strokes, sketch.widths):
        pts = np.asarray(stroke, dtype=float)
        pts = (pts * scale + [ox, oy]) * supersample
        if len(pts) == 1:  # a dot: a zero-length segment
            pts = np.vstack([pts, pts])
        starts.append(pts[:-1])
        ends.append(pts[1:])
        radii.append(np.full(len(pts) - 1, width * scale * supersample / 2.0))
    mask = np.zeros((big, big), dtype=bool)
    _paint_capsules(mask, np.concatenate(starts), np.concatenate(ends), np.concatenate(radii))
    ink = mask.reshape(size, supersample, size, supersample).mean(axis=(1, 3))
    return Image.fromarray(np.round(255.0 * (1.0 - ink)).astype(np.uint8), mode="L")
