"""The chapter's GPU rules run with their models and inputs on a device that is not the CPU.

PyTorch's ``meta`` device stands in for a GPU: a tensor created without the model's device lands on the CPU,
and mixing it with a meta tensor raises as mixing it with a CUDA one does. Each rule's own function runs here
end to end (label_depth, train_gan, generate, image_metrics, figure_depth_sketch), files in and files out.

Meta tensors have shapes but no values, so the few places where values must leave the device (each module's
``to_host``: depth maps, losses, generated images, Inception activations) are replaced by a stand-in that
checks the tensor is on the device and returns zeros of its shape and dtype. Everything before that copy runs
on the device; the numbers themselves are checked by the CPU tests of each module (and by
scripts/gpu_check.sh on a real GPU).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sketch3d.sketchydepth import fid, midas, training
from sketch3d.sketchydepth.triplets import read_depths, read_triplets, write_depths, write_triplets

DEVICE = "meta"
SIZE = 32  # the smallest U-Net (5 downs); the networks are the paper's with ngf/ndf 4
NUMPY = {torch.float32: np.float32, torch.float64: np.float64, torch.uint8: np.uint8}


@pytest.fixture
def on_device(monkeypatch):
    """Replace every ``to_host`` with a check that the tensor is on DEVICE; returns the calls' shapes."""
    calls = []

    def to_host(t):
        assert t.device.type == DEVICE, f"a {t.device} tensor reached the host copy; the computation left the device"
        calls.append(tuple(t.shape))
        return np.zeros(tuple(t.shape), NUMPY[t.dtype])

    for module in (midas, training, fid):
        monkeypatch.setattr(module, "to_host", to_host)
    return calls


def _settings(**gan):
    return {"profile": "paper", "seed": 0, "sketchydepth": {
        "labeller": {"encoder": "resnet18", "features": 16, "net_size": 64, "batch_size": 2},
        "gan": {"ngf": 4, "ndf": 4, "n_layers_d": 3, "dropout": 0.5, "init_gain": 0.02, "lr": 0.0002, "beta1": 0.5,
                "beta2": 0.999, "l1_weight": 100, "n_epochs": 1, "n_epochs_decay": 0, "batch_size": 1, "flip": True,
                "test_eval": False, **gan},
        "fid": {"weights": "random", "dims": 64, "batch_size": 2},
        "metrics": {"ssim": "wang2004", "kid": {"subsets": 2, "subset_size": 1000, "degree": 3},
                    "bootstrap": {"resamples": 5, "level": 0.9}}}}


def _data(tmp_path, n=3, name="set"):
    rng = np.random.default_rng(len(name))
    ids = [f"{i:012d}" for i in range(1, n + 1)]
    kinds = ["fb", "bo"] * n
    img = rng.integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8)
    write_triplets(tmp_path / name, ids, kinds[:n], img[:, ::-1].copy(), img)
    write_depths(tmp_path / f"{name}_depth", ids, rng.integers(0, 256, (n, SIZE, SIZE), dtype=np.uint8))
    return tmp_path / name, tmp_path / f"{name}_depth"


@pytest.fixture
def trained(tmp_path):
    """A tiny sketchydepth model trained on the CPU (its final.pt loads onto any device)."""
    train, depth = _data(tmp_path, 2, "train")
    training.train_gan("sketchydepth", _settings(), train, depth, tmp_path / "model", "cpu")
    return tmp_path / "model" / training.FINAL


def test_label_depth_on_the_device(tmp_path, on_device):
    from sketch3d.sketchydepth.labeller import label_depth

    weights = tmp_path / "midas.pt"
    torch.save(midas.build_midas("resnet18", 16).state_dict(), weights)
    images, _ = _data(tmp_path, 3)
    counts = label_depth(_settings(), images, weights, tmp_path / "depth", DEVICE)
    assert counts["computed"] == 3 and on_device == [(2, SIZE, SIZE), (1, SIZE, SIZE)]  # batch_size 2
    assert read_depths(tmp_path / "depth")[1].shape == (3, SIZE, SIZE)


@pytest.mark.parametrize("model", ["sketchydepth", "baseline"])
def test_train_gan_on_the_device(tmp_path, on_device, model):
    train, depth = _data(tmp_path, 2, "train")
    val, val_depth = _data(tmp_path, 1, "val")
    row = training.train_gan(model, _settings(), train, depth, tmp_path / "out", DEVICE, val, val_depth)
    assert row["epoch"] == 1 and "val_l1_image" in row
    assert (tmp_path / "out" / training.FINAL).is_file() and (tmp_path / "out" / training.CURVES_PNG).is_file()
    assert len(on_device) == 2  # one host copy for the epoch's losses, one for the validation L1


def test_generate_on_the_device(tmp_path, trained, on_device):
    from sketch3d.sketchydepth.generation import generate

    test, _ = _data(tmp_path, 3, "test")
    n = generate("sketchydepth", trained, test, tmp_path / "gen" / "images", tmp_path / "gen" / "depth", _settings(),
                 DEVICE)
    assert n == 3 and sorted(set(on_device)) == [(1, SIZE, SIZE), (1, SIZE, SIZE, 3)]
    assert len(read_triplets(tmp_path / "gen" / "images")) == 3


def test_image_metrics_on_the_device(tmp_path, on_device):
    from sketch3d.sketchydepth.image_metrics import image_metrics

    real, _ = _data(tmp_path, 4, "test")
    fake, _ = _data(tmp_path, 4, "fake")
    rows = read_triplets(fake)
    write_triplets(tmp_path / "gen", read_triplets(real).ids, read_triplets(real).kinds, rows.partial, rows.image)
    result = image_metrics(_settings(), real, tmp_path / "gen", tmp_path / "metrics.json", DEVICE)
    # activations (2 batches of each set), then the bootstrap's FIDs of each group (all, fb, bo), all at once
    assert on_device == [(2, 64)] * 4 + [(5,)] * 3 and result["fid"]["all"] == pytest.approx(0.0)  # zeros stood in


def test_bootstrap_fid_on_the_device_with_more_images_than_dims(on_device):
    """The other branch of the bootstrap's FID (eigendecompositions, as the paper's 2816 images at 2048 dims)."""
    acts = np.random.default_rng(0).normal(size=(9, 4))
    fid.bootstrap_fid(acts, acts + 1, 3, 0.9, fid.bootstrap_rng(0, "all"), DEVICE)
    assert on_device == [(3,)]


def test_figure_depth_sketch_on_the_device(tmp_path, trained, on_device):
    from sketch3d.sketchydepth.figures import figure_depth_sketch

    images, depth = _data(tmp_path, 2, "ours")
    (tmp_path / "ours").rename(tmp_path / "images")
    (tmp_path / "ours_depth").rename(tmp_path / "depth")
    figure_depth_sketch(tmp_path, trained, _settings(), tmp_path / "fig.png", 2, 0, False, DEVICE)
    assert (tmp_path / "fig.png").is_file() and on_device == [(1, SIZE, SIZE, 3), (1, SIZE, SIZE)] * 2  # image, depth


def test_figure_diversity_on_the_device(tmp_path, trained, on_device):
    from sketch3d.sketchydepth.figures import figure_diversity

    test, _ = _data(tmp_path, 2, "test")
    settings = {**_settings(), "sketchydepth": {**_settings()["sketchydepth"], "perturbation": {
        "max_shift": 0.1, "copies": 2, "paper": 250, "generate": False}}}
    figure_diversity(test, trained, settings, tmp_path / "a1.png", 2, 0, False, DEVICE)
    # one fb example: the input and 2 translated copies, each its image then its depth (to_uint8 order)
    assert (tmp_path / "a1.png").is_file() and on_device == [(1, SIZE, SIZE, 3), (1, SIZE, SIZE)] * 3
