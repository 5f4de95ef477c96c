import json

import numpy as np
import pytest
from scipy.ndimage import uniform_filter

from sketch3d import DEMO_NOTICE
from sketch3d.sketchydepth import fid
from sketch3d.sketchydepth.image_metrics import MetricsInputError, depth_errors, image_metrics, ssim_scores
from sketch3d.sketchydepth.triplets import TripletError, write_depths, write_triplets

METRICS = {"ssim": "uniform7", "kid": {"subsets": 3, "subset_size": 1000, "degree": 3},
           "bootstrap": {"resamples": 20, "level": 0.9}}
SETTINGS = {"profile": "demo", "seed": 5, "sketchydepth": {"fid": {"weights": "random", "dims": 64, "batch_size": 8},
                                                          "metrics": METRICS}}
IDS = [f"t{i}" for i in range(8)]
KINDS = ["fb", "bo"] * 4


def _ssim_by_hand(x, y, win=7, k1=0.01, k2=0.03, data_range=255.0):
    """SSIM of one channel written out: uniform 7x7 windows, sample covariances, borders cropped, mean."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    n = win * win
    m = lambda a: uniform_filter(a, size=win)  # noqa: E731
    ux, uy = m(x), m(y)
    vx = (m(x * x) - ux * ux) * n / (n - 1)
    vy = (m(y * y) - uy * uy) * n / (n - 1)
    cxy = (m(x * y) - ux * uy) * n / (n - 1)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * cxy + c2)) / ((ux ** 2 + uy ** 2 + c1) * (vx + vy + c2))
    pad = (win - 1) // 2
    return s[pad:-pad, pad:-pad].mean()


def _sets(tmp_path, size=16):
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (8, size, size, 3), dtype=np.uint8)
    gen = np.clip(real.astype(int) + rng.integers(-60, 60, real.shape), 0, 255).astype(np.uint8)
    partial = np.zeros_like(real)
    write_triplets(tmp_path / "real", IDS, KINDS, partial, real)
    order = [3, 1, 0, 2, 7, 5, 4, 6]  # the generated set may list its triplets in another order
    write_triplets(tmp_path / "gen", [IDS[i] for i in order], [KINDS[i] for i in order], partial[order], gen[order])
    return real, gen


def test_ssim_matches_a_direct_formula():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (2, 12, 12, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 40, a.shape), 0, 255).astype(np.uint8)
    by_hand = [np.mean([_ssim_by_hand(a[i, ..., c], b[i, ..., c]) for c in range(3)]) for i in range(2)]
    assert ssim_scores(a, b, "uniform7") == pytest.approx(by_hand, rel=1e-9)
    assert ssim_scores(a, a, "uniform7") == pytest.approx([1.0, 1.0])


def test_default_ssim_is_wang2004s_gaussian_window():
    """The default: scikit-image's Gaussian setting (Wang et al. 2004: sigma 1.5, 11x11, population covariances),
    called here channel by channel with its own arguments, not through the module's settings."""
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, (2, 24, 24, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-50, 50, a.shape), 0, 255).astype(np.uint8)
    gauss = [np.mean([structural_similarity(a[i, ..., c], b[i, ..., c], data_range=255, gaussian_weights=True,
                                            sigma=1.5, use_sample_covariance=False) for c in range(3)])
             for i in range(2)]
    assert ssim_scores(a, b) == pytest.approx(gauss, rel=1e-12)
    assert not np.allclose(ssim_scores(a, b), ssim_scores(a, b, "uniform7"), rtol=1e-3)  # the window matters
    with pytest.raises(MetricsInputError, match="11x11 window.*uniform7"):
        ssim_scores(a[:, :8, :8], b[:, :8, :8])


def test_image_metrics_pairs_by_id_and_splits_fb_bo(tmp_path):
    real, gen = _sets(tmp_path)
    out = tmp_path / "m.json"
    result = image_metrics(SETTINGS, tmp_path / "real", tmp_path / "gen", out, "cpu", tmp_path / "cache")
    assert json.loads(out.read_text()) == result
    assert result["demo"] and result["notice"] == DEMO_NOTICE and "NOT pretrained" in result["fid_network"]
    assert result["n"] == {"all": 8, "fb": 4, "bo": 4}
    assert result["ssim_variant"] == "uniform7" and result["ssim_settings"]["win_size"] == 7
    expected = [np.mean([_ssim_by_hand(r[..., c], g[..., c]) for c in range(3)]) for r, g in zip(real, gen)]
    assert result["ssim"] == pytest.approx(np.mean(expected), rel=1e-9)
    assert result["ssim_by_kind"]["fb"] == pytest.approx(np.mean(expected[0::2]), rel=1e-9)
    net = fid.build_inception("random", 64, 5)
    a_real, a_gen = fid.activations(real, net), fid.activations(gen, net)
    fb = np.array(KINDS) == "fb"
    assert result["fid"]["all"] == pytest.approx(fid.frechet_distance(a_gen, a_real), rel=1e-6)
    assert result["fid"]["fb"] == pytest.approx(fid.frechet_distance(a_gen[fb], a_real[fb]), rel=1e-6)
    assert result["kid"]["bo"] == pytest.approx(fid.kernel_inception_distance(a_gen[~fb], a_real[~fb], 3, 1000, 5)[0],
                                                rel=1e-9)
    lo, hi = result["fid_interval"]["all"]
    assert lo < result["fid"]["all"] < hi and result["depth"] is None  # no depth sets given
    assert result["fid_bootstrap"]["all"]["shift"] > 0  # resamples repeat pairs: their FIDs are larger
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 1  # only the real images are cached
    again = tmp_path / "m2.json"
    image_metrics(SETTINGS, tmp_path / "real", tmp_path / "gen", again, "cpu", tmp_path / "cache")
    assert again.read_bytes() == out.read_bytes()  # same params, same bytes (the cached real activations reused)


def test_mismatched_sets_are_named(tmp_path):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    write_triplets(tmp_path / "real", ["a", "b", "c"], ["fb", "bo", "fb"], imgs, imgs)
    write_triplets(tmp_path / "gen", ["a", "b"], ["fb", "bo"], imgs[:2], imgs[:2])
    with pytest.raises(MetricsInputError, match="1 missing"):
        image_metrics(SETTINGS, tmp_path / "real", tmp_path / "gen", tmp_path / "m.json")
    small = rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    write_triplets(tmp_path / "small", ["a", "b", "c"], ["fb", "bo", "fb"], small, small)
    with pytest.raises(MetricsInputError, match=r"\[8, 8\].*\[16, 16\]"):
        image_metrics(SETTINGS, tmp_path / "real", tmp_path / "small", tmp_path / "m.json")
    assert not (tmp_path / "m.json").exists()


def test_missing_paper_weights_stop_before_reading(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    paper = {**SETTINGS, "profile": "paper", "sketchydepth": {"fid": {"weights": fid.TAG, "dims": 2048,
                                                                      "batch_size": 50},
                                                              "metrics": METRICS}}
    with pytest.raises(fid.FidWeightsError, match="pt_inception-2015-12-05-6726825d.pth"):
        image_metrics(paper, tmp_path / "no_real", tmp_path / "no_gen", tmp_path / "m.json")
    with pytest.raises(MetricsInputError, match="sketchydepth.fid"):
        image_metrics({"seed": 0}, tmp_path / "no_real", tmp_path / "no_gen", tmp_path / "m.json")


def test_image_metrics_command(tmp_path):
    from sketch3d.cli import main

    _sets(tmp_path, size=12)
    out = tmp_path / "m.json"
    assert main(["image_metrics", "--settings", json.dumps(SETTINGS), "--real", str(tmp_path / "real"),
                 "--generated", str(tmp_path / "gen"), "--out", str(out), "--cache", str(tmp_path / "c")]) == 0
    assert json.loads(out.read_text())["n"]["all"] == 8


def _depth_by_formula(pred, target):
    """AbsRel, delta < 1.25, RMSE of one 8-bit map against another, written out: the scale and shift from the
    normal equations (covariance over variance), pixels where the target is > 0."""
    p, g = pred.astype(np.float64).ravel() / 255, target.astype(np.float64).ravel() / 255
    keep = g > 0
    p, g = p[keep], g[keep]
    s = ((p - p.mean()) * (g - g.mean())).sum() / ((p - p.mean()) ** 2).sum()
    t = g.mean() - s * p.mean()
    q = np.maximum(s * p + t, 1 / 255)
    return (np.abs(q - g) / g).mean(), (np.maximum(q / g, g / q) < 1.25).mean(), np.sqrt(((q - g) ** 2).mean())


def test_depth_errors_match_a_direct_formula():
    rng = np.random.default_rng(3)
    g = rng.integers(0, 256, (20, 20)).astype(np.uint8)
    g[:3] = 0  # the farthest pixels: left out
    p = np.clip(0.4 * g + 90 + rng.normal(0, 25, g.shape), 0, 255).astype(np.uint8)
    got = depth_errors(p, g)
    assert [got["AbsRel"], got["delta1"], got["RMSE"]] == pytest.approx(_depth_by_formula(p, g), rel=1e-9)
    # an affine copy (scale and shift) of the target is perfect after the alignment
    exact = depth_errors((g // 2 + 100).astype(np.uint8), (g // 2 * 2).astype(np.uint8))
    assert exact["AbsRel"] == pytest.approx(0, abs=1e-9) and exact["delta1"] == 1.0
    assert np.isnan(depth_errors(p, np.zeros_like(g))["AbsRel"])  # a constant reference cannot be aligned to


def test_image_metrics_depth_quality(tmp_path):
    real, _ = _sets(tmp_path)
    rng = np.random.default_rng(4)
    ours = rng.integers(0, 256, (8, 16, 16), dtype=np.uint8)
    labels = np.clip(ours * 0.5 + rng.normal(0, 30, ours.shape) + 40, 0, 255).astype(np.uint8)
    midas = (255 - ours).astype(np.uint8)  # inverted: the alignment's scale turns negative, fits exactly
    write_depths(tmp_path / "gen_depth", IDS[::-1], ours[::-1])  # any order: joined by id
    write_depths(tmp_path / "labels", IDS, labels)
    write_depths(tmp_path / "midas", IDS, midas)
    result = image_metrics(SETTINGS, tmp_path / "real", tmp_path / "gen", tmp_path / "m.json",
                           generated_depth=tmp_path / "gen_depth", labels=tmp_path / "labels", midas=tmp_path / "midas")
    by_map = np.array([_depth_by_formula(o, t) for o, t in zip(ours, labels)])
    lab = result["depth"]["labels"]
    assert [lab["all"][k] for k in ("AbsRel", "delta1", "RMSE")] == pytest.approx(by_map.mean(0), rel=1e-9)
    assert lab["fb"]["AbsRel"] == pytest.approx(by_map[0::2, 0].mean(), rel=1e-9) and lab["all"]["n"] == 8
    assert result["depth"]["agreement"]["all"]["RMSE"] == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(MetricsInputError, match="needs both MiDaS sets"):
        image_metrics(SETTINGS, tmp_path / "real", tmp_path / "gen", tmp_path / "m.json",
                      generated_depth=tmp_path / "gen_depth", labels=tmp_path / "labels")
    write_depths(tmp_path / "few", IDS[:5], labels[:5])
    with pytest.raises(TripletError, match="no depth map for 3"):
        image_metrics(SETTINGS, tmp_path / "real", tmp_path / "gen", tmp_path / "m.json",
                      generated_depth=tmp_path / "gen_depth", labels=tmp_path / "few", midas=tmp_path / "midas")


def test_metrics_settings_are_checked(tmp_path):
    _sets(tmp_path)
    for bad, match in (({**METRICS, "ssim": "gauss"}, "wang2004"),
                       ({**METRICS, "bootstrap": {"resamples": 10, "level": 1.5}}, "level in"),
                       ({k: v for k, v in METRICS.items() if k != "kid"}, "sketchydepth.metrics")):
        settings = {**SETTINGS, "sketchydepth": {**SETTINGS["sketchydepth"], "metrics": bad}}
        with pytest.raises(MetricsInputError, match=match):
            image_metrics(settings, tmp_path / "real", tmp_path / "gen", tmp_path / "m.json")
