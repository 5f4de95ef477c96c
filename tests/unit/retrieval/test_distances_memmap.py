"""shape_mse on memory-mapped features: pages released chunk by chunk, values unchanged."""
from __future__ import annotations

import numpy as np

from sketch3d.retrieval import distances
from sketch3d.retrieval.distances import shape_mse


def _save(path, arr):
    np.save(path, arr)
    return np.load(path, mmap_mode="r")


def test_memmap_gives_bit_identical_results_and_releases_each_chunk(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    q = rng.standard_normal((5, 3000)).astype(np.float32)
    g = rng.standard_normal((12, 3000)).astype(np.float32)
    g[4:6] = g[0:2]  # exact ties: recomputed from the (re-mapped) rows after their release
    view_shape = np.repeat(np.arange(6), 2)
    ref = shape_mse(q, g, view_shape, 6, chunk_size=5)
    released = []
    real = distances._release_rows
    monkeypatch.setattr(distances, "_release_rows", lambda x, a, b: released.append((a, b)) or real(x, a, b))
    got = shape_mse(_save(tmp_path / "q.npy", q), _save(tmp_path / "g.npy", g), view_shape, 6, chunk_size=5)
    assert got.tobytes() == ref.tobytes()
    assert released == [(0, 5), (5, 10), (10, 15)]


def test_release_leaves_other_arrays_and_writable_maps_alone(tmp_path):
    a = np.arange(16 * 4096, dtype=np.float32).reshape(16, 4096)
    distances._release_rows(a, 0, 16)  # plain array: nothing to do
    np.save(tmp_path / "a.npy", a)
    for mode in ("r", "c", "r+"):
        m = np.load(tmp_path / "a.npy", mmap_mode=mode)
        before = np.array(m)
        if mode == "c":
            m[3] = -1.0  # a private copy-on-write change must survive (not released)
            before[3] = -1.0
        distances._release_rows(m, 0, 16)
        distances._release_rows(m[2:9], 1, 5)  # a view of a map
        assert np.array_equal(np.asarray(m), before)
