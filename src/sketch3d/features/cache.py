"""Per-image feature cache: one ``.npy`` per (image content, feature settings).

Entries live in ``<root>/<settings>/<hash[:2]>/<hash>.npy`` where ``hash`` is the
SHA-256 of the image file's bytes and ``settings`` combines the caller's key (the
backbone spec, the storage dtype and the code version of the feature computation)
with the image transform (box, translation, rotation: ``features.transforms``), so renaming or moving an image never re-embeds it and any
change of weights, layer, transform or of the code that prepares and embeds an image does.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np

from sketch3d.atomic import atomic_path

__all__ = ["FeatureCache", "cached_rows", "computation_version", "hash_bytes", "hash_file", "settings_key"]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def hash_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hash_file(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file's bytes."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


class FeatureCache:
    """Feature arrays keyed by image hash, for one spec key and image transform (its name, e.g. ``box129``)."""

    def __init__(self, root: Path, spec_key: str, transform: str) -> None:
        for what, value in (("spec_key", spec_key), ("transform", transform)):
            if not isinstance(value, str) or not re.fullmatch(r"[0-9A-Za-z_.-]+", value):
                raise ValueError(f"FeatureCache: {what} {value!r} must be a non-empty file-name-safe string")
        self.root = Path(root)
        self.spec_key = spec_key
        self.transform = transform
        self.settings = f"{spec_key}-{transform}"
        self.dir = self.root / self.settings

    def path(self, image_hash: str) -> Path:
        if not _HEX64.match(image_hash):
            raise ValueError(f"FeatureCache: {image_hash!r} is not a SHA-256 hex digest (use hash_file)")
        return self.dir / image_hash[:2] / f"{image_hash}.npy"

    def get(self, image_hash: str) -> np.ndarray | None:
        """The cached array, or None if absent (or unreadable, e.g. truncated by a crash elsewhere)."""
        p = self.path(image_hash)
        if not p.is_file():
            return None
        try:
            return np.load(p, allow_pickle=False)
        except (ValueError, OSError, EOFError):
            return None

    def __contains__(self, image_hash: str) -> bool:
        return self.path(image_hash).is_file()

    def put(self, image_hash: str, array: np.ndarray) -> Path:
        """Store ``array`` as given (the caller picks the dtype) atomically; returns its path."""
        p = self.path(image_hash)
        with atomic_path(p) as tmp:
            np.save(tmp, np.ascontiguousarray(array), allow_pickle=False)
        return p


def computation_version() -> str:
    """Code version of what turns an image file into a feature row: :mod:`sketch3d.features.extract` and all it
    imports (box fitting, the backbone, the torchvision shim); part of every cache key, so that cached features
    never outlive the code that computed them. Derived from the sources without importing them (no torch)."""
    from sketch3d.codeversion import code_version

    return code_version("sketch3d.features.extract")


def settings_key(spec, dtype: np.dtype, precision: str) -> str:
    """The cache's settings key of features of ``spec`` (a FeatureSpec) stored as ``dtype``, computed in
    ``precision``, by this code."""
    return f"{spec.key()}-{np.dtype(dtype).name}-{precision}-{computation_version()}"


def cached_rows(cache: FeatureCache, hashes: list[str], dim: int | None = None) -> np.ndarray | None:
    """The [N, D] features of the images ``hashes`` (in order) if every one is in ``cache`` with one common length
    (``dim`` when given), as they are stored; else None (the caller embeds what is missing)."""
    rows: list[np.ndarray] = []
    for h in hashes:
        row = cache.get(h)
        if row is None or (dim is not None and row.size != dim):
            return None
        if rows and (row.size != rows[0].size or row.dtype != rows[0].dtype):
            return None
        rows.append(row.reshape(-1))
    return np.stack(rows) if rows else None
