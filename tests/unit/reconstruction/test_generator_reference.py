"""generator.compare_with_reference and `sketch3d check_generator`: the port against samples "the official code"
made from the same checkpoint. Here the checkpoint is a synthetic official-layout one (EMA and trained networks
differ) and the reference is made by evaluating its EMA networks with the noise off at the official
``get_voxel_coordinates`` points (their own order); wrong references fail, naming the likely causes."""
import json
import logging

import numpy as np
import pytest
import torch

from sketch3d.cli import main
from sketch3d.reconstruction import generator as G

TINY = dict(z_dim=8, style_dim=8, style_depth=2, volume_res=8, channels=4, network_capacity=1, fmap_max=4,
            mlp_hidden=8, mlp_layers=1)


def _tiny(seed):
    torch.manual_seed(seed)
    return G.SDFStyleGAN(G.GeneratorConfig(**TINY)).eval()


def _official_points(resolution):
    """The official ``get_voxel_coordinates`` (meshgrid 'xy', swapaxes(1, 2)): not x-slowest order."""
    t = np.linspace(-1, 1, resolution)
    p = np.swapaxes(np.stack(np.meshgrid(t, t, t)), 1, 2)
    return p.reshape(3, -1).T.astype(np.float32)


@pytest.fixture()
def checkpoint(tmp_path):
    ema, trained = _tiny(1), _tiny(2)
    state = {}
    for official, model in (("E", ema), ("", trained)):
        for key, value in model.state_dict().items():
            net, rest = key.split(".", 1)
            state[f"{net}{official}.{rest}"] = value
    path = tmp_path / "epoch=199.ckpt"
    torch.save({"state_dict": state, "hyper_parameters": {"lr_mlp": 0.1}, "epoch": 199}, path)
    return path, ema, trained


def _reference(model, path, noise_off=True, n=3, resolution=6):
    z = np.random.default_rng(0).standard_normal((n, model.config.z_dim)).astype(np.float32)
    points = _official_points(resolution)
    with torch.no_grad():
        if noise_off:
            for volume in model.G.noises():
                volume.zero_()
        styles = model.broadcast(model.map(torch.from_numpy(z)))
        sdf = model(styles, torch.from_numpy(points))[:, None, :]  # ME's raw [n, 1, N]
    np.savez(path, z=z, points=points, sdf=sdf.numpy(), ema=True)
    return path


def test_the_port_matches_a_reference_of_the_same_networks(checkpoint, tmp_path):
    path, ema, _ = checkpoint
    reference = _reference(_tiny(1), tmp_path / "official_samples.npz")
    loaded = G.load_generator(path)  # fixed noise, as the pipeline loads it: the check turns it off itself
    report = G.compare_with_reference(loaded, reference)
    assert report["passed"] and report["max_abs"] <= 1e-6
    assert report["samples"] == 3 and report["points"] == 216 and report["sign_agreement"] == 1.0
    assert report["tolerance"] == G.REFERENCE_TOLERANCE and report["max_abs_reference"] > 0
    assert torch.count_nonzero(loaded.G.noises()[0]) > 0  # the caller's generator is left as it was


def test_wrong_references_fail_naming_the_causes(checkpoint, tmp_path):
    path, _, trained = checkpoint
    loaded = G.load_generator(path)
    with_noise = G.compare_with_reference(loaded, _reference(_tiny(1), tmp_path / "noisy.npz", noise_off=False))
    other = G.compare_with_reference(loaded, _reference(_tiny(2), tmp_path / "trained.npz"))
    for report in (with_noise, other):
        assert not report["passed"] and report["max_abs"] > 1e-3
        assert "DIFFERS" in report["message"] and "use_noise = False" in report["message"]
    # the same reference passes against the networks it was made from
    assert G.compare_with_reference(G.load_generator(path, ema=False), tmp_path / "trained.npz")["passed"]


def test_malformed_references_are_refused_before_compute(checkpoint, tmp_path):
    loaded = G.load_generator(checkpoint[0])
    np.savez(tmp_path / "no_points.npz", z=np.zeros((2, 8), np.float32), sdf=np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match=r"lack \['points'\]"):
        G.compare_with_reference(loaded, tmp_path / "no_points.npz")
    np.savez(tmp_path / "bad_dim.npz", z=np.zeros((2, 16), np.float32), points=np.zeros((5, 3), np.float32),
             sdf=np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="z_dim is 8"):
        G.compare_with_reference(loaded, tmp_path / "bad_dim.npz")
    np.savez(tmp_path / "bad_shape.npz", z=np.zeros((2, 8), np.float32), points=np.zeros((5, 3), np.float32),
             sdf=np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match=r"expected z \[n, z_dim\]"):
        G.compare_with_reference(loaded, tmp_path / "bad_shape.npz")
    with pytest.raises(FileNotFoundError, match="REFERENCE_RECIPE"):
        G.compare_with_reference(loaded, tmp_path / "missing.npz")


def test_check_generator_command(checkpoint, tmp_path, caplog):
    path = checkpoint[0]
    good = _reference(_tiny(1), tmp_path / "official_samples.npz")
    bad = _reference(_tiny(1), tmp_path / "noisy.npz", noise_off=False)
    out = tmp_path / "report.json"
    assert main(["check_generator", "--checkpoint", str(path), "--reference", str(good), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["passed"] and report["checkpoint"] == "epoch=199.ckpt" and str(tmp_path) not in out.read_text()
    with caplog.at_level(logging.ERROR, logger="sketch3d"):
        rc = main(["check_generator", "--checkpoint", str(path), "--reference", str(bad), "--out", str(out)])
    assert rc == 1 and "DIFFERS" in caplog.text
    assert not json.loads(out.read_text())["passed"]  # the report of a failed check is kept for reading
    # the trained networks on an EMA reference: a clear failure too
    assert main(["check_generator", "--checkpoint", str(path), "--reference", str(good), "--networks", "trained"]) == 1
