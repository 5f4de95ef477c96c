"""NetSpace training: one optimisation step lowers each setting's loss; an interrupted run resumes exactly."""
import pytest
import torch

from helpers_netspace import SMALL_MODEL, images, nets
from sketch3d.netspace import training as T
from sketch3d.netspace.model import NetSpace


def _one_step_lowers(setting, train, x, y, teacher, s, width, lr):
    templates = T.templates_for([n for n, _ in train], setting)
    height = T.common_height(templates, width)
    targets = T.make_targets(train, width, height)
    classes = 4 if setting in ("multi", "unseen") else None
    torch.manual_seed(0)
    model = NetSpace((height, width), SMALL_MODEL["embedding"], classes, SMALL_MODEL["channels"])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    s = T.effective(setting, {"steps": 1, "eval_every": 1, **s})
    before = T.step_losses(model, setting, targets, templates, x, y, teacher, s)
    opt.zero_grad()
    before["total"].backward()
    opt.step()
    with torch.no_grad():
        after = T.step_losses(model, setting, targets, templates, x, y, teacher, s)
    assert float(after["total"]) < float(before["total"].detach())
    return {k: float(v.detach()) for k, v in before.items()}


def test_one_step_lowers_the_single_architecture_kd():
    x, y = images(16)
    before = _one_step_lowers("single", nets("lenetlike", 2, 0), x, y, None, {"temperature": 4.0}, 2048, 1e-4)
    assert set(before) == {"total", "kd"}


def test_one_step_lowers_the_sdf_mse():
    x = torch.rand(256, 3) * 2 - 1
    _one_step_lowers("sdf", nets("siren", 2, 0), x, None, None, {}, 64, 1e-4)


def test_one_step_lowers_the_multi_architecture_loss_with_interpolation():
    x, y = images(8)
    teacher = nets("lenetlike", 1, 50)[0][0]
    train = nets("lenetlike", 1, 0) + nets("resnet8", 1, 3)  # ClassIds 0 and 2: no boundary pair
    before = _one_step_lowers("multi", train, x, y, teacher, {"architecture_from": "target"}, 4096, 1e-5)
    assert before["interpolation"] == 0.0
    # a LeNetLike and a ResNet32 (ClassIds 0 and 3) are a boundary pair: L^gamma joins at gamma = 1/3, 2/3
    train = nets("lenetlike", 1, 0) + nets("resnet32", 1, 3)
    before = _one_step_lowers("multi", train, x, y, teacher, {"architecture_from": "target"}, 16384, 1e-5)
    assert before["interpolation"] > 0
    assert before["total"] == pytest.approx(before["kd"] + before["class"] + before["interpolation"], rel=1e-5)


SETTINGS = {"training": {"steps": 4, "eval_every": 2, "nets_per_batch": 2, "images_per_net": 8, "seed": 3},
            "model": SMALL_MODEL, "prep": {"width": 2048}}


def test_resumed_training_equals_an_uninterrupted_run(tmp_path):
    x, y = images(24)
    data = {"train": (x, y), "val": (x[:8], y[:8])}
    train, val = nets("lenetlike", 3, 0), nets("lenetlike", 1, 10)
    whole = T.train_netspace("single", train, val, data, None, SETTINGS, tmp_path / "a", tmp_path / "ck_a")
    half = {**SETTINGS, "training": {**SETTINGS["training"], "steps": 2}}
    T.train_netspace("single", train, val, data, None, half, tmp_path / "b", tmp_path / "ck_b")
    resumed = T.train_netspace("single", train, val, data, None, SETTINGS, tmp_path / "b", tmp_path / "ck_b")
    assert resumed == whole
    a = torch.load(tmp_path / "ck_a" / "netspace_single.pt", weights_only=False)
    b = torch.load(tmp_path / "ck_b" / "netspace_single.pt", weights_only=False)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert (tmp_path / "a" / "curves.csv").read_text() == (tmp_path / "b" / "curves.csv").read_text()
    model, record = T.load_netspace(tmp_path / "a" / "model.pt")
    assert record["setting"] == "single" and record["prep_width"] == 2048
    assert not any(p.requires_grad for p in model.parameters())


def test_bad_inputs_are_refused(tmp_path):
    x, y = images(8)
    data = {"train": (x, y), "val": (x, y)}
    with pytest.raises(T.TrainingInputError, match="teacher"):
        T.train_netspace("multi", nets("lenetlike", 1, 0), nets("lenetlike", 1, 1), data, None, SETTINGS,
                         tmp_path / "o", tmp_path / "c")
    with pytest.raises(T.TrainingInputError, match="one architecture"):
        T.train_netspace("single", nets("lenetlike", 1, 0) + nets("vanillacnn", 1, 0), nets("lenetlike", 1, 1),
                         data, None, SETTINGS, tmp_path / "o", tmp_path / "c")
    with pytest.raises(T.TrainingInputError, match="steps"):
        T.effective("single", {"steps": 0, "eval_every": 1})
    with pytest.raises(T.TrainingInputError, match="no such net file"):
        T.load_net(tmp_path / "missing.pt")


def test_load_net_rebuilds_a_saved_member(tmp_path):
    net, _ = nets("vanillacnn", 1, 0)[0]
    torch.save({"state_dict": net.state_dict(), "build_args": net.build_args(), "name": "v0"}, tmp_path / "v0.pt")
    again, record = T.load_net(tmp_path / "v0.pt")
    x, _ = images(2)
    assert torch.equal(again(x), net(x)) and record["architecture"] == "vanillacnn"


def test_boundary_pairs_put_each_lenetlike_with_a_resnet32():
    # the peer's unseen batches (data/nets_missing.py): 40 LeNetLike + 80 ResNet32 -> 40 mixed pairs, 20 of ResNet32s
    ids = [0] * 4 + [3] * 8
    pairs = T.boundary_pairs(ids, torch.Generator().manual_seed(1))
    assert len(pairs) == 6 and sorted(k for p in pairs for k in p) == list(range(12))
    kinds = sorted(tuple(sorted(ids[k] for k in p)) for p in pairs)
    assert kinds == [(0, 3)] * 4 + [(3, 3)] * 2
    assert pairs == T.boundary_pairs(ids, torch.Generator().manual_seed(1))       # seeded
    assert pairs != T.boundary_pairs(ids, torch.Generator().manual_seed(2))       # shuffled per pass
    odd = T.boundary_pairs([0, 0, 3], torch.Generator().manual_seed(0))            # an odd one out keeps its group
    assert sorted(tuple(sorted([0, 0, 3][k] for k in p)) for p in odd) == [(0, 0), (0, 3)]
    with pytest.raises(T.TrainingInputError, match="pairing"):
        T.effective("unseen", {"steps": 1, "eval_every": 1, "pairing": "zip"})
    assert T.effective("unseen", {"steps": 1, "eval_every": 1})["pairing"] == "boundary"
    assert T.effective("multi", {"steps": 1, "eval_every": 1})["pairing"] == "random"


def test_model_choice_counts_the_interpolated_nets():
    # the peer's multi validation: decoded val nets + nets decoded between the i-th LeNetLike and the i-th ResNet32
    x, y = images(8)
    val = nets("lenetlike", 1, 0) + nets("resnet32", 1, 3)
    templates = T.templates_for([n for n, _ in val], "multi")
    width = 16384
    targets = T.make_targets(val, width, T.common_height(templates, width))
    torch.manual_seed(0)
    model = NetSpace(tuple(targets[0].prep.shape), SMALL_MODEL["embedding"], 4, SMALL_MODEL["channels"]).eval()
    recon = T.validate(model, "multi", targets, templates, x, y, {"model_choice": "reconstructions"})
    both = T.validate(model, "multi", targets, templates, x, y, {"model_choice": "interpolated"})
    with torch.no_grad():  # the interpolated nets, computed here from the embeddings
        e = model.encode(torch.stack([t.prep for t in targets]))
        inter = []
        for g in (1 / 3, 2 / 3):
            eg = (1 - g) * e[0] + g * e[1]
            arch = T.CLASSIFIERS[int(model.classify(eg[None]).argmax())]
            inter.append(T.accuracy(lambda b: T.predicted_forward(templates[arch], model.decode(eg[None])[0], b), x, y))
    assert both == pytest.approx((2 * recon + sum(inter)) / 4)


def test_sdf_queries_are_half_outside_half_inside_each_nets_own_samples():
    (net, record), = nets("siren", 1, 4)
    (t,) = T.make_targets([(net, record)], 64, T.common_height({"siren": net}, 64))
    g = torch.Generator().manual_seed(0)
    q = T.draw_queries(t, 101, g)
    out, inn = record["query_points"]["outside"], record["query_points"]["inside"]
    is_out = (q[:, None, :] == out[None]).all(-1).any(1)
    is_in = (q[:, None, :] == inn[None]).all(-1).any(1)
    assert int(is_out.sum()) == 51 and int(is_in.sum()) == 50 and bool((is_out ^ is_in).all())
    s = T.effective("sdf", {"steps": 1, "eval_every": 1, "points": 10})
    assert T.step_points(s, g, "cpu", [t, t]).shape == (2, 10, 3)
    assert T.step_points({**s, "coordinates": "uniform"}, g, "cpu", [t]).shape == (10, 3)
    t.query = None
    with pytest.raises(T.TrainingInputError, match="query_points"):
        T.draw_queries(t, 4, g)


def test_fit_sdf_mlp_file_keeps_sample_points_of_both_sides(tmp_path):
    import numpy as np

    from sketch3d.netspace import sdf_mlps

    rng = np.random.default_rng(0)
    pts = rng.uniform(-1, 1, (400, 3)).astype(np.float32)
    sdf = (np.linalg.norm(pts, axis=1) - 0.5).astype(np.float32)
    np.savez(tmp_path / "s.npz", points=pts, sdf=sdf)
    sdf_mlps.fit_sdf_mlp_file(tmp_path / "s.npz", {"hidden": 8, "steps": 1, "points": 16, "lr": 1e-3, "decay": 0.9,
                                                  "decay_every": 1, "query_points": 20}, 0, tmp_path / "m.pt")
    _, record = T.load_net(tmp_path / "m.pt")
    q = record["query_points"]
    assert q["outside"].shape == (20, 3) and q["inside"].shape == (20, 3)
    assert (q["outside"].norm(dim=1) >= 0.5).all() and (q["inside"].norm(dim=1) < 0.5).all()


def test_fixed_logits_are_each_nets_own_on_the_drawn_images(monkeypatch):
    x, _ = images(40)
    train = nets("lenetlike", 2, 0)
    fixed = T.FixedLogits.build({k: n for k, (n, _) in enumerate(train)}, x, "cpu", batch=16)
    idx = torch.tensor([39, 0, 17, 17, 5])
    for k, (net, _) in enumerate(train):
        with torch.no_grad():
            own = net(x[idx])
        assert torch.allclose(fixed.rows(k, idx), own, atol=1e-5)
    # over the size bound nothing is kept: the steps run the nets themselves
    monkeypatch.setattr(T, "FIXED_LOGITS_MAX", 2 * 40 * 10 - 1)
    assert T.FixedLogits.build({k: n for k, (n, _) in enumerate(train)}, x, "cpu") is None


@pytest.mark.parametrize("setting", ["single", "multi"])
def test_training_on_fixed_images_matches_one_that_runs_the_nets_each_step(setting, tmp_path):
    """The looked-up logits (fixed images) against an identity transform, which makes each step run the target
    nets (single) or the teacher (multi) on its batch: the same training up to the logits' last bits."""
    x, y = images(24)
    if setting == "single":
        train, val, teacher = nets("lenetlike", 3, 0), nets("lenetlike", 1, 10), None
        settings = SETTINGS
    else:
        train, val = nets("lenetlike", 2, 0) + nets("resnet8", 1, 3), nets("lenetlike", 1, 10)
        teacher = nets("lenetlike", 1, 50)[0][0]
        settings = {**SETTINGS, "training": {**SETTINGS["training"], "architecture_from": "target",
                                             "model_choice": "reconstructions"}, "prep": {"width": 4096}}
    runs = {}
    for name, extra in (("fixed", {}), ("per_step", {"train_transform": lambda b, g: b})):
        data = {"train": (x, y), "val": (x[:8], y[:8]), **extra}
        T.train_netspace(setting, train, val, data, teacher, settings, tmp_path / name, tmp_path / f"ck_{name}")
        runs[name] = T.load_netspace(tmp_path / name / "model.pt")[0].state_dict()
    assert all(torch.allclose(runs["fixed"][k], runs["per_step"][k], atol=1e-5) for k in runs["fixed"])
