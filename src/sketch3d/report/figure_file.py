"""The one writer of Matplotlib figures: a PNG of pixels only.

Matplotlib stamps its version into a PNG's text chunks (``Software``) unless told not to, so the same figure
drawn under two installs would differ in bytes and DVC would see a change where there is none. Every figure of
the package (tables' figures, training curves) is written here, with no metadata, atomically, and closed; a test
checks that no module calls ``savefig`` itself.
"""
from __future__ import annotations

import os
from pathlib import Path

from sketch3d.atomic import atomic_path

__all__ = ["PIXELS_ONLY", "save_figure"]

# Matplotlib's PNG metadata, every key dropped (None): only the pixels, the size and the dpi are written
PIXELS_ONLY = {"Software": None}


def save_figure(fig, path: str | os.PathLike, *, dpi: float | None = None) -> Path:
    """Write Matplotlib figure ``fig`` to the PNG ``path`` (atomically: a reader never sees half a file), at
    ``dpi`` (None: the figure's own), with no metadata, and close it. Returns ``path``."""
    import matplotlib.pyplot as plt

    path = Path(path)
    kwargs = {} if dpi is None else {"dpi": dpi}
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", metadata=PIXELS_ONLY, **kwargs)
    finally:
        plt.close(fig)
    return path
