"""PNG files that hold pixels only, so that equal images are equal files (Blender stamps its own metadata)."""
from __future__ import annotations

import os
import pathlib


def write_plain_png(path: str | os.PathLike) -> None:
    """Rewrite the PNG at ``path`` in place with its pixels only: IHDR, IDAT, IEND, no text,
    time, EXIF or resolution chunk. Equal pixels give equal bytes (for one Pillow build)."""
    from PIL import Image

    path = pathlib.Path(path)
    with Image.open(path) as image:
        image.load()
        mode, size, data = image.mode, image.size, image.tobytes()
        palette = image.getpalette() if mode == "P" else None
    plain = Image.frombytes(mode, size, data)
    if palette is not None:
        plain.putpalette(palette)
    plain.save(path, format="PNG")
