"""reconstruction.demo_generator and the block A commands: GLO training (fits, resumes exactly), sdf_targets,
train_generator, mean_style through the CLI."""
import json

import numpy as np
import pandas as pd
import pytest
import torch
import trimesh

from sketch3d.cli import main
from sketch3d.reconstruction import demo_generator as D
from sketch3d.reconstruction import generator as G

TINY = dict(z_dim=8, style_dim=8, style_depth=2, volume_res=8, channels=4, network_capacity=1, fmap_max=4,
            mlp_hidden=8, mlp_layers=1)


def _grids(n=3, r=8):
    axis = np.linspace(-1, 1, r)
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    radius = np.linspace(0.3, 0.6, n)
    return np.stack([np.sqrt(x ** 2 + y ** 2 + z ** 2) - rr for rr in radius]).astype(np.float32)


def test_training_lowers_the_loss_and_keeps_latents_on_the_shell(tmp_path):
    settings = {"steps": 30, "batch": 3, "points": 128, "lr": 0.01, "lr_final": 1.0, "near_surface": 0.05,
                "log_every": 100}
    result = D.train_demo_generator(_grids(), settings, TINY, 0, tmp_path / "g.pt", tmp_path / "ck")
    assert np.mean(result["losses"][-5:]) < 0.5 * np.mean(result["losses"][:5])
    extra = torch.load(tmp_path / "g.pt", weights_only=True)["extra"]
    np.testing.assert_allclose(extra["latents"].norm(dim=1).numpy(), np.sqrt(8), rtol=1e-5)
    assert extra["demo"] and extra["objective"] == "GLO"
    G.load_generator(tmp_path / "g.pt")


def test_an_interrupted_training_resumes_exactly(tmp_path):
    settings = {"steps": 6, "batch": 2, "points": 64, "checkpoint_every": 2, "log_every": 100}
    full = D.train_demo_generator(_grids(), settings, TINY, 1, tmp_path / "a.pt", tmp_path / "ck_a")

    def stop(step, loss):
        if step == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        D.train_demo_generator(_grids(), settings, TINY, 1, tmp_path / "b.pt", tmp_path / "ck_b", progress=stop)
    resumed = D.train_demo_generator(_grids(), settings, TINY, 1, tmp_path / "b.pt", tmp_path / "ck_b")
    assert resumed["losses"] == full["losses"]
    a, b = torch.load(tmp_path / "a.pt", weights_only=True), torch.load(tmp_path / "b.pt", weights_only=True)
    for key in a["state_dict"]:
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), key


def test_bad_settings_and_data_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown reconstruction.demo_training"):
        D.train_demo_generator(_grids(), {"step": 3}, TINY, 0, tmp_path / "g.pt", tmp_path / "ck")
    with pytest.raises(ValueError, match=r"\[N, R, R, R\]"):
        D.train_demo_generator(np.zeros((2, 4, 4)), {}, TINY, 0, tmp_path / "g.pt", tmp_path / "ck")


def test_block_a_commands(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "meshes").mkdir()
    rows = []
    for i, extents in enumerate([(0.5, 0.7, 0.4), (0.3, 0.8, 0.3), (0.6, 0.4, 0.5)]):
        trimesh.creation.box(extents=extents).export(tmp_path / "meshes" / f"c{i}.obj")
        rows.append({"shape_id": f"c{i}", "category": "chair", "split": "train" if i < 2 else "test",
                     "mesh_path": f"meshes/c{i}.obj", "up_axis": "Y", "source": "test"})
    pd.DataFrame(rows).to_csv("shapes.csv", index=False)
    assert main(["sdf_targets", "--settings", json.dumps({"sdf_resolution": 8}), "--shapes", "shapes.csv",
                 "--splits", "train", "--out", "sdf.npz"]) == 0
    with np.load("sdf.npz") as data:
        assert list(data["ids"]) == ["c0", "c1"] and data["sdf"].shape == (2, 8, 8, 8)
        # per-shape scale (reconstruction.sdf_targets; its own tests check the values): largest side 1.6
        np.testing.assert_allclose(data["scale"], [1.6 / 0.7, 1.6 / 0.8])
    settings = {"seed": 0, "reconstruction": {"generator": {**TINY, "mean_samples": 20},
                                              "demo_training": {"steps": 3, "points": 64}}}
    assert main(["train_generator", "--settings", json.dumps(settings), "--sdf", "sdf.npz", "--out", "gen/g.pt",
                 "--checkpoints", "ck", "--curves", "gen/curves.csv"]) == 0
    assert len(pd.read_csv("gen/curves.csv")) == 3
    assert main(["mean_style", "--settings", json.dumps(settings), "--generator", "gen/g.pt", "--out", "mean.npz"]) == 0
    assert G.read_mean_style("mean.npz").shape == (1, 2, 8)
    assert main(["sdf_targets", "--settings", "{}", "--shapes", "shapes.csv", "--out", "x.npz"]) == 1


def test_one_sided_clamp_costs_nothing_beyond_delta_on_the_right_side_and_pulls_the_wrong_side():
    target = torch.tensor([0.5, 0.5, -0.5, -0.5, 0.05])
    predicted = torch.tensor([0.3, -0.2, -0.9, 0.4, 0.0], requires_grad=True)
    p, t = D._clamped(predicted, target, 0.1)
    error = (p - t).abs()
    # independent: far outside predicted at 0.3 (fine), at -0.2 (0.3 short of 0.1); far inside at -0.9 (fine),
    # at 0.4 (0.5 short of -0.1); near the surface the plain difference
    np.testing.assert_allclose(error.detach().numpy(), [0.0, 0.3, 0.0, 0.5, 0.05], atol=1e-6)
    error.sum().backward()
    np.testing.assert_allclose(predicted.grad.numpy(), [0.0, -1.0, 0.0, 1.0, -1.0])


def test_learning_rate_falls_by_a_cosine_to_lr_final(tmp_path, monkeypatch):
    seen = []
    step = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        seen.append([g["lr"] for g in self.param_groups])
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    settings = {"steps": 5, "batch": 2, "points": 32, "lr": 0.01, "lr_latent": 0.02, "lr_final": 0.1, "log_every": 100}
    D.train_demo_generator(_grids(), settings, TINY, 0, tmp_path / "g.pt", tmp_path / "ck")
    factors = [0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * i / 5)) for i in range(5)]
    np.testing.assert_allclose(seen, [[0.01 * f, 0.02 * f] for f in factors], rtol=1e-9)


@pytest.mark.parametrize("bad", [{"lr_final": 0.0}, {"lr_final": 1.5}, {"clamp": -0.1}])
def test_bad_schedule_and_clamp_are_refused(tmp_path, bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        D.train_demo_generator(_grids(), bad, TINY, 0, tmp_path / "g.pt", tmp_path / "ck")
