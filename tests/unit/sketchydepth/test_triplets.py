import numpy as np
import pytest

from sketch3d.sketchydepth.triplets import TripletError, read_depths, read_triplets, write_depths, write_triplets


def _data(n=3, s=8, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n, s, s, 3), dtype=np.uint8), rng.integers(0, 256, (n, s, s, 3), dtype=np.uint8),
            rng.integers(0, 256, (n, s, s), dtype=np.uint8))


def test_round_trip_joins_depth_by_id(tmp_path):
    p, i, d = _data()
    write_triplets(tmp_path / "t", ["a", "b", "c"], ["fb", "bo", "fb"], p, i)
    write_depths(tmp_path / "d", ["c", "a", "b"], d[[2, 0, 1]])
    t = read_triplets(tmp_path / "t", tmp_path / "d")
    assert t.ids == ["a", "b", "c"] and t.kinds == ["fb", "bo", "fb"]
    assert np.array_equal(t.partial, p) and np.array_equal(t.image, i) and np.array_equal(t.depth, d)


def test_missing_depth_and_size_mismatch_are_named(tmp_path):
    p, i, d = _data()
    write_triplets(tmp_path / "t", ["a", "b", "c"], ["fb", "bo", "fb"], p, i)
    write_depths(tmp_path / "d", ["a", "b"], d[:2])
    with pytest.raises(TripletError, match="no depth map for 1"):
        read_triplets(tmp_path / "t", tmp_path / "d")
    write_depths(tmp_path / "d2", ["a", "b", "c"], np.zeros((3, 4, 4), np.uint8))
    with pytest.raises(TripletError, match="depth maps are"):
        read_triplets(tmp_path / "t", tmp_path / "d2")
    with pytest.raises(TripletError, match="index.csv missing"):
        read_depths(tmp_path / "nothing")


def test_bad_input_rejected_before_writing(tmp_path):
    p, i, _ = _data()
    with pytest.raises(TripletError, match="kind"):
        write_triplets(tmp_path / "t", ["a", "b", "c"], ["fb", "xx", "fb"], p, i)
    with pytest.raises(TripletError, match="uint8"):
        write_triplets(tmp_path / "t", ["a", "b", "c"], ["fb"] * 3, p.astype(np.float32), i)
    assert not (tmp_path / "t").exists()
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "index.csv").write_text("triplet_id,kind,partial,image\na,fb,partial/a.png,image/a.png\n")
    with pytest.raises(TripletError, match="missing"):
        read_triplets(tmp_path / "c")
