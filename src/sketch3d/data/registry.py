"""The registry of external inputs of the paper profile (``sources.yaml``).

Each :class:`Source` says where a dataset or weight file comes from (URLs tried in
order), where it must lie (``<data_dir>/<dest>/<filename>``), how it is verified
(size, sha256 or a pin written by the first download) and how a person gets it by
hand when no URL works.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import yaml

PACKAGE_DATA = ("data/sources.yaml",)  # the registry this module reads (see sketch3d.codeversion)
KINDS = ("dataset", "weights")
_FIELDS = ("name", "kind", "urls", "filename", "size_bytes", "sha256", "dest", "licence", "citation", "how_to_get")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[a-z0-9_]+$")
_SCHEMES = ("http", "https", "file")


class RegistryError(ValueError):
    """sources.yaml is malformed or names an unknown item."""


@dataclass(frozen=True)
class Source:
    """One external item (dataset archive, dataset folder or weight file)."""

    name: str
    kind: str
    urls: tuple[str, ...]
    filename: str | None
    size_bytes: int | None
    sha256: str | None
    dest: str
    licence: str
    citation: str
    how_to_get: str

    def path(self, data_dir: str | os.PathLike) -> Path:
        """Where the item must lie: ``<data_dir>/<dest>/<filename>`` (or the dest folder)."""
        base = Path(data_dir) / self.dest
        return base / self.filename if self.filename else base

    def pin_path(self, data_dir: str | os.PathLike) -> Path:
        """The file holding the sha256 pinned by the first download: ``<data_dir>/checksums/<name>.sha256``."""
        return Path(data_dir) / "checksums" / f"{self.name}.sha256"


def _fail(where: str, msg: str) -> None:
    raise RegistryError(f"{where}: {msg}; fix the entry in src/sketch3d/data/sources.yaml")


def _relative(value: str, where: str, key: str) -> None:
    p = PurePosixPath(value)
    if not value or p.is_absolute() or ".." in p.parts or "\\" in value:
        _fail(where, f"'{key}' must be a relative path inside data_dir without '..', got {value!r}")


def _parse_entry(entry: object, index: int, origin: str) -> Source:
    where = f"{origin} entry #{index}"
    if not isinstance(entry, dict):
        _fail(where, f"expected a mapping, got {type(entry).__name__}")
    where = f"{origin} entry '{entry.get('name', f'#{index}')}'"
    unknown = sorted(set(entry) - set(_FIELDS))
    missing = [k for k in _FIELDS if k not in entry]
    if unknown:
        _fail(where, f"unknown key(s) {unknown}; allowed {list(_FIELDS)}")
    if missing:
        _fail(where, f"missing key(s) {missing}")
    name, kind, urls = entry["name"], entry["kind"], entry["urls"]
    if not isinstance(name, str) or not _NAME.match(name):
        _fail(where, f"'name' must match [a-z0-9_]+, got {name!r}")
    if kind not in KINDS:
        _fail(where, f"'kind' must be one of {list(KINDS)}, got {kind!r}")
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        _fail(where, "'urls' must be a list of strings (possibly empty)")
    for url in urls:
        if urlparse(url).scheme not in _SCHEMES:
            _fail(where, f"url {url!r} has no supported scheme {list(_SCHEMES)}")
    filename = entry["filename"]
    if filename is not None and (not isinstance(filename, str) or "/" in filename or filename in ("", ".", "..")):
        _fail(where, f"'filename' must be a plain file name or null, got {filename!r}")
    if urls and filename is None:
        _fail(where, "an item with urls needs a 'filename'")
    size = entry["size_bytes"]
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size <= 0):
        _fail(where, f"'size_bytes' must be a positive integer or null, got {size!r}")
    sha = entry["sha256"]
    if sha is not None and (not isinstance(sha, str) or not _SHA256.match(sha)):
        _fail(where, f"'sha256' must be 64 lowercase hex digits or null, got {sha!r}")
    dest = entry["dest"]
    if not isinstance(dest, str):
        _fail(where, f"'dest' must be a string, got {dest!r}")
    _relative(dest, where, "dest")
    texts = {}
    for key in ("licence", "citation", "how_to_get"):
        value = entry[key]
        if not isinstance(value, str) or not value.strip():
            _fail(where, f"'{key}' must be a non-empty string")
        texts[key] = " ".join(value.split())
    return Source(name, kind, tuple(urls), filename, size, sha, dest, **texts)


def load_sources(path: str | os.PathLike | None = None) -> dict[str, Source]:
    """Read and validate ``sources.yaml`` (the packaged one by default); return {name: Source}."""
    if path is None:
        origin = "sketch3d/data/sources.yaml"
        text = resources.files("sketch3d.data").joinpath("sources.yaml").read_text()
    else:
        origin = str(path)
        text = Path(path).read_text()
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise RegistryError(f"{origin}: not valid YAML ({err})") from err
    if not isinstance(doc, dict) or not isinstance(doc.get("sources"), list):
        raise RegistryError(f"{origin}: expected a top-level key 'sources' holding a list of entries")
    out: dict[str, Source] = {}
    for i, entry in enumerate(doc["sources"]):
        src = _parse_entry(entry, i, origin)
        if src.name in out:
            raise RegistryError(f"{origin}: duplicate entry name '{src.name}'; names must be unique")
        out[src.name] = src
    return out


def get_source(name: str, sources: dict[str, Source] | None = None) -> Source:
    """The entry ``name``; a RegistryError lists the known names if it does not exist."""
    sources = load_sources() if sources is None else sources
    if name not in sources:
        raise RegistryError(f"no source named '{name}' in sources.yaml; known: {sorted(sources)}")
    return sources[name]


def stored_at(path: str | os.PathLike, sources: Iterable[Source], data_dir: str | os.PathLike,
              registry: str = "src/sketch3d/data/sources.yaml") -> Source:
    """The downloadable entry of ``sources`` whose file is ``path`` under ``data_dir`` (what a fetch rule's
    output names); a RegistryError lists the registered paths and the registry file if none is."""
    files = [s for s in sources if s.filename]
    wanted = Path(path).resolve()
    for source in files:
        if source.path(data_dir).resolve() == wanted:
            return source
    raise RegistryError(f"no registered download is stored at {path}; registered: "
                        f"{[str(s.path(data_dir)) for s in files]} ({registry})")
