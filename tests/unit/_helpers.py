"""Small test helpers shared by several unit-test files."""
from __future__ import annotations

import socket

import numpy as np
import trimesh


def _box(extents, centre=(0, 0, 0)) -> trimesh.Trimesh:
    b = trimesh.creation.box(extents=extents)
    b.apply_translation(centre)
    return b


def _segments_on(lines: list[np.ndarray]) -> np.ndarray:
    """All polyline points sampled every ~0.25 px."""
    out = []
    for line in lines:
        for a, b in zip(line[:-1], line[1:]):
            n = max(2, int(np.linalg.norm(b - a) * 4))
            out.append(a + np.linspace(0, 1, n)[:, None] * (b - a))
    return np.concatenate(out)


def _length(lines) -> float:
    return float(sum(np.linalg.norm(np.diff(l, axis=0), axis=1).sum() for l in lines))


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
