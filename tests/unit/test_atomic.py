import pytest

from sketch3d.atomic import atomic_dir, atomic_path


def test_atomic_path_renames_on_success(tmp_path):
    target = tmp_path / "sub" / "out.csv"
    with atomic_path(target) as tmp:
        assert tmp.suffix == ".csv" and tmp.parent == target.parent
        tmp.write_text("a")
        assert not target.exists()
    assert target.read_text() == "a"
    assert list(target.parent.iterdir()) == [target]


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.npy"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_atomic_dir_replaces_only_when_complete(tmp_path):
    target = tmp_path / "renders"
    with atomic_dir(target) as tmp:
        (tmp / "a.png").write_text("1")
    with pytest.raises(ValueError):
        with atomic_dir(target) as tmp:
            (tmp / "b.png").write_text("2")
            raise ValueError
    assert sorted(p.name for p in target.iterdir()) == ["a.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["renders"]


def test_stale_temporaries_of_a_killed_writer_are_removed(tmp_path):
    (tmp_path / ".out.abc.tmp.csv").write_text("x")
    (tmp_path / ".dir.xyz.tmp").mkdir()
    with atomic_path(tmp_path / "out.csv") as tmp:
        tmp.write_text("ok")
    with atomic_dir(tmp_path / "dir"):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "out.csv"]


def test_save_torch_bytes_do_not_depend_on_the_file_name(tmp_path):
    """torch names a saved archive's folder after the file it writes; through save_torch two names give one
    content, which loads back, and no temporary file is left beside it."""
    import torch

    from sketch3d.atomic import save_torch

    obj = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3), "step": 3}
    save_torch(obj, tmp_path / "a.pt")
    save_torch(obj, tmp_path / "some_other_name.pt")
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "some_other_name.pt").read_bytes()
    back = torch.load(tmp_path / "a.pt", weights_only=True)
    assert back["step"] == 3 and torch.equal(back["w"], obj["w"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt", "some_other_name.pt"]
    with pytest.raises(Exception):
        save_torch({"f": lambda: 0}, tmp_path / "bad.pt")  # a lambda cannot be pickled: nothing is written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt", "some_other_name.pt"]


def test_outputs_get_the_mode_of_plainly_created_files(tmp_path):
    """Temporary files and folders are private (0600 / 0700); what atomic writes leave must be readable as a
    plain open() or mkdir() would have left it (results shared on a cluster, by DVC), under the umask."""
    import os

    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "t.csv") as tmp:
            tmp.write_text("a")
        with atomic_dir(tmp_path / "d") as tmp:
            (tmp / "x.txt").write_text("b")
        (tmp_path / "plain.csv").write_text("a")
        (tmp_path / "plain").mkdir()
        os.umask(0o077)
        with atomic_path(tmp_path / "private.csv") as tmp:
            tmp.write_text("c")
    finally:
        os.umask(old)
    mode = lambda p: p.stat().st_mode & 0o777  # noqa: E731
    assert mode(tmp_path / "t.csv") == mode(tmp_path / "plain.csv") == 0o644
    assert mode(tmp_path / "d") == mode(tmp_path / "plain") == 0o755
    assert mode(tmp_path / "private.csv") == 0o600
