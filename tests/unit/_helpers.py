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


def sparse_clip_safetensors(path, model: str = "RN101"):
    """A valid ``.safetensors`` file of open_clip ``model``'s full state dict with all-zero float16 tensors,
    written sparse (the header, then a hole): the real key layout and shapes at no disk or time cost. The layout
    is open_clip's (the library that writes and reads these files), built on the meta device."""
    import json
    import struct
    from pathlib import Path

    import torch

    from sketch3d.compat.torchvision_ops import ensure_torchvision

    ensure_torchvision()
    import open_clip

    with torch.device("meta"):
        state = open_clip.create_model(model, device="meta").state_dict()
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, t in state.items():
        dtype, size = ("F16", 2) if t.is_floating_point() else ("I64", 8)
        n = size * int(np.prod(t.shape, dtype=np.int64))
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + n]}
        offset += n
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(blob)) + blob)
        fh.truncate(8 + len(blob) + offset)
    return path


def png_text_chunks(path) -> dict[str, bytes]:
    """The text chunks (tEXt, zTXt, iTXt) of a PNG file, keyword -> raw rest of the chunk, read from the chunk
    layout of the PNG specification (not through Pillow): where Matplotlib would write its version."""
    import struct

    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    found, pos = {}, 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind in (b"tEXt", b"zTXt", b"iTXt"):
            keyword, _, rest = body.partition(b"\0")
            found[keyword.decode("latin-1")] = rest
        pos += 12 + length
    return found


def assert_pixels_only(path) -> None:
    """A figure PNG carries no text chunk: no Software, no Matplotlib version (equal figures are equal files)."""
    chunks = png_text_chunks(path)
    assert not chunks, f"{path} carries metadata {chunks}"
    assert b"matplotlib" not in open(path, "rb").read().lower(), f"{path} names Matplotlib"
