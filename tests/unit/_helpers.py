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


def png_chunk_types(path) -> list[str]:
    """The chunk types of a PNG file, in order (a pixels-only file: IHDR, IDAT..., IEND)."""
    import struct
    from pathlib import Path

    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    types, i = [], 8
    while i < len(data):
        (n,) = struct.unpack(">I", data[i : i + 4])
        types.append(data[i + 4 : i + 8].decode("ascii"))
        i += 12 + n
    return types
