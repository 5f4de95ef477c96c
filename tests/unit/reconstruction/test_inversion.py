"""Inversion (thesis 4.3.2.2): each loss falls under a step, resuming changes nothing, the best-by-loss and
snapshot bookkeeping, the argmax reduction, and SDF supervision recovering a known style."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from _inversion_fakes import FakeClip, FakeGenerator, fake_mean_style, install, settings, write_sdf_targets

from sketch3d.reconstruction import inversion as inv


@pytest.fixture
def fakes(monkeypatch):
    install(monkeypatch)


def _sketch_of(gen, styles, size=32):
    """A target 'sketch': the fake line drawing of ``styles``, as uint8."""
    with torch.no_grad():
        img = inv.render_lines(inv.mesh_frame_sdf(gen, gen.volume(styles)), inv.view_for(settings(), 0),
                               {"reconstruction": {"render": {"size": size}}})
    return (img.numpy() * 255).round().astype(np.uint8)


def _target(gen, styles, res=8):
    return inv.Target("00", "shape", sdf=inv.styles_grid(gen, styles, res), sketches={0.0: _sketch_of(gen, styles)})


def _other_styles(gen, seed=5):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return gen.broadcast(gen.map(torch.randn(1, gen.style_dim, generator=g)))


@pytest.mark.parametrize("supervision", inv.SUPERVISIONS)
def test_one_step_lowers_each_loss(fakes, supervision):
    gen = FakeGenerator()
    target = _target(gen, _other_styles(gen))
    s = settings(lr=1e-3)
    mean = fake_mean_style(gen, 64)
    objective = inv.Objective(gen, target, supervision, s, inv.inversion_settings(s), mean, "cpu", FakeClip())
    result = inv.optimise(objective, mean, iterations=2, lr=1e-3, snapshot_every=1, seed=0)
    assert result.losses[1] < result.losses[0]


def test_l1_mean_term_adds_the_distance_to_the_mean(fakes):
    gen = FakeGenerator()
    target = _target(gen, _other_styles(gen))
    mean = fake_mean_style(gen, 64)
    styles = mean + 0.1
    plain = inv.Objective(gen, target, "sdf", settings(), inv.inversion_settings(settings()), mean, "cpu")
    reg = inv.Objective(gen, target, "sdf", settings(l1_mean=0.5), inv.inversion_settings(settings(l1_mean=0.5)),
                        mean, "cpu")
    g = torch.Generator()
    assert float((reg(styles, g) - plain(styles, g)).detach()) == pytest.approx(0.5 * 0.1, rel=1e-5)


def test_best_by_loss_and_snapshots():
    # loss_i = c_i + w . s: a constant gradient, so Adam moves every entry by exactly -lr per step (s_i = s0 - i lr)
    c = [5.0, 3.0, 4.0, 1.0, 2.0, 6.0, 1.5]
    calls = []

    def objective(styles, gen):
        calls.append(None)
        return c[len(calls) - 1] + (styles.sum() - styles.sum().detach())  # value c_i, gradient 1

    init = torch.zeros(1, 2, 3)
    r = inv.optimise(objective, init, iterations=len(c), lr=0.1, snapshot_every=3, seed=0)
    assert r.best_iteration == 3
    assert r.best_loss == pytest.approx(1.0)
    assert torch.allclose(r.best_styles, torch.full((1, 2, 3), -0.3), atol=1e-6)
    assert r.snapshot_iterations == [0, 3, 6]
    assert torch.allclose(r.snapshot_styles[:, 0, 0, 0], torch.tensor([0.0, -0.3, -0.6]), atol=1e-6)
    assert len(r.losses) == len(c)


@pytest.mark.parametrize("supervision,extra", [("sdf", {"sdf_points": 50}), ("clip", {"augment": 2})])
def test_resume_equals_an_uninterrupted_run(fakes, tmp_path, supervision, extra):
    gen = FakeGenerator()
    target = _target(gen, _other_styles(gen))
    s = settings(**extra)
    clip = FakeClip()
    whole = inv.invert(gen, target, supervision, s, None, tmp_path / "a", clip=clip)
    assert inv.invert(gen, target, supervision, s, None, tmp_path / "b", clip=clip, stop_after=3) is None
    assert inv.invert(gen, target, supervision, s, None, tmp_path / "b", clip=clip, stop_after=5) is None
    resumed = inv.invert(gen, target, supervision, s, None, tmp_path / "b", clip=clip)
    assert resumed.losses == whole.losses
    assert torch.equal(resumed.best_styles, whole.best_styles)
    assert torch.equal(resumed.snapshot_styles, whole.snapshot_styles)


def test_checkpoint_of_another_run_is_refused(fakes, tmp_path):
    gen = FakeGenerator()
    target = _target(gen, _other_styles(gen))
    inv.invert(gen, target, "sdf", settings(), None, tmp_path, stop_after=2)
    state = next(tmp_path.glob("*/" + inv.CHECKPOINT))
    blob = torch.load(state, weights_only=True)
    blob["fingerprint"] = "other"
    torch.save(blob, state)
    with pytest.raises(inv.InversionError, match="another run"):
        inv.invert(gen, target, "sdf", settings(), None, tmp_path)


def test_argmax_reduce_shape_and_values():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(2, 16, 3, 5, generator=g, requires_grad=True)
    r = inv.argmax_reduce(f, 4)
    assert r.shape == (2, 4, 3, 5) and r[0].numel() == f[0].numel() // 4
    a = f.detach().numpy()
    expect = np.empty((2, 4, 3, 5))
    for b in range(2):
        for k in range(4):
            for y in range(3):
                for x in range(5):
                    expect[b, k, y, x] = max(a[b, 4 * k + j, y, x] for j in range(4))
    np.testing.assert_array_equal(r.detach().numpy(), expect.astype(np.float32))
    r.sum().backward()  # the gradient reaches exactly the argmax of each group
    assert float(f.grad.sum()) == r.numel()
    assert f.grad.view(2, 4, 4, 3, 5).argmax(2).equal(f.detach().view(2, 4, 4, 3, 5).argmax(2))
    with pytest.raises(inv.InversionError, match="divisible"):
        inv.argmax_reduce(torch.zeros(1, 6, 2, 2), 4)


def test_sdf_supervision_recovers_a_known_style(fakes):
    gen = FakeGenerator(n_styles=2, style_dim=4)
    true = _other_styles(gen, seed=3)
    target = inv.Target("00", "shape", sdf=inv.styles_grid(gen, true, 10))
    mean = fake_mean_style(gen, 256)
    s = settings(lr=0.05, iterations={"sdf": 300})
    r = inv.invert(gen, target, "sdf", s, None, None, mean=mean)
    before = float((mean - true).norm())
    after = float((r.best_styles - true).norm())
    assert after < 0.05 * before
    assert r.best_loss < 1e-3 * r.losses[0]


def test_invert_writes_its_outputs(fakes, tmp_path):
    gen = FakeGenerator()
    target = _target(gen, _other_styles(gen))
    r = inv.invert(gen, target, "clip_argmax", settings(), tmp_path / "out", clip=FakeClip())
    out = tmp_path / "out"
    summary = json.loads((out / inv.SUMMARY).read_text())
    assert summary["best_iteration"] == r.best_iteration and summary["iterations"] == 6
    assert inv.read_losses(out / inv.LOSSES) == pytest.approx(r.losses)
    snaps = inv.load_snapshots(out / inv.SNAPSHOTS)
    assert snaps["iterations"].tolist() == [0, 2, 4]
    assert snaps["styles"].shape == (3, 2, 8)
    assert np.load(out / inv.SDF_GRID).shape == (8, 8, 8)  # the target's grid
    import trimesh

    assert trimesh.load(out / inv.MESH).is_watertight
    assert (out / inv.CURVE).stat().st_size > 0


def test_bad_inputs_are_named(fakes):
    gen = FakeGenerator()
    with pytest.raises(inv.InversionError, match="SDF grid"):
        inv.invert(gen, inv.Target("00"), "sdf", settings(), None)
    with pytest.raises(inv.InversionError, match="azimuth"):
        inv.invert(gen, inv.Target("00", sketches={30.0: np.zeros((8, 8), np.uint8)}), "clip", settings(), None,
                   clip=FakeClip())
    with pytest.raises(inv.InversionError, match="unknown key"):
        inv.inversion_settings(settings(learning_rate=1))
    with pytest.raises(inv.InversionError, match="supervision"):
        inv.invert(gen, inv.Target("00"), "pixels", settings(), None)


def test_cli_invert_one_example(fakes, tmp_path, monkeypatch):
    import pandas as pd
    from PIL import Image

    from sketch3d.cli import main

    monkeypatch.setattr(inv, "clip_backbone", lambda settings, device="cpu": FakeClip())
    gen = FakeGenerator()
    torch.save(gen, tmp_path / "gen.pt")
    np.savez(tmp_path / "mean.npz", mean=fake_mean_style(gen, 64).numpy())
    targets = tmp_path / "targets"
    (targets / "sketches").mkdir(parents=True)
    Image.fromarray(_sketch_of(gen, _other_styles(gen))).save(targets / "sketches" / "s_az000.png")
    pd.DataFrame([{"image_id": "s_az000", "shape_id": "s", "azimuth": 0, "path": "s_az000.png"}]).to_csv(
        targets / "sketches" / "index.csv", index=False)
    pd.DataFrame([{"example": 0, "shape_id": "s"}]).to_csv(targets / "examples.csv", index=False)
    write_sdf_targets(tmp_path / "sdf.npz", {"s": inv.styles_grid(gen, _other_styles(gen), 8)})
    for sup in inv.SUPERVISIONS:
        out = tmp_path / "inv" / sup
        assert main(["invert", "--settings", json.dumps(settings()), "--generator", str(tmp_path / "gen.pt"),
                     "--mean-style", str(tmp_path / "mean.npz"), "--targets", str(targets), "--sdf-targets",
                     str(tmp_path / "sdf.npz"), "--example", "0", "--supervision", sup, "--out", str(out),
                     "--checkpoints", str(tmp_path / "ck")]) == 0
        summary = json.loads((out / inv.SUMMARY).read_text())
        assert summary["supervision"] == sup and summary["shape_id"] == "s" and summary["example"] == "00"
    assert main(["invert", "--settings", json.dumps(settings()), "--generator", str(tmp_path / "gen.pt"),
                 "--targets", str(targets), "--example", "0", "--supervision", "sdf", "--out",
                 str(tmp_path / "x")]) == 1  # no --sdf-targets: refused, nothing written
    assert not (tmp_path / "x").exists()
