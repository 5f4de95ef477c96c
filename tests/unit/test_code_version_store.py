"""sketch3d.code_version_store: the versions it gives are codeversion's, kept by a digest of the package's files."""
from __future__ import annotations

import json
import shutil

import pytest

from sketch3d import code_version_store as store
from sketch3d import codeversion as cv
from sketch3d.command_line import commands

COMMANDS = ("retrieve", "extract_features", "train_member", "invert")


def test_stored_versions_are_codeversions_and_are_read_back(tmp_path, monkeypatch):
    first = store.VersionStore(tmp_path / "cache")
    assert {c: first.version(c) for c in COMMANDS} == {c: cv.command_version(c) for c in COMMANDS}
    [saved] = (tmp_path / "cache").glob("*.json")
    assert saved.stem == store.package_digest() and set(json.loads(saved.read_text())) == set(COMMANDS)
    # a second start reads them: deriving one would fail here
    monkeypatch.setattr(store, "command_version", lambda name: pytest.fail(f"{name} derived again"))
    second = store.VersionStore(tmp_path / "cache")
    assert {c: second.version(c) for c in COMMANDS} == first.versions


def test_an_edited_package_file_is_another_digest(tmp_path):
    root = tmp_path / "sketch3d"
    shutil.copytree(cv.ROOT, root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    before = store.package_digest(root)
    (root / "__pycache__").mkdir(exist_ok=True)
    (root / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"bytecode")  # bytecode does not count
    assert store.package_digest(root) == before
    data = root / "reference" / "table_4_8.csv"
    data.write_bytes(data.read_bytes() + b"\n")
    assert store.package_digest(root) != before
    data.write_bytes(data.read_bytes()[:-1])
    (root / "retrieval" / "pixel.py").write_text((root / "retrieval" / "pixel.py").read_text() + "\n# note\n")
    assert store.package_digest(root) != before


def test_off_or_unwritable_store_derives_the_versions(tmp_path, monkeypatch):
    monkeypatch.setenv("SKETCH3D_CODE_CACHE", "")
    assert store.store_folder() is None
    off = store.VersionStore()
    assert off.version("retrieve") == cv.command_version("retrieve")
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    unwritable = store.VersionStore(blocked / "cache")
    assert unwritable.version("retrieve") == cv.command_version("retrieve")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / f"{store.package_digest()}.json").write_text("{not json")
    assert store.VersionStore(corrupt).version("invert") == cv.command_version("invert")
    monkeypatch.setenv("SKETCH3D_CODE_CACHE", str(tmp_path / "env"))
    assert store.store_folder() == tmp_path / "env"


def test_every_command_has_a_version_through_the_store(tmp_path):
    s = store.VersionStore(tmp_path)
    assert all(len(s.version(name)) == 16 for name in commands())
