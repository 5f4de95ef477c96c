"""Read a sketch file of any supported format into the one internal form (``data.sketch.Sketch``).

``.json`` (ours), ``.ndjson`` (QuickDraw: one drawing per line, ``index`` picks one) and
``.svg`` (AmateurSketch-style paths). The format readers import ``data.sketch``; this
module sits above them, so no module imports one that imports it back.
"""
from __future__ import annotations

import os
from pathlib import Path

from sketch3d.data.amateursketch import parse_svg
from sketch3d.data.quickdraw import read_quickdraw
from sketch3d.data.sketch import Sketch, SketchError, load_sketch

SUFFIXES = (".json", ".ndjson", ".svg")


def load_any_sketch(path: str | os.PathLike, index: int = 0) -> Sketch:
    """The sketch in ``path``, by extension; for a multi-drawing ``.ndjson`` the ``index``-th drawing."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return load_sketch(path)
    if suffix == ".ndjson":
        drawings = read_quickdraw(path, limit=index + 1)
        if not 0 <= index < len(drawings):
            raise SketchError(f"{path} holds {len(drawings)} drawing(s); drawing index {index} is out of range")
        return drawings[index]
    if suffix == ".svg":
        return parse_svg(path)
    raise SketchError(f"cannot read sketch {path}: unknown extension {path.suffix!r}; use one of {', '.join(SUFFIXES)}")
