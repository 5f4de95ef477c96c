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
