"""Batching of many small pixel boxes into padded arrays of bounded size (vectorised rasterising)."""
from __future__ import annotations

from typing import Iterator

import numpy as np


def bbox_batches(sizes: np.ndarray, cell_budget: int = 1_000_000) -> Iterator[np.ndarray]:
    """Group items with (w, h) pixel boxes into batches whose padded boxes stay within ``cell_budget``
    cells and waste at most about half of them (items are taken in order of box area)."""
    order = np.argsort(sizes[:, 0] * sizes[:, 1], kind="stable")
    i = 0
    while i < len(order):
        j, w, h = i + 1, sizes[order[i], 0], sizes[order[i], 1]
        used = w * h
        while j < len(order):
            w2, h2 = max(w, sizes[order[j], 0]), max(h, sizes[order[j], 1])
            used2 = used + sizes[order[j], 0] * sizes[order[j], 1]
            cells = (j + 1 - i) * w2 * h2
            if cells > cell_budget or cells > 2 * used2 + 4096:
                break
            j, w, h, used = j + 1, w2, h2, used2
        yield order[i:j]
        i = j
