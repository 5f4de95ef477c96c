import numpy as np
import pytest
import scipy.linalg

from sketch3d import weights
from sketch3d.sketchydepth import fid

FILE = "pt_inception-2015-12-05-6726825d.pth"


def _fid_by_formula(a, b):
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 sqrt(S_a S_b)) from the samples, written out independently."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a.T), np.cov(b.T)
    root = scipy.linalg.sqrtm(s_a @ s_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * np.trace(root))


def test_frechet_distance_matches_the_formula_on_gaussians():
    rng = np.random.default_rng(0)
    a = rng.multivariate_normal([0, 0, 0], np.diag([1.0, 2.0, 0.5]), size=400)
    b = rng.multivariate_normal([1, -1, 0.5], [[1.0, 0.3, 0], [0.3, 1.0, 0], [0, 0, 3.0]], size=300)
    assert fid.frechet_distance(a, b) == pytest.approx(_fid_by_formula(a, b), rel=1e-9)
    # b = 2 a + c: S_b = 4 S_a, sqrt(S_a S_b) = 2 S_a, so FID = ||mu_a + c||^2 + Tr(S_a), no square root needed
    c = np.array([0.5, -2.0, 1.0])
    expected = float(((a.mean(0) + c) ** 2).sum() + np.trace(np.cov(a.T)))
    assert fid.frechet_distance(a, 2 * a + c) == pytest.approx(expected, rel=1e-6)
    assert fid.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_is_pytorch_fids_on_full_rank_sets():
    from sketch3d.compat.torchvision_ops import ensure_torchvision

    ensure_torchvision()
    from pytorch_fid.fid_score import calculate_frechet_distance

    rng = np.random.default_rng(1)
    a = rng.normal(size=(300, 64)) @ rng.normal(size=(64, 64))
    b = rng.normal(size=(250, 64)) * 1.5 + 0.3
    official = calculate_frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert fid.frechet_distance(a, b) == pytest.approx(official, rel=1e-9)


def test_frechet_distance_is_exact_for_sets_smaller_than_the_dims():
    # 5 samples in 300 dims (the rehearsal's few test images in 2048): b = 2 a + c, so sqrt(S_a S_b) = 2 S_a and
    # FID = ||mu_a + c||^2 + Tr(S_a). pytorch-fid's sqrtm of the singular product adds 1e-6 to the covariances
    # (3e-7 off here) and takes 15-20 s of CPU at 2048 dims.
    rng = np.random.default_rng(0)
    a, c = rng.normal(size=(5, 300)), rng.normal(size=300)
    expected = float(((a.mean(0) + c) ** 2).sum() + np.trace(np.cov(a.T)))
    assert fid.frechet_distance(a, 2 * a + c) == pytest.approx(expected, rel=1e-9)
    b = rng.normal(size=(7, 300))
    assert fid.frechet_distance(a, b) == pytest.approx(fid.frechet_distance(b, a), rel=1e-9)
    assert fid.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)


def test_too_few_images_and_bad_dims_are_refused():
    with pytest.raises(ValueError, match="at least 2"):
        fid.frechet_distance(np.zeros((1, 4)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="2048"):
        fid.build_inception("random", 100, 0)


@pytest.fixture(scope="module")
def net64():
    return fid.build_inception("random", 64, seed=3)


def test_random_network_is_seeded_and_flagged(net64):
    import torch

    again = fid.build_inception("random", 64, seed=3)
    other = fid.build_inception("random", 64, seed=4)
    same = [torch.equal(p, q) for p, q in zip(net64.model.parameters(), again.model.parameters())]
    differ = [torch.equal(p, q) for p, q in zip(net64.model.parameters(), other.model.parameters())]
    assert all(same) and not all(differ)
    assert net64.random and "NOT pretrained" in net64.provenance and net64.key == "random-seed3-dims64"


def test_random_features_separate_two_sets_from_two_halves_of_one(net64):
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, (32, 16, 16, 3), dtype=np.uint8)  # one distribution: colourful noise
    smooth = np.repeat(np.repeat(rng.integers(0, 120, (16, 4, 4, 3), dtype=np.uint8), 4, 1), 4, 2)  # another
    a = fid.activations(noise, net64, batch_size=16)
    b = fid.activations(smooth, net64, batch_size=16)
    assert a.shape == (32, 64) and a.std() > 1e-3  # the features do not collapse
    halves = fid.frechet_distance(a[:16], a[16:])
    apart = fid.frechet_distance(a[:16], b)
    assert apart > 10 * halves


def test_weights_file_missing_names_file_place_and_url(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    with pytest.raises(fid.FidWeightsError) as err:
        fid.build_inception(fid.TAG, 2048, 0)
    msg = str(err.value)
    assert FILE in msg and str(tmp_path / "th" / "hub" / "checkpoints") in msg
    assert f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{FILE}" in msg
    assert fid.SETTING in msg
    with pytest.raises(fid.FidWeightsError, match="does not exist"):
        fid.weights_file(str(tmp_path / "nowhere.pth"))


def test_local_file_is_loaded_without_download(tmp_path, monkeypatch):
    import pytorch_fid.inception as pi
    import torch

    state = fid._random_state()
    state = {k: (torch.full_like(v, 0.01) if v.is_floating_point() else v) for k, v in state.items()}
    hub = tmp_path / "th" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    torch.save(state, hub / FILE)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    original = pi.load_state_dict_from_url
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("tried to download"))
    assert fid.weights_file(fid.TAG) == hub / FILE
    net = fid.build_inception(fid.TAG, 64, 0)
    assert pi.load_state_dict_from_url is original  # pytorch-fid's loader is given back
    conv = net.model.blocks[0][0].conv.weight
    assert torch.all(conv == 0.01) and not net.random
    assert net.provenance.startswith(f"pytorch-fid Inception {FILE} (sha256:{weights.sha256(hub / FILE)})")
    assert weights.find(fid.NETWORK, fid.TAG).sha256_prefix is None  # the name's hex is not checked as a digest


def test_cached_activations_reused_by_content(tmp_path, net64):
    rng = np.random.default_rng(2)
    imgs = rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    first = fid.cached_activations(imgs, net64, tmp_path)
    path = tmp_path / net64.key / f"{fid.images_digest(imgs)}.npy"
    assert path.is_file() and np.array_equal(np.load(path), first)
    np.save(path, np.full_like(first, 7.0))  # a reused entry is read, not recomputed
    assert np.all(fid.cached_activations(imgs.copy(), net64, tmp_path) == 7.0)
    other = fid.cached_activations(imgs[::-1].copy(), net64, tmp_path)
    assert np.allclose(other, first[::-1]) and len(list((tmp_path / net64.key).iterdir())) == 2


def _kid_by_formula(x, y):
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, written out pair by pair (Binkowski et al. 2018, eq. 3)."""
    m, d = len(x), x.shape[1]
    k = lambda a, b: (a @ b / d + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_matches_a_direct_formula_on_the_same_subsets():
    rng = np.random.default_rng(5)
    gen, real = rng.normal(size=(9, 6)), rng.normal(0.5, 1.2, size=(7, 6))
    mean, std, m = fid.kernel_inception_distance(gen, real, subsets=4, subset_size=1000, seed=3)
    assert m == 7  # the smaller set's size where subset_size is larger (clean-fid)
    draws = np.random.RandomState(3)  # torch-fidelity's order: generated rows, then real rows, per subset
    values = []
    for _ in range(4):
        gi, ri = draws.choice(9, 7, replace=False), draws.choice(7, 7, replace=False)
        values.append(_kid_by_formula(gen[gi], real[ri]))
    assert (mean, std) == pytest.approx((np.mean(values), np.std(values)), rel=1e-9)
    # one subset of all rows: no sampling left, the formula itself
    assert fid.kernel_inception_distance(gen[:5], real[:5], 1, 5, 0)[0] == pytest.approx(
        _kid_by_formula(gen[:5], real[:5]), rel=1e-9)
    with pytest.raises(ValueError, match="at least 2"):
        fid.kernel_inception_distance(gen[:1], real, 1, 10, 0)


def test_bootstrap_fid_is_the_quantiles_of_paired_resamples():
    rng = np.random.default_rng(6)
    gen, real = rng.normal(size=(12, 5)), rng.normal(0.3, 1.0, size=(12, 5))
    got = fid.bootstrap_fid(gen, real, 30, 0.8, fid.bootstrap_rng(7, "all"))
    draws = fid.bootstrap_rng(7, "all")
    values = []
    for _ in range(30):
        idx = draws.integers(0, 12, 12)
        values.append(_fid_by_formula(gen[idx], real[idx]))  # the same rows of both sets: paired
    values, point = np.array(values), _fid_by_formula(gen, real)
    assert got["fid"] == pytest.approx(point, rel=1e-9)
    assert got["percentile"] == pytest.approx(list(np.quantile(values, [0.1, 0.9])), rel=1e-6)
    assert got["shift"] == pytest.approx(values.mean() - point, rel=1e-6)
    centred = values - values.mean() + point
    assert got["interval"] == pytest.approx(list(np.quantile(centred, [0.1, 0.9])), rel=1e-6)
    assert got["interval"][0] < point < got["interval"][1]
    assert fid.bootstrap_fid(gen, real, 30, 0.8, fid.bootstrap_rng(7, "all")) == got  # seeded
    assert fid.bootstrap_fid(gen, real, 30, 0.8, fid.bootstrap_rng(7, "fb")) != got  # a stream per group
    with pytest.raises(ValueError, match="paired"):
        fid.bootstrap_fid(gen, real[:5], 3, 0.9, fid.bootstrap_rng(0, "all"))


@pytest.mark.parametrize("n", [4, 40])  # fewer samples than dims (singular values), more (eigendecompositions)
def test_frechet_distance_tensor_is_the_numpy_one(n):
    import torch

    rng = np.random.default_rng(n)
    a, b = rng.normal(size=(n, 12)), rng.normal(0.2, 1.3, size=(n + 3, 12))
    got = fid.frechet_distance_tensor(torch.from_numpy(a), torch.from_numpy(b)).item()
    assert got == pytest.approx(fid.frechet_distance(a, b), rel=1e-9)


def test_kid_is_torch_fidelitys_and_clean_fids():
    """Against the official code's outputs (tests/fixtures/official/toshas_torch-fidelity): the same subsets drawn
    in the same order from the same seed, so the same numbers."""
    from pathlib import Path

    ref = np.load(Path(__file__).parents[2] / "fixtures/official/toshas_torch-fidelity/kid_reference.npz")
    mean, std, m = fid.kernel_inception_distance(ref["gen"], ref["real"], int(ref["tf_subsets"]),
                                                 int(ref["tf_subset_size"]), int(ref["tf_seed"]))
    assert m == 25 and (mean, std) == pytest.approx((float(ref["tf_mean"]), float(ref["tf_std"])), rel=1e-12)
    mean, _, m = fid.kernel_inception_distance(ref["gen"], ref["real"], int(ref["cf_subsets"]), 1000, int(ref["cf_seed"]))
    assert m == 30 and mean == pytest.approx(float(ref["cf_kid"]), rel=1e-12)
