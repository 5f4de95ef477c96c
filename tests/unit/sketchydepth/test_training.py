import numpy as np
import pandas as pd
import pytest
import torch

from sketch3d.sketchydepth import training as tr
from sketch3d.sketchydepth.networks import build_networks, gan_loss, model_spec
from sketch3d.sketchydepth.triplets import read_triplets, write_depths, write_triplets


MODELS = ("baseline", "sketchydepth", "no_depth", "no_joint")


def _noise_sets(root, n=5, size=32, seed=0):
    rng = np.random.default_rng(seed)
    ids = [f"t{i}" for i in range(n)]
    write_triplets(root / "t", ids, ["fb", "bo"] * (n // 2) + ["fb"] * (n % 2),
                   rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
                   rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8))
    write_depths(root / "d", ids, rng.integers(0, 256, (n, size, size), dtype=np.uint8))
    return root / "t", root / "d"


def _settings(**gan):
    base = dict(ngf=4, ndf=4, n_layers_d=3, dropout=0.5, init_gain=0.02, lr=2e-4, beta1=0.5, beta2=0.999,
                l1_weight=100.0, n_epochs=1, n_epochs_decay=1, batch_size=2, flip=True, test_eval=False)
    return {"seed": 7, "profile": "demo", "sketchydepth": {"gan": {**base, **gan}}}


def _batch(size=32, n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda c: torch.rand(n, c, size, size, generator=g) * 2 - 1  # noqa: E731
    return tr.Batch(r(3), r(3), r(1))


def test_settings_name_what_is_missing_or_bad():
    s = _settings()
    del s["sketchydepth"]["gan"]["ndf"]
    with pytest.raises(ValueError, match=r"lacks \['ndf'\]"):
        tr.GanSettings.from_settings(s)
    with pytest.raises(ValueError, match="batch_size"):
        tr.GanSettings.from_settings(_settings(batch_size=0))
    with pytest.raises(ValueError, match="seed"):
        tr.GanSettings.from_settings({"profile": "demo", "sketchydepth": {"gan": {}}})


def test_linear_decay_as_pix2pix():
    # 3 constant epochs, then 2 decaying: 1 - k / (n_epochs_decay + 1)
    assert [tr.lr_factor(i, 3, 2) for i in range(5)] == pytest.approx([1, 1, 1, 2 / 3, 1 / 3])


def test_epoch_plan_covers_every_example_once_and_is_seeded():
    plan = tr.epoch_plan(7, 3, True, np.random.default_rng(1))
    assert [len(i) for i, _ in plan] == [3, 3, 1]
    assert sorted(np.concatenate([i for i, _ in plan])) == list(range(7))
    again = tr.epoch_plan(7, 3, True, np.random.default_rng(1))
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(plan, again))
    assert not any(f.any() for _, f in tr.epoch_plan(7, 3, False, np.random.default_rng(1)))


def test_batch_is_normalised_and_flipped_alike(tmp_path):
    t, d = _noise_sets(tmp_path, n=3, size=32)
    data = read_triplets(t, d)
    b = tr.make_batch(data, np.array([2, 0]), np.array([True, False]), "cpu")
    expect = data.partial[2][:, ::-1].astype(np.float32) / 127.5 - 1
    assert np.allclose(b.partial[0].permute(1, 2, 0).numpy(), expect, atol=1e-6)
    assert np.allclose(b.depth[0, 0].numpy(), data.depth[2][:, ::-1] / 127.5 - 1, atol=1e-6)
    assert np.allclose(b.image[1].permute(1, 2, 0).numpy(), data.image[0] / 127.5 - 1, atol=1e-6)
    assert np.array_equal(tr.to_uint8(tr.to_tensor(data.image)), data.image)
    assert np.array_equal(tr.to_uint8(torch.tensor([-1.0, 0.0, 1.0]).view(1, 1, 1, 3)), [[[0, 128, 255]]])


class _Recorder(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner, self.seen = inner, []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.inner(x)


@pytest.mark.parametrize("model", MODELS)
def test_discriminators_see_the_pairs_and_triplets_of_the_equations(model):
    spec = model_spec(model)
    torch.manual_seed(0)
    nets = build_networks(model, 32, 4, 4)
    for n in spec.discriminators:
        nets[n] = _Recorder(nets[n])
    opt_g, opt_d, _, _ = tr.optimisers(spec, nets, tr.GanSettings.from_settings(_settings()))
    b = _batch()
    torch.manual_seed(1)
    fw = tr.forward(spec, nets, b.partial)
    tr.discriminator_step(spec, nets, opt_d, b, fw)
    tr.generator_step(spec, nets, opt_g, b, fw, 100.0)
    d_gen, i_gen = (fw.d_gen.detach() if spec.depth else None), fw.i_gen.detach()
    p, d, i = b.partial, b.depth, b.image
    if spec.depth:
        # eq. 3.2: D_d fake (i_p, d_gen), real (i_p, d_real); then the generator's pass on the fake pair
        assert [x.shape[1] for x in nets["D_d"].seen] == [4, 4, 4]
        fake, real, gen = nets["D_d"].seen
        assert torch.equal(fake, torch.cat([p, d_gen], 1)) and torch.equal(real, torch.cat([p, d], 1))
        assert torch.equal(gen, fake)
    for n in ("D_i", "D_j"):
        if n not in spec.discriminators:
            continue
        fake, real, gen = nets[n].seen
        # eq. 3.6 / 3.9: real (i_p, d_real, i_real), fake (i_p, d_gen, i_gen); no depth channel without G_d
        exp_real = torch.cat([p, d, i] if spec.depth else [p, i], 1)
        exp_fake = torch.cat([p, d_gen, i_gen] if spec.depth else [p, i_gen], 1)
        assert torch.equal(real, exp_real) and torch.equal(fake, exp_fake) and torch.equal(gen, exp_fake)


def _terms(spec, nets, b, seed):
    """Every loss term on batch ``b``, with the dropout masks of ``seed``."""
    torch.manual_seed(seed)
    fw = tr.forward(spec, nets, b.partial)
    with torch.no_grad():
        terms = {k: float(v) for k, v in tr.generator_losses(spec, nets, b, fw).items()}
        d_gen = fw.d_gen if spec.depth else None
        for n, (real, fake) in tr.discriminator_inputs(spec, b, d_gen, fw.i_gen).items():
            terms[f"{n}_real"] = float(gan_loss(nets[n](real), True))
            terms[f"{n}_fake"] = float(gan_loss(nets[n](fake), False))
    return terms


@pytest.mark.parametrize("model", MODELS)
def test_one_step_lowers_each_loss_on_a_fixed_batch(model):
    spec = model_spec(model)
    torch.manual_seed(0)
    nets = build_networks(model, 32, 4, 4)
    opt_g, opt_d, _, _ = tr.optimisers(spec, nets, tr.GanSettings.from_settings(_settings()))
    b = _batch(n=4)
    before = _terms(spec, nets, b, 5)
    torch.manual_seed(5)
    fw = tr.forward(spec, nets, b.partial)
    tr.discriminator_step(spec, nets, opt_d, b, fw)
    after_d = _terms(spec, nets, b, 5)
    for n in spec.discriminators:  # the discriminators' step, generators unchanged
        assert after_d[f"{n}_real"] + after_d[f"{n}_fake"] < before[f"{n}_real"] + before[f"{n}_fake"], n
    tr.generator_step(spec, nets, opt_g, b, fw, 100.0)
    after_g = _terms(spec, nets, b, 5)
    gen_terms = [k for k in before if k.startswith("G_")]
    assert gen_terms
    for k in gen_terms:  # the generators' step against the updated discriminators
        assert after_g[k] < after_d[k], k


@pytest.mark.parametrize("model", ["sketchydepth", "no_joint"])
def test_each_term_reaches_the_generators_its_equation_minimises_over(model):
    spec = model_spec(model)
    torch.manual_seed(0)
    nets = build_networks(model, 32, 4, 4)
    b = _batch()
    sgd = torch.optim.SGD([p for n in spec.generators for p in nets[n].parameters()], lr=0.0)
    torch.manual_seed(3)
    fw = tr.forward(spec, nets, b.partial)
    tr.generator_step(spec, nets, sgd, b, fw, 100.0)
    got = {n: [p.grad.clone() for p in nets[n].parameters()] for n in spec.generators}
    # independently: one graph where i_gen = G_i(i_p, d_gen) depends on d_gen, differentiated per equation
    torch.manual_seed(3)
    d_gen = nets["G_d"](b.partial)
    i_gen = nets["G_i"](torch.cat([b.partial, d_gen], 1))
    l_d = gan_loss(nets["D_d"](torch.cat([b.partial, d_gen], 1)), True) + 100 * (d_gen - b.depth).abs().mean()
    l_i = gan_loss(nets["D_i"](torch.cat([b.partial, d_gen, i_gen], 1)), True) + 100 * (i_gen - b.image).abs().mean()
    l_j = gan_loss(nets["D_j"](torch.cat([b.partial, d_gen, i_gen], 1)), True) if spec.joint else 0 * l_d
    want_d = torch.autograd.grad(l_d + l_j, list(nets["G_d"].parameters()), retain_graph=True)  # eq. 3.4, 3.10
    want_i = torch.autograd.grad(l_i + l_j, list(nets["G_i"].parameters()))  # eq. 3.8, 3.10
    for g, w in zip(got["G_d"], want_d):
        assert torch.allclose(g, w, rtol=1e-4, atol=1e-6)
    for g, w in zip(got["G_i"], want_i):
        assert torch.allclose(g, w, rtol=1e-4, atol=1e-6)


def test_depth_models_need_the_depth_set(tmp_path):
    t, _ = _noise_sets(tmp_path, n=2)
    with pytest.raises(ValueError, match="needs the depth set"):
        tr.train_gan("sketchydepth", _settings(), t, None, tmp_path / "out", "cpu")


@pytest.mark.parametrize("model", ["baseline", "sketchydepth"])
def test_resume_continues_the_same_run_exactly(tmp_path, model):
    t, d = _noise_sets(tmp_path, n=5)
    s = _settings()
    whole = tr.train_gan(model, s, t, d, tmp_path / "a", "cpu", val=t, val_depth=d)
    assert tr.train_gan(model, s, t, d, tmp_path / "b", "cpu", val=t, val_depth=d, stop_after=1) is None
    assert not (tmp_path / "b" / "final.pt").exists()
    torch.manual_seed(123)  # the resumed run must not depend on the process's RNG state
    np.random.seed(5)
    resumed = tr.train_gan(model, s, t, d, tmp_path / "b", "cpu", val=t, val_depth=d)
    assert resumed == whole
    a = torch.load(tmp_path / "a" / "final.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "final.pt", weights_only=True)
    for n in a["generators"]:
        assert all(torch.equal(a["generators"][n][k], b["generators"][n][k]) for k in a["generators"][n])
    assert (tmp_path / "a" / "final.pt").read_bytes() == (tmp_path / "b" / "final.pt").read_bytes()
    assert (tmp_path / "a" / "curves.csv").read_bytes() == (tmp_path / "b" / "curves.csv").read_bytes()
    assert (tmp_path / "a" / "curves.png").read_bytes() == (tmp_path / "b" / "curves.png").read_bytes()
    assert len(list((tmp_path / "b" / "checkpoints").rglob("*.pt"))) == 1  # only the last checkpoint is kept


def test_outputs_curves_and_final(tmp_path):
    t, d = _noise_sets(tmp_path, n=4)
    tr.train_gan("sketchydepth", _settings(n_epochs=1, n_epochs_decay=2), t, d, tmp_path / "o", "cpu",
                 val=t, val_depth=d)
    lines = (tmp_path / "o" / "curves.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,lr,")  # the header first: no comment line (dvc plots reads the file as it is)
    c = pd.read_csv(tmp_path / "o" / "curves.csv")
    assert list(c["epoch"]) == [1, 2, 3]
    assert list(c["lr"]) == pytest.approx([2e-4, 2e-4 * 2 / 3, 2e-4 / 3], rel=1e-5)
    assert {"G_d_gan", "G_d_l1", "G_i_gan", "G_i_l1", "G_j_gan", "D_d_real", "D_d_fake", "D_i_real", "D_i_fake",
            "D_j_real", "D_j_fake", "val_l1_image", "val_l1_depth"} <= set(c.columns)
    assert ((c["val_l1_image"] >= 0) & (c["val_l1_image"] <= 2)).all()
    final = torch.load(tmp_path / "o" / "final.pt", weights_only=True)
    assert final["model"] == "sketchydepth" and set(final["generators"]) == {"G_d", "G_i"} and final["demo"]
    assert (tmp_path / "o" / "curves.png").read_bytes()[:4] == b"\x89PNG"
