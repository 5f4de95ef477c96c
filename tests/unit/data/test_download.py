"""Tests for sketch3d.data.download: fetch over loopback HTTP and file://, verification, pins, zips."""
import functools
import hashlib
import http.server
import io
import threading
import zipfile

import pytest

from sketch3d.data.download import (
    STAMP, DownloadError, VerificationError, extract_zip, fetch, sha256_file, verify,
)
from sketch3d.data.registry import Source
from _helpers import _closed_port


def _zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _source(urls, sha=None, size=None, filename="data.zip") -> Source:
    return Source("thing", "dataset", tuple(urls), filename, size, sha, "downloads", "lic", "cite", "ask the authors")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """A loopback HTTP server serving tmp_path/www; yields (base_url, folder)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(_Quiet, directory=str(www))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", www
    httpd.shutdown()
    httpd.server_close()


def test_sha256_file(tmp_path):
    p = tmp_path / "f.bin"
    data = bytes(range(256)) * 5000
    p.write_bytes(data)
    assert sha256_file(p) == hashlib.sha256(data).hexdigest()


def test_fetch_tries_urls_in_order_and_pins(server, tmp_path):
    base, www = server
    payload = _zip_bytes({"a/b.svg": b"<svg/>"})
    (www / "data.zip").write_bytes(payload)
    data_dir = tmp_path / "data"
    src = _source([f"{base}/missing.zip", f"{base}/data.zip"])
    out = fetch(src, data_dir, timeout=5)
    assert out == data_dir / "downloads" / "data.zip"
    assert out.read_bytes() == payload
    pin = src.pin_path(data_dir).read_text().split()
    assert pin == [hashlib.sha256(payload).hexdigest(), "data.zip"]
    assert not [p for p in out.parent.iterdir() if p.name != "data.zip"]  # no temp files left
    # second call: the file is there and verifies against the pin; no network needed
    (www / "data.zip").unlink()
    assert fetch(src, data_dir, timeout=5) == out


def test_fetch_rejects_content_that_differs_from_the_pin(server, tmp_path):
    base, www = server
    data_dir = tmp_path / "data"
    (www / "data.zip").write_bytes(_zip_bytes({"x": b"1"}))
    src = _source([f"{base}/data.zip"])
    out = fetch(src, data_dir, timeout=5)
    out.write_bytes(_zip_bytes({"x": b"corrupted"}))  # local copy no longer matches the pin
    (www / "data.zip").write_bytes(_zip_bytes({"x": b"changed upstream"}))
    with pytest.raises(DownloadError) as info:
        fetch(src, data_dir, timeout=5)
    msg = str(info.value)
    assert "existing file rejected" in msg and "does not match" in msg
    assert f"Place it by hand at: {out}" in msg


def test_fetch_checks_registry_sha_and_size(server, tmp_path):
    base, www = server
    payload = _zip_bytes({"x": b"1"})
    (www / "data.zip").write_bytes(payload)
    good = hashlib.sha256(payload).hexdigest()
    ok = fetch(_source([f"{base}/data.zip"], sha=good, size=len(payload)), tmp_path / "d1", timeout=5)
    assert ok.is_file() and not (tmp_path / "d1" / "checksums").exists()  # pinned in yaml: no pin file
    with pytest.raises(DownloadError, match="does not match expected"):
        fetch(_source([f"{base}/data.zip"], sha="0" * 64), tmp_path / "d2", timeout=5)
    with pytest.raises(DownloadError, match=f"got {len(payload)} bytes, expected 3"):
        fetch(_source([f"{base}/data.zip"], size=3), tmp_path / "d3", timeout=5)
    assert not (tmp_path / "d2" / "downloads" / "data.zip").exists()


def test_fetch_never_pins_a_non_zip(server, tmp_path):
    base, www = server
    (www / "data.zip").write_bytes(b"<html>login page</html>")
    with pytest.raises(DownloadError, match="not a zip archive"):
        fetch(_source([f"{base}/data.zip"]), tmp_path / "d", timeout=5)
    assert not (tmp_path / "d" / "checksums").exists()


def test_fetch_failure_lists_every_url_and_the_manual_path(tmp_path):
    port = _closed_port()
    urls = [f"http://127.0.0.1:{port}/a.zip", (tmp_path / "nowhere.zip").as_uri()]
    src = _source(urls)
    with pytest.raises(DownloadError) as info:
        fetch(src, tmp_path / "data", timeout=2)
    msg = str(info.value)
    for u in urls:
        assert u in msg
    assert "Connection refused" in msg or "URLError" in msg
    assert str(tmp_path / "data" / "downloads" / "data.zip") in msg
    assert "ask the authors" in msg


def test_fetch_file_url_and_folder_item(tmp_path):
    payload = _zip_bytes({"k": b"v"})
    (tmp_path / "src.zip").write_bytes(payload)
    out = fetch(_source([(tmp_path / "src.zip").as_uri()]), tmp_path / "data")
    assert out.read_bytes() == payload
    folder = Source("shapes", "dataset", (), None, None, None, "Shapes", "l", "c", "request access")
    with pytest.raises(DownloadError, match="(?s)cannot download.*Place it by hand at: .*Shapes.*request access"):
        fetch(folder, tmp_path / "data")


def test_manual_placement_is_verified_and_pinned(tmp_path):
    data_dir = tmp_path / "data"
    src = _source([])
    dest = src.path(data_dir)
    dest.parent.mkdir(parents=True)
    dest.write_bytes(_zip_bytes({"x": b"1"}))
    assert fetch(src, data_dir) == dest
    assert src.pin_path(data_dir).read_text().split()[0] == sha256_file(dest)
    assert verify(dest, src, data_dir) == sha256_file(dest)
    dest.write_bytes(b"different")
    with pytest.raises(VerificationError, match="does not match"):
        verify(dest, src, data_dir)
    with pytest.raises(VerificationError, match="size 9 bytes, expected 4"):
        verify(dest, _source([], size=4), tmp_path / "other")


def test_extract_zip_atomic_and_stamped(tmp_path):
    archive = tmp_path / "a.zip"
    archive.write_bytes(_zip_bytes({"top/x.txt": b"1", "top/sub/y.txt": b"2"}))
    dest = tmp_path / "out"
    assert extract_zip(archive, dest) == dest
    assert (dest / "top" / "sub" / "y.txt").read_bytes() == b"2"
    assert (dest / STAMP).read_text().strip() == sha256_file(archive)
    (dest / "top" / "x.txt").write_bytes(b"edited")
    extract_zip(archive, dest)  # same archive: skipped
    assert (dest / "top" / "x.txt").read_bytes() == b"edited"
    extract_zip(archive, dest, force=True)
    assert (dest / "top" / "x.txt").read_bytes() == b"1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip", "out"]  # no temp folders left


@pytest.mark.parametrize("evil", ["../escape.txt", "/abs/path.txt", "a/../../escape.txt", "C:/win.txt"])
def test_extract_zip_refuses_traversal(tmp_path, evil):
    archive = tmp_path / "evil.zip"
    archive.write_bytes(_zip_bytes({"ok.txt": b"1", evil: b"2"}))
    with pytest.raises(ValueError, match="refusing to extract"):
        extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "escape.txt").exists()


def test_extract_zip_rejects_non_zip(tmp_path):
    p = tmp_path / "x.zip"
    p.write_bytes(b"nope")
    with pytest.raises(ValueError, match="not a zip archive"):
        extract_zip(p, tmp_path / "out")
