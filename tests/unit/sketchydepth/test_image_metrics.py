import json

import numpy as np
import pytest
from scipy.ndimage import uniform_filter

from sketch3d import DEMO_NOTICE
from sketch3d.sketchydepth import fid
from sketch3d.sketchydepth.image_metrics import MetricsInputError, image_metrics, ssim_scores
from sketch3d.sketchydepth.triplets import write_triplets

SETTINGS = {"profile": "demo", "seed": 5, "sketchydepth": {"fid": {"weights": "random", "dims": 64, "batch_size": 8}}}
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
    assert ssim_scores(a, b) == pytest.approx(by_hand, rel=1e-9)
    assert ssim_scores(a, a) == pytest.approx([1.0, 1.0])


def test_image_metrics_pairs_by_id_and_splits_fb_bo(tmp_path):
    real, gen = _sets(tmp_path)
    out = tmp_path / "m.json"
    result = image_metrics(SETTINGS, tmp_path / "real", tmp_path / "gen", out, "cpu", tmp_path / "cache")
    assert json.loads(out.read_text()) == result
    assert result["demo"] and result["notice"] == DEMO_NOTICE and "NOT pretrained" in result["fid_network"]
    assert result["n"] == {"all": 8, "fb": 4, "bo": 4}
    expected = [np.mean([_ssim_by_hand(r[..., c], g[..., c]) for c in range(3)]) for r, g in zip(real, gen)]
    assert result["ssim"] == pytest.approx(np.mean(expected), rel=1e-9)
    assert result["ssim_by_kind"]["fb"] == pytest.approx(np.mean(expected[0::2]), rel=1e-9)
    net = fid.build_inception("random", 64, 5)
    a_real, a_gen = fid.activations(real, net), fid.activations(gen, net)
    fb = np.array(KINDS) == "fb"
    assert result["fid"]["all"] == pytest.approx(fid.frechet_distance(a_gen, a_real), rel=1e-6)
    assert result["fid"]["fb"] == pytest.approx(fid.frechet_distance(a_gen[fb], a_real[fb]), rel=1e-6)
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
                                                                      "batch_size": 50}}}
    with pytest.raises(fid.FidWeightsError, match="pt_inception-2015-12-05-6726825d.pth"):
        image_metrics(paper, tmp_path / "no_real", tmp_path / "no_gen", tmp_path / "m.json")
    with pytest.raises(MetricsInputError, match="sketchydepth.fid"):
        image_metrics({"seed": 0}, tmp_path / "no_real", tmp_path / "no_gen", tmp_path / "m.json")


def test_image_metrics_command(tmp_path):
    from sketch3d.cli import main

    _sets(tmp_path, size=8)
    out = tmp_path / "m.json"
    assert main(["image_metrics", "--settings", json.dumps(SETTINGS), "--real", str(tmp_path / "real"),
                 "--generated", str(tmp_path / "gen"), "--out", str(out), "--cache", str(tmp_path / "c")]) == 0
    assert json.loads(out.read_text())["n"]["all"] == 8
