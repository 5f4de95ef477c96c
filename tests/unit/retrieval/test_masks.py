"""Learned feature masking / weighting: the layer, its gradient, the loss, training on per-batch transformed views,
resume, selection, the step-0 rule, one step on the meta device."""
from __future__ import annotations

import json
import zlib

import numpy as np
import pandas as pd
import pytest
import torch

from sketch3d.cli import main
from sketch3d.retrieval.distances import shape_mse
from sketch3d.retrieval.masks import (
    CHECKPOINT,
    MaskSettings,
    ValSet,
    apply_mask,
    binarize,
    clip_contrastive_loss,
    effective_weights,
    evaluate_mask,
    load_mask,
    masked_shape_mse,
    modulate,
    RenderedViews,
    is_identity,
    mask_step,
    modulated_clip_loss,
    select_step,
    train_mask,
)
from sketch3d.retrieval.mask_data import Augment
from sketch3d.retrieval.metrics import rank_of_truth, ranking


# ----------------------------------------------------------------------------- a toy problem

D_SIGNAL, D_NUISANCE = 16, 48


class ToyViews:
    """Training views of a toy problem: shapes differ in the first D_SIGNAL features; the view and the image's
    transform add large noise to the other D_NUISANCE features (seeded by shape, view and transform name), so
    learning to drop or down-weight them lowers the contrastive loss and helps retrieval. Records the
    transforms of every call."""

    def __init__(self, ident: np.ndarray, views: int, device: str = "cpu") -> None:
        self.ident, self.n_shapes, self.n_views = ident, ident.shape[0], views
        self.dim, self.device, self.calls = D_SIGNAL + D_NUISANCE, device, []

    def features(self, shapes, views, transforms) -> torch.Tensor:
        self.calls.append(list(transforms))
        rows = []
        for s, v, t in zip(shapes, views, transforms):
            rng = np.random.default_rng(zlib.crc32(f"{s},{v},{t.name if t is not None else '-'}".encode()))
            rows.append(np.concatenate([self.ident[s] + rng.normal(0, 0.3, D_SIGNAL), rng.normal(0, 3.0, D_NUISANCE)]))
        return torch.tensor(np.stack(rows), dtype=torch.float32, device=self.device)

    def fingerprint_parts(self) -> list:
        return [self.ident.tobytes(), self.n_views]


AUGMENT = Augment(129)


def _toy(seed: int = 0, shapes: int = 16, views: int = 3):
    rng = np.random.default_rng(seed)
    d = D_SIGNAL + D_NUISANCE
    source = ToyViews(rng.normal(0, 1, (shapes, D_SIGNAL)), views)

    def feats(n_views, id_):
        sig = np.broadcast_to(id_[:, None], (id_.shape[0], n_views, D_SIGNAL))
        sig = sig + rng.normal(0, 0.3, sig.shape)
        noise = rng.normal(0, 3.0, (id_.shape[0], n_views, D_NUISANCE))
        return np.concatenate([sig, noise], axis=2).astype(np.float32)

    val = {}
    for name in ("chair", "lamp"):
        g_id = rng.normal(0, 1, (8, D_SIGNAL))
        gallery = feats(views, g_id)
        truth = np.repeat(np.arange(8), 2)
        sketches = feats(1, g_id[truth])[:, 0]
        val[name] = ValSet(sketches, truth, gallery)
    assert source.dim == d
    return source, val


def _settings(**kw) -> MaskSettings:
    base = dict(mode="continuous", threshold=0.1, batch_size=8, lr=0.02, steps=30, eval_every=10,
                temperature=0.1, init=1.0, seed=3)
    base.update(kw)
    return MaskSettings(**base)


# ----------------------------------------------------------------------------- the layer


def test_threshold_keeps_at_and_above_theta():
    w = torch.tensor([-1.0, 0.0, 0.0999, 0.1, 0.10001, 0.5, 2.0])
    assert binarize(w, 0.1).tolist() == [0, 0, 0, 1, 1, 1, 1]
    w64 = w.double()
    assert binarize(w64, 0.1).tolist() == [0, 0, 0, 1, 1, 1, 1]
    x = torch.arange(1.0, 8.0)
    assert modulate(x, w, "binary", 0.1).tolist() == [0, 0, 0, 4, 5, 6, 7]
    assert torch.equal(modulate(x, w, "continuous", 0.1), x * w)


def _loss_and_grad(w0: torch.Tensor, x: torch.Tensor, y: torch.Tensor, mode: str):
    w = w0.clone().requires_grad_(True)
    eff = effective_weights(w, mode, 0.1)
    loss = clip_contrastive_loss(x * eff, y * eff, 0.07)
    loss.backward()
    return loss.detach(), w.grad


def test_straight_through_gradient_is_the_continuous_gradient_at_the_binary_weights():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(6, 20, generator=g), torch.randn(6, 20, generator=g)
    w = torch.rand(20, generator=g) * 0.2  # about half below the threshold
    assert 0 < (w < 0.1).sum() < 20
    loss_b, grad_b = _loss_and_grad(w, x, y, "binary")
    loss_c, grad_c = _loss_and_grad(binarize(w, 0.1), x, y, "continuous")
    assert torch.equal(loss_b, loss_c)  # forward: the binary weights
    torch.testing.assert_close(grad_b, grad_c, rtol=0, atol=0)
    # the gradient reaches every kept weight; a dropped feature is 0 on both sides of every cosine,
    # so its weight's gradient is exactly 0: once dropped, a feature stays dropped
    assert (grad_b[w >= 0.1] != 0).all() and (grad_b[w < 0.1] == 0).all()
    # with continuous weights every weight gets a gradient
    assert (_loss_and_grad(w, x, y, "continuous")[1] != 0).all()


def test_contrastive_loss_against_numpy():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 7)), rng.normal(size=(5, 7))
    t = 0.07
    an = a / np.linalg.norm(a, axis=1, keepdims=True)
    bn = b / np.linalg.norm(b, axis=1, keepdims=True)
    logits = an @ bn.T / t

    def ce(lg):  # mean over rows of -log softmax(row)[i]
        m = lg.max(axis=1, keepdims=True)
        lse = np.log(np.exp(lg - m).sum(axis=1)) + m[:, 0]
        return np.mean(lse - np.diag(lg))

    expected = (ce(logits) + ce(logits.T)) / 2
    got = clip_contrastive_loss(torch.from_numpy(a), torch.from_numpy(b), t)
    assert got.item() == pytest.approx(expected, rel=1e-12)
    # scaling a row does not change it (cosine similarity)
    assert clip_contrastive_loss(torch.from_numpy(a * 3), torch.from_numpy(b), t).item() == pytest.approx(expected)
    with pytest.raises(ValueError, match="two \\[B, D\\] tensors"):
        clip_contrastive_loss(torch.zeros(3, 4), torch.zeros(2, 4), t)


@pytest.mark.parametrize("mode", ["continuous", "binary"])
def test_training_loss_is_the_clip_loss_of_the_modulated_features(mode):
    g = torch.Generator().manual_seed(4)
    a, b = torch.randn(6, 30, generator=g, dtype=torch.float64), torch.randn(6, 30, generator=g, dtype=torch.float64)
    w0 = torch.rand(30, generator=g, dtype=torch.float64) * 0.3 - 0.05  # some negative, some below 0.1
    values, grads = [], []
    for f in (lambda w: clip_contrastive_loss(modulate(a, w, mode, 0.1), modulate(b, w, mode, 0.1), 0.07),
              lambda w: modulated_clip_loss(a, b, effective_weights(w, mode, 0.1), 0.07)):
        w = w0.clone().requires_grad_(True)
        loss = f(w)
        loss.backward()
        values.append(loss.detach())
        grads.append(w.grad)
    torch.testing.assert_close(values[0], values[1], rtol=1e-12, atol=0)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-9, atol=1e-15)
    # a row with every feature dropped: finite, as with F.normalize
    zero = modulated_clip_loss(torch.zeros(3, 4), torch.ones(3, 4), torch.ones(4), 0.07)
    assert torch.isfinite(zero) and zero.item() == pytest.approx(np.log(3))


# ----------------------------------------------------------------------------- a step on the meta device


def test_one_step_on_the_meta_device_creates_nothing_elsewhere():
    """The GPU rule's computation (backbone forward of a batch, the modulated loss, the mask's Adam step) with the
    model, the images and the mask on PyTorch's meta device: a tensor created on the CPU would raise, as beside a
    CUDA tensor. (Evaluation and export need real values: they run on the CPU copies, as in the rule.)"""
    from sketch3d.retrieval.masks import encode_views

    model = torch.nn.Conv2d(3, 4, kernel_size=8, stride=8).to("meta")
    x = torch.empty(8, 3, 32, 32, device="meta")
    feats = encode_views(model, x)
    assert feats.device.type == "meta" and feats.shape == (8, 64)
    for mode in ("binary", "continuous"):
        w = torch.full((64,), 1.0, device="meta", requires_grad=True)
        opt = torch.optim.Adam([w], lr=1e-3)
        loss = mask_step(feats[:4], feats[4:], w, opt, _settings(mode=mode))
        assert loss.device.type == "meta" and w.grad is not None and w.grad.device.type == "meta"
    with pytest.raises((RuntimeError, NotImplementedError)):  # the test would see a CPU tensor beside them
        mask_step(feats[:4], feats[4:], torch.ones(64, requires_grad=True),
                  torch.optim.Adam([torch.ones(1, requires_grad=True)]), _settings())


# ----------------------------------------------------------------------------- the training views


def test_rendered_views_embed_each_image_under_its_own_transform(tmp_path):
    from PIL import Image

    from sketch3d.features.backbone import FeatureSpec
    from sketch3d.features.extract import load_transformed
    from sketch3d.imageset import write_index

    rng = np.random.default_rng(0)
    rows = []
    for s in ("a", "b"):
        for az in (0, 30):
            img = np.full((224, 224), 255, np.uint8)
            x0, y0 = rng.integers(40, 120, 2)
            img[y0:y0 + 60, x0:x0 + 8] = 0
            img[y0 + 52:y0 + 60, x0:x0 + 70] = 0
            path = tmp_path / s / f"az{az:03d}.png"
            path.parent.mkdir(exist_ok=True)
            Image.fromarray(img).save(path)
            rows.append({"image_id": f"{s}_{az}", "shape_id": s, "azimuth": az, "path": str(path)})
    write_index(tmp_path, pd.DataFrame(rows))
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 16, stride=16), torch.nn.Flatten())
    spec = FeatureSpec(backbone="RN50", layer="layer3", weights="random", seed=0, family="clip")
    views = RenderedViews(tmp_path, spec, "cpu", model=model, dim=2 * 14 * 14)
    assert (views.n_shapes, views.n_views) == (2, 2)
    ts = AUGMENT.draw(np.random.default_rng(1), 3)
    got = views.features(np.array([1, 0, 1]), np.array([0, 1, 1]), ts)
    m, sd = spec.normalisation
    for k, (s, az) in enumerate((("b", 0), ("a", 30), ("b", 30))):
        grey = load_transformed(tmp_path / s / f"az{az:03d}.png", ts[k]).astype(np.float32) / 255
        x = torch.from_numpy(np.stack([(grey - m[c]) / sd[c] for c in range(3)]))[None]
        with torch.no_grad():
            torch.testing.assert_close(got[k], model(x)[0], rtol=1e-5, atol=1e-5)
    assert not torch.equal(got[0], views.features(np.array([1]), np.array([0]), [ts[1]])[0])  # the transform matters
    # the features feed the mask's training step (autograd saves them for the backward pass)
    w = torch.ones(views.dim, requires_grad=True)
    mask_step(got[:1], got[1:2], w, torch.optim.Adam([w]), _settings())
    assert w.grad is not None


# ----------------------------------------------------------------------------- retrieval with a mask


def test_binary_selection_equals_multiplication():
    rng = np.random.default_rng(2)
    q, g = rng.normal(size=(7, 50)), rng.normal(size=(6, 3, 50))
    mask = rng.random(50) < 0.4
    selected = masked_shape_mse(q, g, mask)
    multiplied = shape_mse(q * mask, (g * mask).reshape(18, 50), np.repeat(np.arange(6), 3), 6)
    np.testing.assert_allclose(selected * mask.sum() / 50, multiplied, rtol=1e-12)
    assert np.array_equal(ranking(selected), ranking(multiplied))
    assert apply_mask(q, mask).shape == (7, mask.sum())
    weights = rng.random(50).astype(np.float32)
    np.testing.assert_allclose(apply_mask(q, weights), q * weights, rtol=1e-6)
    with pytest.raises(ValueError, match="D=50"):
        apply_mask(q, mask[:40])


def test_evaluate_mask_with_every_feature_is_the_plain_retrieval():
    _, val = _toy()
    v = val["chair"]
    dist = shape_mse(v.sketches, v.gallery.reshape(-1, v.gallery.shape[2]), np.repeat(np.arange(8), 3), 8)
    ranks = rank_of_truth(dist, v.truth)
    expected = {"acc@1": 100 * np.mean(ranks < 1), "acc@5": 100 * np.mean(ranks < 5)}
    assert evaluate_mask(v, np.ones(v.gallery.shape[2], bool)) == expected
    assert evaluate_mask(v, np.full(v.gallery.shape[2], 0.5, np.float32)) == expected  # constant weight: same ranking


def test_select_step_takes_acc1_then_acc5_then_the_earliest():
    curve = [
        {"step": 0, "chair_acc@1": 50.0, "chair_acc@5": 80.0},
        {"step": 10, "chair_acc@1": 60.0, "chair_acc@5": 70.0},
        {"step": 20, "chair_acc@1": 60.0, "chair_acc@5": 75.0},
        {"step": 30, "chair_acc@1": 60.0, "chair_acc@5": 75.0},
        {"step": 40, "chair_acc@1": 55.0, "chair_acc@5": 99.0},
    ]
    assert select_step(curve, "chair")["step"] == 20
    with pytest.raises(ValueError, match="'lamp'"):
        select_step(curve, "lamp")


# ----------------------------------------------------------------------------- training


def test_training_lowers_the_loss_and_the_mask_helps_retrieval(tmp_path):
    source, val = _toy()
    runs = [_settings(mode="continuous", init=1.0, steps=40, eval_every=10, lr=0.03),
            _settings(mode="binary", init=0.15, steps=40, eval_every=10, lr=0.03)]
    sel = train_mask(source, val, runs, tmp_path / "out", tmp_path / "ckpt", AUGMENT)
    ck = torch.load(_ckpt(tmp_path / "ckpt"), weights_only=False)
    for s in runs:
        out = tmp_path / "out" / s.mode
        rows = list(np.genfromtxt(out / "curves.csv", delimiter=",", names=True))
        losses = [r["loss"] for r in rows[1:]]
        if s.mode == "continuous":  # (the binary loss jumps as features drop out)
            assert losses[-1] < 0.8 * losses[0]
        w = ck[f"w_{s.mode}"].numpy()
        if s.mode == "binary":
            assert load_mask(out / "best_chair.npy").dtype == bool
            final = w >= 0.1
            assert final[:D_SIGNAL].mean() > 0.9 and final[D_SIGNAL:].mean() < 0.5  # nuisance features dropped
        else:
            assert w[:D_SIGNAL].mean() > w[D_SIGNAL:].mean()  # nuisance features down-weighted
            assert load_mask(out / "best_chair.npy").dtype == np.float32
        for name in ("chair", "lamp"):
            info = json.loads((out / f"best_{name}.json").read_text())
            assert info == sel[s.mode][name] and info["selected_on"] == name and info["mode"] == s.mode
            assert set(info["metrics"]) == {"chair", "lamp"}
            # the mask must help: nuisance features hide the shapes, the learned mask uncovers them
            assert info["metrics"][name]["acc@1"] >= info["baseline_step0"][name]["acc@1"] + 20, info
            assert info["step"] > 0 and not info["identity"] and info["flags"] == []
            assert info["augment"]["box"] == 129 and "notice" not in info


def test_every_batch_draws_fresh_transforms_and_the_seed_repeats_them(tmp_path):
    s = _settings(mode="continuous", steps=3, eval_every=3, batch_size=4)
    first, val = _toy()
    train_mask(first, val, [s], tmp_path / "a", tmp_path / "ca", AUGMENT)
    assert len(first.calls) == 3 and all(len(c) == 8 for c in first.calls)
    names = [[t.name for t in c] for c in first.calls]
    assert len({n for c in names for n in c}) > 20  # a fresh transform per image of every batch
    assert names[0] != names[1] != names[2]
    for c in first.calls:
        for t in c:
            assert 129 - 22 <= t.box <= 129 + 22 and abs(t.tx) <= 22 and abs(t.ty) <= 22 and abs(t.rot) <= 10
    again, _ = _toy()
    train_mask(again, val, [s], tmp_path / "b", tmp_path / "cb", AUGMENT)
    assert [[t.name for t in c] for c in again.calls] == names  # same params, same transforms
    other, _ = _toy()
    train_mask(other, val, [_settings(mode="continuous", steps=3, eval_every=3, batch_size=4, seed=9)],
               tmp_path / "c", tmp_path / "cc", AUGMENT)
    assert [[t.name for t in c] for c in other.calls] != names
    assert (tmp_path / "a" / "continuous" / "best_chair.npy").read_bytes() == \
        (tmp_path / "b" / "continuous" / "best_chair.npy").read_bytes()


def test_step_zero_is_never_selected_and_an_identity_mask_is_flagged(tmp_path):
    source, val = _toy()
    # lr 0: the weights never move, every trained step equals step 0; the selection still takes a trained step
    s = _settings(mode="binary", init=1.0, steps=4, eval_every=2, lr=1e-12)
    sel = train_mask(source, val, [s], tmp_path / "o", tmp_path / "c", AUGMENT)
    info = sel["binary"]["chair"]
    assert info["step"] == 2 and info["identity"] is True and info["metrics"] == info["baseline_step0"]
    assert "identity" in info["flags"][0] and "equal the unmasked rows" in info["flags"][0]
    assert is_identity(np.full(5, 0.3, np.float32)) and not is_identity(np.array([0.3, 0.2], np.float32))
    assert is_identity(np.ones(4, bool)) and not is_identity(np.array([True, False]))


def test_resume_gives_the_uninterrupted_result(tmp_path):
    s = [_settings(mode="binary", init=0.12, steps=14, eval_every=4, lr=0.01), _settings(mode="continuous", init=0.12,
                                                                                         steps=14, eval_every=4, lr=0.01)]
    source, val = _toy(1)
    train_mask(source, val, s, tmp_path / "a", tmp_path / "ca", AUGMENT)
    # interrupted after 7 steps: the checkpoint holds step 4; steps 5-7 are redone
    source, val = _toy(1)
    assert train_mask(source, val, s, tmp_path / "b", tmp_path / "cb", AUGMENT, stop_after=7) == {}
    assert not (tmp_path / "b").exists()
    train_mask(source, val, s, tmp_path / "b", tmp_path / "cb", AUGMENT)
    for mode in ("binary", "continuous"):
        for name in ("best_chair.npy", "best_lamp.npy", "best_chair.json", "curves.csv", "curves.png"):
            assert (tmp_path / "a" / mode / name).read_bytes() == (tmp_path / "b" / mode / name).read_bytes(), name
    assert not load_mask(tmp_path / "a" / "binary" / "best_chair.npy").all()  # the mask changed during the run
    # other settings never resume someone else's checkpoint: they get their own folder
    train_mask(source, val, [_settings(mode="binary", init=0.12, steps=2, eval_every=2, lr=0.02)],
               tmp_path / "c", tmp_path / "cb", AUGMENT)
    assert len(list((tmp_path / "cb").glob(f"*/{CHECKPOINT}"))) == 2


def _ckpt(folder):
    (path,) = folder.glob(f"*/{CHECKPOINT}")
    return path


def test_demo_run_says_so(tmp_path):
    s = [_settings(steps=2, eval_every=2)]
    source, val = _toy()
    train_mask(source, val, s, tmp_path / "plain", tmp_path / "c1", AUGMENT)
    train_mask(source, val, s, tmp_path / "demo", tmp_path / "c2", AUGMENT, demo=True,
               train_set={"chosen": 16, "thesis": 4475})
    out = tmp_path / "demo" / "continuous"
    info = json.loads((out / "best_lamp.json").read_text())
    assert "DEMO" in info["notice"] and info["train_set"] == {"chosen": 16, "thesis": 4475}
    assert (out / "curves.png").read_bytes() != (tmp_path / "plain" / "continuous" / "curves.png").read_bytes()
    assert (out / "curves.csv").read_bytes() == (tmp_path / "plain" / "continuous" / "curves.csv").read_bytes()


# ----------------------------------------------------------------------------- bad input


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match=r"threshold must lie in \(0, 1\)"):
        _settings(threshold=1.5)
    with pytest.raises(ValueError, match=r"threshold must lie in \(0, 1\)"):
        _settings(threshold=0.0)
    with pytest.raises(ValueError, match="mode 'soft'"):
        _settings(mode="soft")
    with pytest.raises(ValueError, match="init=0.05 is below threshold"):
        _settings(mode="binary", init=0.05)
    with pytest.raises(ValueError, match="batch_size must be >= 2"):
        _settings(batch_size=1)
    with pytest.raises(ValueError, match="lacks \\['lr'"):
        MaskSettings.from_params({"threshold": 0.1, "batch_size": 4}, "binary", 0)


def test_bad_inputs_are_named(tmp_path):
    source, val = _toy()
    s = [_settings()]
    with pytest.raises(ValueError, match="two distinct views"):
        train_mask(ToyViews(source.ident, 1), val, s, tmp_path / "o", tmp_path / "c")
    with pytest.raises(ValueError, match="fewer than retrieval.masks.batch_size=8"):
        train_mask(ToyViews(source.ident[:5], 3), val, s, tmp_path / "o", tmp_path / "c")
    short = dict(val, lamp=ValSet(val["lamp"].sketches[:, :10], val["lamp"].truth, val["lamp"].gallery))
    with pytest.raises(ValueError, match=r"validation lamp: sketch features must be \[Q, 64\]"):
        train_mask(source, short, s, tmp_path / "o", tmp_path / "c")
    bad_truth = dict(val, chair=ValSet(val["chair"].sketches, val["chair"].truth + 5, val["chair"].gallery))
    with pytest.raises(ValueError, match="truth indices must lie in 0..7"):
        train_mask(source, bad_truth, s, tmp_path / "o", tmp_path / "c")
    with pytest.raises(ValueError, match="no validation class"):
        train_mask(source, {}, s, tmp_path / "o", tmp_path / "c")
    with pytest.raises(ValueError, match="must agree"):
        train_mask(source, val, [_settings(mode="binary"), _settings(steps=7)], tmp_path / "o", tmp_path / "c")
    assert not (tmp_path / "c").exists()  # refused before any work




def test_a_table_flags_an_identity_mask(tmp_path):
    from sketch3d.retrieval.evaluate import _mask_info
    from sketch3d.retrieval.tables import _mask_notes

    np.save(tmp_path / "best_chair.npy", np.ones(6, bool))
    (tmp_path / "best_chair.json").write_text(json.dumps({"mode": "binary", "selected_on": "chair", "step": 10}))
    info = _mask_info(tmp_path / "best_chair.npy", np.ones(6, bool))
    assert info["identity"] and info["step"] == 10 and info["kept_fraction"] == 1.0
    kept = _mask_info(tmp_path / "best_lamp.npy", np.array([True, False]))
    assert not kept["identity"] and kept["step"] is None
    files = []
    for name, mask in (("a", info), ("b", kept), ("c", None)):
        m = {"method": "binary_chair", "category": "chair", **({"mask": mask} if mask else {})}
        (tmp_path / f"{name}.json").write_text(json.dumps(m))
        files.append(tmp_path / f"{name}.json")
    (line,) = _mask_notes(files)
    assert line.count("mask of step") == 2 and line.count("FLAG: an identity mask") == 1
