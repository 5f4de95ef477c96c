"""SDF MLPs (C.5): fitting lowers the loss on a sphere, close_enough by hand, the command's file, errors."""
import json

import numpy as np
import pytest
import torch

from sketch3d.cli import main
from sketch3d.netspace.sdf_mlps import (array_sampler, close_enough, fit_sdf_mlp, load_sdf_mlp, member_seed)

SETTINGS = {"hidden": 32, "steps": 40, "points": 500, "lr": 1e-3, "decay": 0.9, "decay_every": 10}


def _sphere(n=4000, seed=0):
    p = np.random.default_rng(seed).uniform(-1, 1, (n, 3)).astype(np.float32)
    return p, np.linalg.norm(p, axis=1) - 0.5


def test_a_few_steps_lower_the_loss_on_a_sphere():
    points, sdf = _sphere()
    history = []
    model = fit_sdf_mlp((points, sdf), SETTINGS, seed=0, history=history)
    assert len(history) == SETTINGS["steps"]
    assert np.mean(history[-5:]) < 0.5 * np.mean(history[:5])
    with torch.no_grad():
        fitted = torch.mean((model(torch.from_numpy(points)) - torch.from_numpy(sdf)) ** 2)
    assert fitted < 0.5 * history[0]
    again = fit_sdf_mlp((points, sdf), SETTINGS, seed=0)  # seeded: the same MLP
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), again.parameters()))


def test_close_enough_against_a_hand_count():
    target = torch.tensor([0.0, 0.1, -0.2, 0.3, 0.5])
    pred = torch.tensor([0.005, 0.13, -0.2, 0.29, 0.6])  # errors 0.005, 0.03, 0, 0.01(ish), 0.1
    assert close_enough(pred, target, tol=0.011) == pytest.approx(3 / 5)
    assert close_enough(pred, target, tol=0.05) == pytest.approx(4 / 5)
    assert close_enough(target, target) == 1.0
    with pytest.raises(ValueError, match="differ"):
        close_enough(pred[:3], target)


def test_sampler_draws_half_inside():
    points, sdf = _sphere()
    p, d = array_sampler(points, sdf)(1000, torch.Generator().manual_seed(0))
    assert p.shape == (1000, 3) and int((d < 0).sum()) == 500


def test_member_seed_depends_on_name_only():
    assert member_seed(0, "chair_003") == member_seed(0, "chair_003") != member_seed(0, "chair_004")
    assert member_seed(1, "chair_003") != member_seed(0, "chair_003")


def test_command_writes_a_loadable_mlp(tmp_path):
    points, sdf = _sphere(1000)
    np.savez(tmp_path / "chair_7.npz", points=points, sdf=sdf)
    settings = json.dumps({"seed": 5, "netspace": {"sdf_mlps": {**SETTINGS, "steps": 5}}})
    out = tmp_path / "mlps" / "chair_7.pt"
    assert main(["fit_sdf_mlp", "--settings", settings, "--samples", str(tmp_path / "chair_7.npz"),
                 "--out", str(out)]) == 0
    data = torch.load(out, weights_only=True)
    assert data["name"] == "chair_7" and data["seed"] == member_seed(5, "chair_7") and data["steps"] == 5
    assert 0.0 <= data["close_enough"] <= 1.0 and not any(str(tmp_path) in str(v) for v in data.values())
    model = load_sdf_mlp(out)
    assert model(torch.zeros(2, 3)).shape == (2,)


def test_bad_inputs_raise(tmp_path):
    points, sdf = _sphere(100)
    with pytest.raises(ValueError, match="lack steps"):
        fit_sdf_mlp((points, sdf), {k: v for k, v in SETTINGS.items() if k != "steps"}, 0)
    with pytest.raises(ValueError, match=r"points \[N, 3\]"):
        fit_sdf_mlp((points[:, :2], sdf), SETTINGS, 0)
    bad = sdf.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit_sdf_mlp((points, bad), SETTINGS, 0)
    np.savez(tmp_path / "x.npz", pts=points)
    settings = json.dumps({"seed": 0, "netspace": {"sdf_mlps": SETTINGS}})
    assert main(["fit_sdf_mlp", "--settings", settings, "--samples", str(tmp_path / "x.npz"),
                 "--out", str(tmp_path / "x.pt")]) == 1
    assert not (tmp_path / "x.pt").exists()
