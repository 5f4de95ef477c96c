"""generator.compare_with_reference and `sketch3d check_generator` (the check a user runs on the real checkpoint
with samples made by the official code) on samples the OFFICIAL code made (tests/fixtures/official/
Zhengxinyang_SDF-StyleGAN/reference_train_chair.npz: its ``sdf_broadcast`` is REFERENCE_RECIPE's computation, a
mapped w broadcast over the blocks, noise off) from a checkpoint in the official layout holding the same seeded
values; wrong and malformed references fail, naming the likely causes."""
import json
import logging

import numpy as np
import pytest
import torch

from sketch3d.cli import main
from sketch3d.reconstruction import generator as G

from _official import reference, write_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.set_num_threads(1)
    return write_checkpoint("train_chair", tmp_path_factory.mktemp("ckpt") / "epoch=199.ckpt")


@pytest.fixture(scope="module")
def loaded(checkpoint):
    return G.load_generator(checkpoint)  # fixed noise, as the pipeline loads it: the check turns it off itself


def _samples(path, flip_axes=False):
    """The official samples in REFERENCE_RECIPE's format (one latent: keeps the test cheap)."""
    ref = reference("train_chair")
    points = ref["points"][:, ::-1] if flip_axes else ref["points"]
    np.savez(path, z=ref["z"][:1], points=np.ascontiguousarray(points), sdf=ref["sdf_broadcast"][:1, None, :], ema=True)
    return path


def test_the_port_matches_the_official_samples(loaded, tmp_path):
    report = G.compare_with_reference(loaded, _samples(tmp_path / "official_samples.npz"))
    assert report["passed"] and report["max_abs"] <= 1e-5
    assert report["samples"] == 1 and report["points"] == 256 and report["sign_agreement"] == 1.0
    assert report["tolerance"] == G.REFERENCE_TOLERANCE and report["max_abs_reference"] > 0
    assert torch.count_nonzero(loaded.G.noises()[0]) > 0  # the caller's generator is left as it was


def test_a_wrong_reference_fails_naming_the_causes(loaded, tmp_path):
    report = G.compare_with_reference(loaded, _samples(tmp_path / "xyz_swapped.npz", flip_axes=True))
    assert not report["passed"] and report["max_abs"] > 1e-2
    assert "DIFFERS" in report["message"] and "use_noise = False" in report["message"]


def test_malformed_references_are_refused_before_compute(loaded, tmp_path):
    np.savez(tmp_path / "no_points.npz", z=np.zeros((2, 512), np.float32), sdf=np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match=r"lack \['points'\]"):
        G.compare_with_reference(loaded, tmp_path / "no_points.npz")
    np.savez(tmp_path / "bad_dim.npz", z=np.zeros((2, 128), np.float32), points=np.zeros((5, 3), np.float32),
             sdf=np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="z_dim is 512"):
        G.compare_with_reference(loaded, tmp_path / "bad_dim.npz")
    np.savez(tmp_path / "bad_shape.npz", z=np.zeros((2, 512), np.float32), points=np.zeros((5, 3), np.float32),
             sdf=np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match=r"expected z \[n, z_dim\]"):
        G.compare_with_reference(loaded, tmp_path / "bad_shape.npz")
    with pytest.raises(FileNotFoundError, match="REFERENCE_RECIPE"):
        G.compare_with_reference(loaded, tmp_path / "missing.npz")


def test_check_generator_command(checkpoint, tmp_path, caplog):
    good = _samples(tmp_path / "official_samples.npz")
    bad = _samples(tmp_path / "xyz_swapped.npz", flip_axes=True)
    out = tmp_path / "report.json"
    assert main(["check_generator", "--checkpoint", str(checkpoint), "--reference", str(good), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["passed"] and report["checkpoint"] == "epoch=199.ckpt" and str(tmp_path) not in out.read_text()
    with caplog.at_level(logging.ERROR, logger="sketch3d"):
        rc = main(["check_generator", "--checkpoint", str(checkpoint), "--reference", str(bad), "--out", str(out)])
    assert rc == 1 and "DIFFERS" in caplog.text
    assert not json.loads(out.read_text())["passed"]  # the report of a failed check is kept for reading
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="sketch3d"):  # a checkpoint without the trained networks: named
        assert main(["check_generator", "--checkpoint", str(checkpoint), "--reference", str(good),
                     "--networks", "trained"]) == 1
    assert "no S/G/M networks" in caplog.text
