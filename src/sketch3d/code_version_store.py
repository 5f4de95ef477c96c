"""The commands' code versions (``sketch3d.codeversion``) kept on disk between workflow starts.

Every Snakemake start gives each rule the code version of its command, and deriving them parses the package's
modules: ~2.6 s of one CPU core a start, measured, where a dry run takes ~7. A test suite, a DVC chain (a Snakemake
start per stage) and a cluster (one per job) start it often, on the same code. A version is a function of the
package's files and the command's name only, so the versions found once are kept under a digest of every file of the
package (``<cache>/<digest>.json``): an edited file gives another digest, hence versions derived anew. The folder:
``SKETCH3D_CODE_CACHE``, default ``$XDG_CACHE_HOME/sketch3d/code_versions`` (``~/.cache``); an empty value turns the
store off, and a store that cannot be read or written is passed by (the versions are derived as without it).

Not imported by ``sketch3d.codeversion`` nor by any command, so that no job's own code version depends on it.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from sketch3d.codeversion import ROOT, command_version

__all__ = ["package_digest", "store_folder", "VersionStore"]

_FORMAT = "1"  # of a stored file: bump when what it holds, or how versions are derived, changes


def package_digest(root: Path = ROOT) -> str:
    """sha256 over every file of the package under ``root`` (relative path and bytes), bytecode left out."""
    digest = hashlib.sha256(f"{_FORMAT}\0".encode())
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                       and p.suffix != ".pyc"):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def store_folder() -> Path | None:
    where = os.environ.get("SKETCH3D_CODE_CACHE")
    if where is None:
        home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        where = str(Path(home) / "sketch3d" / "code_versions")
    return Path(where) if where else None


class VersionStore:
    """``version(command)``: the stored version of this package state, else ``command_version`` (then stored)."""

    def __init__(self, folder: Path | None = None, root: Path = ROOT) -> None:
        self.folder = store_folder() if folder is None else folder
        self.file = self.folder / f"{package_digest(root)}.json" if self.folder is not None else None
        self.versions: dict[str, str] = self._read()

    def _read(self) -> dict[str, str]:
        if self.file is None:
            return {}
        try:
            data = json.loads(self.file.read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def version(self, command: str) -> str:
        if command not in self.versions:
            self.versions[command] = command_version(command)
            self._write()
        return self.versions[command]

    def _write(self) -> None:
        if self.file is None:
            return
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            merged = {**self._read(), **self.versions}  # another process may have stored others meanwhile
            tmp = self.file.with_name(f"{self.file.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(merged, sort_keys=True))
            os.replace(tmp, self.file)
        except OSError:
            pass
