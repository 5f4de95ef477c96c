"""Learned feature masking / weighting: the layer, its gradient, the loss, training, resume, selection."""
from __future__ import annotations

import json

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
    modulated_clip_loss,
    sample_batch,
    select_step,
    train_mask,
)
from sketch3d.retrieval.metrics import rank_of_truth, ranking


# ----------------------------------------------------------------------------- a toy problem

D_SIGNAL, D_NUISANCE = 16, 48


def _toy(seed: int = 0, shapes: int = 16, views: int = 3, copies: int = 2):
    """Shapes differ in the first D_SIGNAL features; views and copies add large noise to the others.

    The nuisance features make views of different shapes look alike (cosine), so learning to drop or
    down-weight them lowers the contrastive loss and helps retrieval."""
    rng = np.random.default_rng(seed)
    d = D_SIGNAL + D_NUISANCE
    ident = rng.normal(0, 1, (shapes, 1, 1, D_SIGNAL))

    def feats(n_views, n_copies, id_):
        sig = np.broadcast_to(id_, (id_.shape[0], n_views, n_copies, D_SIGNAL))
        sig = sig + rng.normal(0, 0.3, sig.shape)
        noise = rng.normal(0, 3.0, (id_.shape[0], n_views, n_copies, D_NUISANCE))
        return np.concatenate([sig, noise], axis=3).astype(np.float32)

    train = feats(views, copies, ident)
    val = {}
    for name in ("chair", "lamp"):
        g_id = rng.normal(0, 1, (8, 1, 1, D_SIGNAL))
        gallery = feats(views, 1, g_id)[:, :, 0]
        truth = np.repeat(np.arange(8), 2)
        sketches = feats(1, 1, g_id[truth])[:, 0, 0]
        val[name] = ValSet(sketches, truth, gallery)
    assert train.shape[3] == d
    return train, val


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


# ----------------------------------------------------------------------------- data


def test_sample_batch_pairs_two_views_of_the_same_distinct_shapes():
    s, v, a, d = 10, 4, 3, 3
    train = np.zeros((s, v, a, d), np.float32)
    train[..., 0] = np.arange(s)[:, None, None]
    train[..., 1] = np.arange(v)[None, :, None]
    train[..., 2] = np.arange(a)[None, None, :]
    rng = np.random.default_rng(0)
    seen_copies = set()
    for _ in range(20):
        x, y = sample_batch(train, 6, rng)
        assert x.dtype == np.float32 and x.shape == (6, d)
        assert np.array_equal(x[:, 0], y[:, 0]) and len(set(x[:, 0])) == 6
        assert (x[:, 1] != y[:, 1]).all()
        seen_copies |= set(x[:, 2]) | set(y[:, 2])
    assert seen_copies == {0, 1, 2}
    again = sample_batch(train, 6, np.random.default_rng(0))
    first = sample_batch(train, 6, np.random.default_rng(0))
    assert all(np.array_equal(p, q) for p, q in zip(again, first))


def test_sample_batch_reads_a_memory_map(tmp_path):
    train, _ = _toy()
    np.save(tmp_path / "t.npy", train)
    mm = np.load(tmp_path / "t.npy", mmap_mode="r")
    x, y = sample_batch(mm, 8, np.random.default_rng(5))
    x2, y2 = sample_batch(train, 8, np.random.default_rng(5))
    assert np.array_equal(x, x2) and np.array_equal(y, y2)


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


@pytest.mark.parametrize("mode,init", [("continuous", 1.0), ("binary", 0.15)])
def test_training_lowers_the_loss_on_a_separable_toy(tmp_path, mode, init):
    train, val = _toy()
    s = _settings(mode=mode, init=init, steps=40, eval_every=10, lr=0.03)
    sel = train_mask(train, val, s, tmp_path / "out", tmp_path / "ckpt")
    rows = list(np.genfromtxt(tmp_path / "out" / "curves.csv", delimiter=",", names=True))
    losses = [r["loss"] for r in rows[1:]]
    assert losses[-1] < 0.8 * losses[0]
    w = torch.load(_ckpt(tmp_path / "ckpt"), weights_only=True)["w"].numpy()
    if mode == "binary":
        mask = load_mask(tmp_path / "out" / "best_chair.npy")
        assert mask.dtype == bool
        final = w >= 0.1
        assert final[:D_SIGNAL].mean() > 0.9 and final[D_SIGNAL:].mean() < 0.5  # nuisance features dropped
    else:
        assert w[:D_SIGNAL].mean() > w[D_SIGNAL:].mean()  # nuisance features down-weighted
        assert load_mask(tmp_path / "out" / "best_chair.npy").dtype == np.float32
    for name in ("chair", "lamp"):
        info = json.loads((tmp_path / "out" / f"best_{name}.json").read_text())
        assert info == sel[name] and info["selected_on"] == name and info["mode"] == mode
        assert set(info["metrics"]) == {"chair", "lamp"}
        assert info["metrics"][name]["acc@1"] >= info["baseline_step0"][name]["acc@1"]
        assert "notice" not in info


def test_resume_gives_the_uninterrupted_result(tmp_path):
    train, val = _toy(1)
    s = _settings(mode="binary", init=0.12, steps=14, eval_every=4, lr=0.01)
    train_mask(train, val, s, tmp_path / "a", tmp_path / "ca")
    # interrupted after 7 steps: the checkpoint holds step 4; steps 5-7 are redone
    assert train_mask(train, val, s, tmp_path / "b", tmp_path / "cb", stop_after=7) == {}
    assert not (tmp_path / "b").exists()
    assert torch.load(_ckpt(tmp_path / "cb"), weights_only=True)["step"] == 4
    train_mask(train, val, s, tmp_path / "b", tmp_path / "cb")
    wa = torch.load(_ckpt(tmp_path / "ca"), weights_only=True)
    wb = torch.load(_ckpt(tmp_path / "cb"), weights_only=True)
    assert torch.equal(wa["w"], wb["w"]) and wa["step"] == wb["step"] == 14
    assert [r["step"] for r in wa["curve"]] == [0, 4, 8, 12, 14]
    assert (wa["w"] < 0.1).any()  # the mask changed during the run
    for name in ("best_chair.npy", "best_lamp.npy", "best_chair.json", "curves.csv", "curves.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    # a finished run given again only rewrites its outputs
    train_mask(train, val, s, tmp_path / "b", tmp_path / "cb")
    assert (tmp_path / "a" / "curves.csv").read_bytes() == (tmp_path / "b" / "curves.csv").read_bytes()
    # other settings never resume someone else's checkpoint: they get their own folder
    train_mask(train, val, _settings(mode="binary", init=0.12, steps=14, eval_every=4, lr=0.02),
               tmp_path / "c", tmp_path / "cb")
    assert len(list((tmp_path / "cb").glob(f"*/{CHECKPOINT}"))) == 2
    assert torch.equal(torch.load(_ckpt(tmp_path / "ca"), weights_only=True)["w"], wb["w"])


def _ckpt(folder):
    (path,) = folder.glob(f"*/{CHECKPOINT}")
    return path


def test_demo_run_says_so(tmp_path):
    train, val = _toy()
    s = _settings(steps=4, eval_every=2)
    train_mask(train, val, s, tmp_path / "plain", tmp_path / "c1")
    train_mask(train, val, s, tmp_path / "demo", tmp_path / "c2", demo=True)
    assert "DEMO" in json.loads((tmp_path / "demo" / "best_lamp.json").read_text())["notice"]
    assert (tmp_path / "demo" / "curves.png").read_bytes() != (tmp_path / "plain" / "curves.png").read_bytes()
    assert (tmp_path / "demo" / "curves.csv").read_bytes() == (tmp_path / "plain" / "curves.csv").read_bytes()


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
    train, val = _toy()
    s = _settings()
    with pytest.raises(ValueError, match=r"\[S shapes, V views, A augmentations, D\]"):
        train_mask(train[:, :, 0], val, s, tmp_path / "o", tmp_path / "c")
    with pytest.raises(ValueError, match="two distinct views"):
        train_mask(train[:, :1], val, s, tmp_path / "o", tmp_path / "c")
    with pytest.raises(ValueError, match="fewer than retrieval.masks.batch_size=8"):
        train_mask(train[:5], val, s, tmp_path / "o", tmp_path / "c")
    short = dict(val, lamp=ValSet(val["lamp"].sketches[:, :10], val["lamp"].truth, val["lamp"].gallery))
    with pytest.raises(ValueError, match=r"validation lamp: sketch features must be \[Q, 64\]"):
        train_mask(train, short, s, tmp_path / "o", tmp_path / "c")
    bad_truth = dict(val, chair=ValSet(val["chair"].sketches, val["chair"].truth + 5, val["chair"].gallery))
    with pytest.raises(ValueError, match="truth indices must lie in 0..7"):
        train_mask(train, bad_truth, s, tmp_path / "o", tmp_path / "c")
    with pytest.raises(ValueError, match="no validation class"):
        train_mask(train, {}, s, tmp_path / "o", tmp_path / "c")
    assert not (tmp_path / "c").exists()  # refused before any work


# ----------------------------------------------------------------------------- the command


def test_train_mask_command(tmp_path):
    train, val = _toy()
    np.save(tmp_path / "train.npy", train)
    args = []
    for name, v in val.items():
        # the feature stage's files: rows + ids; gallery rows shuffled, the reader regroups them by shape and view
        g, n_views = v.gallery, v.gallery.shape[1]
        shape_ids = [f"{name}{i:03d}" for i in range(g.shape[0])]
        rows = [(s, az, g[i, k]) for i, s in enumerate(shape_ids) for k, az in enumerate(range(0, 30 * n_views, 30))]
        rows = [rows[j] for j in np.random.default_rng(3).permutation(len(rows))]
        np.save(tmp_path / f"{name}_g.npy", np.stack([r[2] for r in rows]))
        pd.DataFrame({"image_id": [f"{s}_{az}" for s, az, _ in rows], "shape_id": [s for s, _, _ in rows],
                      "azimuth": [az for _, az, _ in rows]}).to_csv(tmp_path / f"{name}_g.csv", index=False)
        np.save(tmp_path / f"{name}_q.npy", v.sketches)
        pd.DataFrame({"image_id": range(len(v.truth)), "shape_id": [shape_ids[t] for t in v.truth],
                      "azimuth": 0}).to_csv(tmp_path / f"{name}_q.csv", index=False)
        args += ["--val", name, *(str(tmp_path / f"{name}_{p}") for p in ("q.npy", "q.csv", "g.npy", "g.csv"))]
        back = ValSet.from_files(*(tmp_path / f"{name}_{p}" for p in ("q.npy", "q.csv", "g.npy", "g.csv")))
        assert np.array_equal(back.gallery, g) and np.array_equal(back.truth, v.truth)
    block = {"modes": ["binary", "continuous"], "threshold": 0.1, "batch_size": 8, "lr": 0.01, "steps": 6,
             "eval_every": 3, "temperature": 0.1, "init": 1.0}
    settings = json.dumps({"seed": 0, "profile": "demo", "retrieval": {"chunk_size": 64, "masks": block}})
    rc = main(["train_mask", "--settings", settings, "--mode", "binary", "--train", str(tmp_path / "train.npy"),
               *args, "--out", str(tmp_path / "out"), "--checkpoints", str(tmp_path / "ckpt")])
    assert rc == 0
    info = json.loads((tmp_path / "out" / "best_chair.json").read_text())
    assert info["mode"] == "binary" and "notice" in info
    assert load_mask(tmp_path / "out" / "best_lamp.npy").shape == (train.shape[3],)
