"""pairwise_mse, shape_mse and reduce_over_views against brute-force loops and exact arithmetic."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from sketch3d.retrieval import distances
from sketch3d.retrieval.distances import exact_sq_dist, pairwise_mse, reduce_over_views, shape_mse
from sketch3d.retrieval.metrics import ranking


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


# ----------------------------------------------------------------------------- CPU-independent ties


def _rational_ssd(q: np.ndarray, g: np.ndarray) -> list[list[Fraction]]:
    """Exact sums of squared differences, in rational arithmetic."""
    qf = [[Fraction(float(x)) for x in row] for row in q]
    gf = [[Fraction(float(x)) for x in row] for row in g]
    return [[sum((a - b) ** 2 for a, b in zip(qr, gr)) for gr in gf] for qr in qf]


def _rational_ranking(ssd: list[list[Fraction]]) -> list[list[int]]:
    return [sorted(range(len(row)), key=lambda j, r=row: (r[j], j)) for row in ssd]


def test_exact_sq_dist_against_rational_arithmetic():
    rng = np.random.default_rng(4)
    # float32 in [1, 2): differences, squares and every partial sum are exact in float64
    q = rng.uniform(1, 2, size=64).astype(np.float32)
    g = rng.uniform(1, 2, size=(5, 64)).astype(np.float32)
    exact = _rational_ssd(q[None], g)[0]
    assert exact_sq_dist(q, g).tolist() == [float(v) for v in exact]
    # float16 features over a wide range: within the stated error
    q = rng.normal(0, 3, size=301).astype(np.float16)
    g = rng.normal(0, 3, size=(4, 301)).astype(np.float16)
    got = exact_sq_dist(q, g)
    for value, ref in zip(got, _rational_ssd(q[None], g)[0]):
        assert abs(Fraction(float(value)) - ref) <= (np.log2(301) + 3) * 2.0**-53 * ref


def _tie_data():
    """Queries and a gallery full of exact and near ties (float32, exact in float64 sums)."""
    rng = np.random.default_rng(5)
    d = 64
    q = rng.uniform(1, 1.9, size=(3, d)).astype(np.float32)
    q[:, 1::2] = q[:, 0::2]  # equal pairs: swapping a gallery row within pairs keeps every distance
    g = rng.uniform(1, 1.9, size=(30, d)).astype(np.float32)
    g[7] = g[2]
    g[19] = g[2]  # triplicate
    swap = np.arange(d).reshape(-1, 2)[:, ::-1].ravel()
    g[11] = g[4][swap]  # different row, same distances
    ulp = np.float32(2.0**-23)
    g[5, 10] = q[0, 10] + 3 * ulp  # near ties for query 0: differences 3, 2, 4 ulp at one feature
    g[23] = g[5]
    g[23, 10] = q[0, 10] + 2 * ulp
    g[26] = g[5]
    g[26, 10] = q[0, 10] + 4 * ulp
    return q, g


def _noisy_blas(monkeypatch, seed: int, scale: float = 0.5):
    """Emulate another CPU's BLAS: every entry off by up to ``scale`` times the stated error bound."""
    real = distances._blas_ssd
    rng = np.random.default_rng(seed)

    def noisy(queries, gallery, chunk_size):
        ssd, q_norm, g_norm = real(queries, gallery, chunk_size)
        bound = distances._bound_coeff(queries.shape[1]) * (q_norm[:, None] + g_norm[None, :])
        ssd = np.maximum(ssd + scale * rng.uniform(-1, 1, ssd.shape) * bound, 0.0)
        return ssd, q_norm, g_norm

    monkeypatch.setattr(distances, "_blas_ssd", noisy)


@pytest.mark.parametrize("seed", [None, 0, 1, 2, 3])
def test_ties_follow_exact_values_whatever_the_blas_rounding(monkeypatch, seed):
    q, g = _tie_data()
    exact = _rational_ssd(q, g)
    if seed is not None:
        _noisy_blas(monkeypatch, seed)
    got = pairwise_mse(q, g, chunk_size=7)
    assert ranking(got).tolist() == _rational_ranking(exact)
    # every entry near another one holds its exact value (exactly representable here; D = 2^6)
    for j in (2, 7, 19, 4, 11):
        assert got[0, j] == float(exact[0][j]) / 64
    assert got[0, 2] == got[0, 7] == got[0, 19] and got[1, 4] == got[1, 11]
    assert got[0, 23] < got[0, 5] < got[0, 26]


def test_plain_blas_values_let_the_rounding_decide(monkeypatch):
    """The same emulated rounding, without the recomputation, does reorder ties (the test above has teeth)."""
    q, g = _tie_data()
    orders = set()
    for seed in range(4):
        with monkeypatch.context() as m:
            _noisy_blas(m, seed)
            orders.add(ranking(pairwise_mse(q, g, exact_ties=False)).tobytes())
    assert len(orders) > 1


@pytest.mark.parametrize("how", ["min", "mean"])
@pytest.mark.parametrize("seed", [None, 0, 1])
def test_shape_mse_ranking_is_blas_independent(monkeypatch, how, seed):
    q, g = _tie_data()
    view_shape = np.arange(30) % 10  # 10 shapes x 3 views
    g[[2, 12, 22]] = g[[5, 15, 25]]  # shape 2 is a copy of shape 5: tied under min and mean
    if how == "min":
        exact = _rational_ssd(q, g)
        reference = [[min(row[j] for j in np.flatnonzero(view_shape == s)) for s in range(10)] for row in exact]
        brute = reduce_over_views(_brute(q, g), view_shape, 10, "min")
    else:  # the distance to the shape's mean feature (its float64 value, checked in the next test)
        means = distances.view_mean_features(g, view_shape, 10)
        reference = _rational_ssd(q, means)
        brute = _brute(q, _brute_view_means(g, view_shape, 10))
    if seed is not None:
        _noisy_blas(monkeypatch, seed)
    got = shape_mse(q, g, view_shape, 10, how=how, chunk_size=4)
    assert (got[:, 2] == got[:, 5]).all()
    np.testing.assert_allclose(got, brute, rtol=1e-10)  # emulated BLAS noise: within the error bound
    assert ranking(got).tolist() == _rational_ranking(reference)
    monkeypatch.undo()
    assert ranking(got).tolist() == ranking(shape_mse(q, g, view_shape, 10, how=how)).tolist()


def _brute_view_means(g: np.ndarray, view_shape: np.ndarray, n_shapes: int) -> np.ndarray:
    return np.stack([g[view_shape == s].astype(np.float64).mean(axis=0) for s in range(n_shapes)])


def test_avg_over_views_is_the_distance_to_the_mean_feature():
    """Thesis "avg" (Table 4.3, B.5; B.4: "averaging features from all views"): one MSE between the query and the
    mean of the shape's view features, against a brute-force loop; it is not the mean of the view distances."""
    rng = np.random.default_rng(11)
    q = rng.normal(size=(5, 40)).astype(np.float32)
    g = rng.normal(size=(11, 40)).astype(np.float32)
    view_shape = np.array([2, 0, 1, 2, 0, 3, 1, 2, 3, 0, 1])  # unequal view counts, interleaved rows
    got = shape_mse(q, g, view_shape, 4, how="mean", chunk_size=3)
    for i in range(5):
        for s in range(4):
            mean_feature = np.mean([g[j].astype(np.float64) for j in range(11) if view_shape[j] == s], axis=0)
            assert got[i, s] == pytest.approx(np.mean((q[i].astype(np.float64) - mean_feature) ** 2), rel=1e-12)
    np.testing.assert_allclose(distances.view_mean_features(g, view_shape, 4), _brute_view_means(g, view_shape, 4),
                               rtol=1e-15)
    # the mean of the per-view distances is larger by the views' spread around their mean (ranks can differ)
    mean_of_distances = reduce_over_views(_brute(q, g), view_shape, 4, "mean")
    assert (mean_of_distances > got + 1e-3).all()
    with pytest.raises(ValueError, match="no gallery views"):
        shape_mse(q, g, np.minimum(view_shape, 2), 4, how="mean")
    with pytest.raises(ValueError, match="'median'"):
        shape_mse(q, g, view_shape, 4, how="median")


_KERNEL_SCRIPT = """
import sys, numpy as np
from sketch3d.retrieval.distances import pairwise_mse, shape_mse
rng = np.random.default_rng(7)
q = rng.normal(0.0, 1.0, (6, 3000)).astype(np.float32)
g = rng.normal(0.0, 1.0, (60, 3000)).astype(np.float32)
g[[9, 33, 47]] = g[2]  # duplicates in different columns, so in different kernel paths
g[[21, 50]] = q[1]  # exact matches
d = pairwise_mse(q, g, chunk_size=16)
s = shape_mse(q, g, np.arange(60) % 12, 12, "mean")
ties = d[:, [2, 9, 33, 47, 21, 50]]
sys.stdout.write(np.argsort(d, 1, kind="stable").tobytes().hex() + np.argsort(s, 1, kind="stable").tobytes().hex()
                 + ties.tobytes().hex())
"""


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="OpenBLAS x86 core types")
def test_openblas_kernels_give_the_same_ranking():
    """Real BLAS kernels (numpy's OpenBLAS picks one per CPU; OPENBLAS_CORETYPE forces it)."""
    outputs = set()
    src = str(Path(distances.__file__).resolve().parents[2])  # the children import this same package
    for core in ("", "Prescott", "Core2", "Nehalem"):
        env = dict(os.environ, OPENBLAS_CORETYPE=core, OPENBLAS_NUM_THREADS="1" if core else "2",
                   PYTHONPATH=os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
        if not core:
            env.pop("OPENBLAS_CORETYPE")
        run = subprocess.run([sys.executable, "-c", _KERNEL_SCRIPT], env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        outputs.add(run.stdout)
    assert len(outputs) == 1


def test_exact_ties_keep_memory_bounds(tmp_path, monkeypatch):
    """Recomputed rows are read from a memory map in blocks, not upcast all at once."""
    rng = np.random.default_rng(8)
    g = rng.normal(size=(40, 500)).astype(np.float16)
    g[20:] = g[:20]  # every row duplicated: every entry is a near tie
    np.save(tmp_path / "g.npy", g)
    mm = np.load(tmp_path / "g.npy", mmap_mode="r")
    monkeypatch.setattr(distances, "_EXACT_BLOCK_BYTES", 8 * 500 * 3)  # three rows at a time
    q = rng.normal(size=(3, 500)).astype(np.float16)
    got = pairwise_mse(q, mm, chunk_size=8)
    np.testing.assert_array_equal(got[:, :20], got[:, 20:])
    np.testing.assert_allclose(got, _brute(q, g), rtol=1e-12)
