"""Fetch registry items (``sources.yaml``) with verification, and extract archives safely.

``fetch`` never leaves a partial file at the destination: it streams into a
temporary file next to it, checks size and sha256 (or pins the sha256 on the first
download), and only then renames. When every URL fails it raises one
``DownloadError`` naming each URL with its error and the exact path where the file
can be placed by hand.
"""
from __future__ import annotations

import hashlib
import logging
import os
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from sketch3d.atomic import atomic_dir, atomic_path, write_text
from sketch3d.data.registry import Source

log = logging.getLogger(__name__)
_CHUNK = 1 << 20
STAMP = ".extracted_from.sha256"


class DownloadError(RuntimeError):
    """An item could not be obtained; the message says what was tried and how to place it by hand."""


class VerificationError(ValueError):
    """A file exists but does not match its registry entry (size or sha256)."""


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def expected_sha256(source: Source, data_dir: str | os.PathLike) -> str | None:
    """The hash a file must have: the registry's value, else the pin of an earlier download, else None."""
    if source.sha256:
        return source.sha256
    pin = source.pin_path(data_dir)
    if pin.is_file():
        token = pin.read_text().split()
        if token:
            return token[0].lower()
    return None


def pin_sha256(source: Source, data_dir: str | os.PathLike, digest: str) -> Path:
    """Record ``digest`` as the pinned hash of ``source`` (sha256sum format)."""
    pin = source.pin_path(data_dir)
    write_text(pin, f"{digest}  {source.filename}\n")
    log.info("pinned sha256 of %s to %s", source.name, pin)
    return pin


def verify(path: str | os.PathLike, source: Source, data_dir: str | os.PathLike) -> str:
    """Check ``path`` against the entry's size and sha256 (or pin); return its sha256.

    Raises VerificationError naming the file, the expected and actual values and the fix.
    """
    path = Path(path)
    if not path.is_file():
        raise VerificationError(f"{path} does not exist or is not a file ({source.name})")
    size = path.stat().st_size
    if source.size_bytes is not None and size != source.size_bytes:
        raise VerificationError(
            f"{path}: size {size} bytes, expected {source.size_bytes} for '{source.name}'; "
            f"the file is incomplete or a different version: delete it and download it again"
        )
    digest = sha256_file(path)
    want = expected_sha256(source, data_dir)
    if want is not None and digest != want:
        origin = "sources.yaml" if source.sha256 else f"the pin {source.pin_path(data_dir)}"
        raise VerificationError(
            f"{path}: sha256 {digest} does not match {want} from {origin} for '{source.name}'; "
            f"delete the file and download it again (or, if you knowingly replaced it, delete the pin)"
        )
    return digest


def _sanity(tmp: Path, source: Source) -> None:
    # A server error page can arrive with status 200: never pin a "zip" that is not one.
    if source.filename and source.filename.lower().endswith(".zip") and not zipfile.is_zipfile(tmp):
        raise VerificationError("the downloaded content is not a zip archive (an error page?)")


def _download(url: str, tmp: Path, timeout: float) -> tuple[int, str]:
    """Stream ``url`` into ``tmp``; return (bytes, sha256)."""
    digest = hashlib.sha256()
    written = 0
    with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:
        length = resp.headers.get("Content-Length") if hasattr(resp, "headers") else None
        while chunk := resp.read(_CHUNK):
            out.write(chunk)
            digest.update(chunk)
            written += len(chunk)
    if length is not None and length.isdigit() and int(length) != written:
        raise OSError(f"connection closed after {written} of {length} bytes")
    return written, digest.hexdigest()


def manual_instructions(source: Source, data_dir: str | os.PathLike) -> str:
    """How to place the item by hand: exact path plus the registry's instructions."""
    return f"Place it by hand at: {source.path(data_dir)}\nHow to get it: {source.how_to_get}"


def fetch(source: Source, data_dir: str | os.PathLike, timeout: float = 30) -> Path:
    """Return the verified local file of ``source``, downloading it if needed.

    A file already at its destination that verifies is returned at once (and its
    sha256 pinned if nothing was pinned yet). Otherwise each URL is tried in order.
    """
    data_dir = Path(data_dir)
    if not source.filename:
        raise DownloadError(
            f"'{source.name}' is a folder the pipeline cannot download.\n{manual_instructions(source, data_dir)}"
        )
    dest = source.path(data_dir)
    problems: list[str] = []
    if dest.exists():
        try:
            digest = verify(dest, source, data_dir)
            if expected_sha256(source, data_dir) is None:
                pin_sha256(source, data_dir, digest)
            return dest
        except VerificationError as err:
            problems.append(f"existing file rejected: {err}")
    for url in source.urls:
        try:
            with atomic_path(dest) as tmp:
                size, digest = _download(url, tmp, timeout)
                if source.size_bytes is not None and size != source.size_bytes:
                    raise VerificationError(f"got {size} bytes, expected {source.size_bytes}")
                want = expected_sha256(source, data_dir)
                if want is not None and digest != want:
                    raise VerificationError(f"sha256 {digest} does not match expected {want}")
                _sanity(tmp, source)
            if want is None:
                pin_sha256(source, data_dir, digest)
            log.info("downloaded %s from %s to %s", source.name, url, dest)
            return dest
        except Exception as err:  # every failure is reported together below
            problems.append(f"{url}: {type(err).__name__}: {err}")
    tried = "\n".join(f"  - {p}" for p in problems) or "  (no URL is listed for this item)"
    raise DownloadError(
        f"could not obtain '{source.name}' ({source.filename}). Tried:\n{tried}\n"
        f"{manual_instructions(source, data_dir)}"
    )


def _member_ok(name: str) -> bool:
    p = PurePosixPath(name.replace("\\", "/"))
    return not (p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]))


def extract_zip(archive: str | os.PathLike, dest_dir: str | os.PathLike, force: bool = False) -> Path:
    """Extract ``archive`` into ``dest_dir`` atomically; refuse members that escape it.

    A stamp file holding the archive's sha256 is written inside ``dest_dir``; if it
    matches, extraction is skipped unless ``force``. Returns ``dest_dir``.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    if not zipfile.is_zipfile(archive):
        raise ValueError(f"{archive} is not a zip archive; delete it and download it again")
    digest = sha256_file(archive)
    stamp = dest_dir / STAMP
    if not force and stamp.is_file() and stamp.read_text().strip() == digest:
        return dest_dir
    with zipfile.ZipFile(archive) as zf:
        bad = [m for m in zf.namelist() if not _member_ok(m)]
        if bad:
            raise ValueError(
                f"{archive}: refusing to extract members outside the target folder {bad[:5]}; "
                "the archive is malformed or malicious: get a clean copy"
            )
        with atomic_dir(dest_dir) as tmp:
            zf.extractall(tmp)
            (tmp / STAMP).write_text(digest + "\n")
    return dest_dir
