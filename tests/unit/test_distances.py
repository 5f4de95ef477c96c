"""pairwise_mse and reduce_over_views against brute-force loops."""
from __future__ import annotations

import numpy as np
import pytest

from sketch3d.retrieval.distances import pairwise_mse, reduce_over_views


def _brute(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    out = np.empty((len(q), len(g)))
    for i in range(len(q)):
        for j in range(len(g)):
            diff = q[i].astype(np.float64) - g[j].astype(np.float64)
            out[i, j] = np.mean(diff * diff)
    return out


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    base = rng.normal(3.0, 1.0, size=(1, 2000))  # a common offset makes cancellation matter
    q = base + rng.normal(0, 0.5, size=(9, 2000))
    g = base + rng.normal(0, 0.5, size=(23, 2000))
    g[4] = q[2]  # an exact match: distance 0, not negative
    return q, g


def test_matches_brute_force(data):
    q, g = data
    got = pairwise_mse(q, g)
    assert got.dtype == np.float64 and got.shape == (9, 23)
    np.testing.assert_allclose(got, _brute(q, g), rtol=1e-5, atol=1e-12)
    assert got[2, 4] == pytest.approx(0.0, abs=1e-12) and (got >= 0).all()


@pytest.mark.parametrize("chunk", [1, 7, 23, 1000])
def test_chunk_size_does_not_change_result(data, chunk):
    q, g = data
    np.testing.assert_allclose(pairwise_mse(q, g, chunk_size=chunk), pairwise_mse(q, g, chunk_size=64), rtol=1e-12, atol=1e-14)


def test_float16_inputs(data):
    q, g = (x.astype(np.float16) for x in data)
    np.testing.assert_allclose(pairwise_mse(q, g, chunk_size=5), _brute(q, g), rtol=1e-5, atol=1e-9)


def test_memmap_gallery(tmp_path, data):
    q, g = data
    np.save(tmp_path / "g.npy", g.astype(np.float32))
    mm = np.load(tmp_path / "g.npy", mmap_mode="r")
    np.testing.assert_allclose(pairwise_mse(q, mm, chunk_size=4), _brute(q, g.astype(np.float32)), rtol=1e-5, atol=1e-10)


def test_shape_errors():
    with pytest.raises(ValueError, match="feature sizes differ"):
        pairwise_mse(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="chunk_size"):
        pairwise_mse(np.zeros((2, 3)), np.zeros((2, 3)), chunk_size=0)


def test_reduce_min_and_mean():
    dist = np.array([[1.0, 5.0, 2.0, 0.5, 3.0], [4.0, 0.0, 9.0, 6.0, 1.0]])
    view_shape = np.array([0, 1, 0, 2, 1])
    np.testing.assert_array_equal(reduce_over_views(dist, view_shape, 3), [[1.0, 3.0, 0.5], [4.0, 0.0, 6.0]])
    np.testing.assert_allclose(reduce_over_views(dist, view_shape, 3, "mean"), [[1.5, 4.0, 0.5], [6.5, 0.5, 6.0]])


def test_reduce_random_against_loop():
    rng = np.random.default_rng(3)
    view_shape = rng.permutation(np.repeat(np.arange(6), 5))
    dist = rng.random((4, 30))
    got = reduce_over_views(dist, view_shape, 6, "min")
    for s in range(6):
        np.testing.assert_array_equal(got[:, s], dist[:, view_shape == s].min(axis=1))


def test_reduce_errors():
    dist = np.zeros((1, 3))
    with pytest.raises(ValueError, match="no gallery views"):
        reduce_over_views(dist, np.array([0, 0, 2]), 3)
    with pytest.raises(ValueError, match="'median'"):
        reduce_over_views(dist, np.array([0, 1, 2]), 3, how="median")
    with pytest.raises(ValueError, match="view_shape has shape"):
        reduce_over_views(dist, np.array([0, 1]), 2)
