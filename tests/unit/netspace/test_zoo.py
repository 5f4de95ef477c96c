"""netspace.zoo: member identity independent of the counts, training one member on a few digits, resuming
after an interruption, batch-norm folding before the zoo."""
import json

import numpy as np

import pytest
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from sketch3d.netspace import zoo
from sketch3d.netspace.images import load_splits
from sketch3d.netspace.zoo import Member, ZooError, epoch_grid, read_member, train_member, zoo_members, zoo_plan

ARCHS = ("lenetlike", "vanillacnn", "resnet8", "resnet32")


def zoo_settings(single=(4, 2, 2), multi=2, unseen=1, seed=0):
    return {"seed": seed, "netspace": {"zoo": {
        "single": {"architecture": "resnet8", "count": dict(zip(("train", "val", "test"), single)),
                   "epochs": [1, 600], "optimizer": "adam", "lr": 1e-4},
        "multi": {"counts": {a: {"train": multi, "val": 1, "test": 1} for a in ARCHS}, "epochs": 300, "lr": 0.05,
                  "momentum": 0.9, "weight_decay": 5e-4, "milestones": [150, 180, 210]},
        "unseen": {"counts": {"lenetlike": {"train": unseen, "val": 1, "test": 1},
                              "resnet32": {"train": unseen, "val": 1, "test": 1}}},
        "teacher": {"architecture": "resnet56"}}}}


def test_plan_names_seeds_and_regimes():
    plan = zoo_plan(zoo_settings())
    names = [m.name for m in plan]
    assert len(names) == len(set(names)) == 8 + 4 * 4 + 1
    assert len({m.seed for m in plan}) == len(plan)
    single = [m for m in plan if m.setting == "single"]
    assert {m.regime for m in single} == {"adam"} and all(1 <= m.epochs <= 600 for m in single)
    assert all(m.lr == 1e-4 for m in single)
    multi = [m for m in plan if m.setting == "multi"]
    assert {(m.regime, m.epochs, m.lr, m.momentum, m.weight_decay, m.milestones) for m in multi} == {
        ("sgd", 300, 0.05, 0.9, 5e-4, (150, 180, 210))}
    teacher = [m for m in plan if m.setting == "teacher"]
    assert [(m.architecture, m.epochs, m.regime) for m in teacher] == [("resnet56", 300, "sgd")]
    assert Member.from_dict(json.loads(plan[3].to_json())) == plan[3]


def test_growing_a_count_keeps_every_existing_member():
    small = zoo_plan(zoo_settings(single=(4, 2, 2), multi=2))
    big = zoo_plan(zoo_settings(single=(10, 3, 2), multi=5))
    by_name = {m.name: m for m in big}
    assert all(by_name[m.name] == m for m in small)  # same seed, epochs, everything
    assert len(big) - len(small) == 6 + 1 + 4 * 3
    assert zoo_plan(zoo_settings(seed=1))[0].seed != small[0].seed


def test_single_epochs_follow_the_peers_schedule():
    # the peer's single lists (CVLAB-Unibo/netspace models/input_lists/*/single/*.txt, the epoch in each
    # checkpoint's name, 0-based): Tiny-ImageNet 132 nets in 0..185, 6 under 10 (4.5 %), median ~94;
    # CIFAR-10 132 nets in 43..599, none under 10, median ~126
    s = zoo_settings(single=(100, 16, 16))
    members = [m for split in ("train", "val", "test") for m in zoo_members(s, "single", split)]
    epochs = np.array([m.epochs for m in members])
    grid = set(epoch_grid(1, 600))
    assert len(grid) == 186 and sum(g < 10 for g in grid) == 9 and max(grid) == 600
    assert set(epochs.tolist()) <= grid
    assert (epochs < 10).mean() <= 0.08           # log-uniform over [1, 600] gave 36 %
    assert 70 <= np.median(epochs) <= 160         # the peer's medians: 94 (TIN) and 126 (CIFAR-10)
    assert epochs.min() <= 5 and epochs.max() >= 450   # the thesis's range, 1 to 600, is covered
    assert len(set(epochs.tolist())) >= 100       # spread, not clustered


def test_single_epochs_log_uniform_option():
    s = zoo_settings(single=(100, 16, 16))
    s["netspace"]["zoo"]["single"]["spacing"] = "log_uniform"
    epochs = sorted(m.epochs for m in zoo_members(s, "single", "train"))
    assert 1 <= epochs[0] <= 3 and 400 <= epochs[-1] <= 600
    # a log-uniform spread: about half the members below sqrt(600) ~ 24.5 epochs
    assert 40 <= sum(e < 24.5 for e in epochs) <= 60
    s["netspace"]["zoo"]["single"]["spacing"] = "linear"
    with pytest.raises(ZooError, match="spacing"):
        zoo_members(s, "single", "train")


def test_epoch_grid_is_the_peers_schedule():
    assert epoch_grid(1, 6) == [1, 2, 3, 4, 5, 6]
    assert epoch_grid(95, 112) == [95, 96, 97, 98, 99, 100, 102, 104, 106, 108, 110, 112]
    assert epoch_grid(470, 600) == [475, 500, 550, 600]
    assert epoch_grid(551, 599) == [551, 599]   # between two grid counts: the range's ends


def test_latent_starts_a_mid_zoo_single_net_and_the_first_multi_net_of_each_architecture():
    from sketch3d.netspace.latent_plan import latent_starts

    s = zoo_settings(single=(4, 2, 7), multi=2)
    test = zoo_members(s, "single", "test")
    starts = latent_starts(s)
    (single,) = [name for setting, name in starts.values() if setting == "single"]
    epochs = sorted(m.epochs for m in test)
    chosen = next(m for m in test if m.name == single)
    # the median of seven: three test nets train fewer epochs or as many, three more or as many
    assert chosen.epochs == epochs[3]
    assert sum(m.epochs < chosen.epochs for m in test) <= 3 and sum(m.epochs > chosen.epochs for m in test) <= 3
    assert len(set(epochs)) > 1  # the draw spreads them, so the median is not the first by accident
    multi = {k: v for k, v in starts.items() if v[0] == "multi"}
    assert multi == {f"multi-multi-{a}-test-000": ("multi", f"multi-{a}-test-000") for a in ARCHS}
    assert list(starts)[0] == f"single-{single}"


def test_unseen_is_a_subset_of_the_multi_zoo():
    s = zoo_settings(multi=3, unseen=2)
    unseen = zoo_members(s, "unseen", "train")
    assert [m.name for m in unseen] == ["multi-lenetlike-train-000", "multi-lenetlike-train-001",
                                        "multi-resnet32-train-000", "multi-resnet32-train-001"]
    assert [m.name for m in zoo_members(s, "unseen", "test")] == ["multi-lenetlike-test-000",
                                                                 "multi-resnet32-test-000"]
    with pytest.raises(ZooError, match="unseen.counts.lenetlike.train"):
        zoo_plan(zoo_settings(multi=1, unseen=2))
    assert zoo.member_by_name(s, "teacher-resnet56").architecture == "resnet56"
    with pytest.raises(ZooError, match="no zoo member"):
        zoo.member_by_name(s, "multi-resnet8-train-009")


def test_bad_zoo_settings_are_named():
    s = zoo_settings()
    s["netspace"]["zoo"]["single"]["epochs"] = [5, 2]
    with pytest.raises(ZooError, match="single.epochs"):
        zoo_plan(s)
    s = zoo_settings()
    s["netspace"]["zoo"]["multi"]["counts"]["resnet9"] = {"train": 1}
    with pytest.raises(ZooError, match="resnet9"):
        zoo_plan(s)


# ----------------------------------------------------------------------------- training


class TinyNet(nn.Module):
    """conv + batch norm + pooled linear classifier; ``batch_norm=False``: the folded form."""

    def __init__(self, batch_norm=True):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1, bias=not batch_norm)
        self.bn = nn.BatchNorm2d(4) if batch_norm else nn.Identity()
        self.fc = nn.Linear(4 * 4 * 4, 10)
        self.class_id = 7

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 4), 1))


def tiny_builder(member, num_classes, image_size):
    assert num_classes == 10 and image_size == 32
    torch.manual_seed(member.seed)
    return TinyNet()


def tiny_fold(model):
    folded = TinyNet(batch_norm=False)
    folded.conv = fuse_conv_bn_eval(model.conv.eval(), model.bn.eval())
    folded.fc.load_state_dict(model.fc.state_dict())
    return folded


@pytest.fixture(scope="module")
def digits():
    settings = {"seed": 0, "netspace": {"data": {"dataset": "digits", "image_size": 32, "augment": True,
                                                 "batch": 32, "splits": {"train": 96, "val": 40, "test": 60}}}}
    return settings, load_splits(settings)


def member(epochs=2, regime="sgd"):
    return Member("multi-resnet8-train-000", "multi", "resnet8", "train", 0, 11, regime, epochs, 0.05, 0.9, 5e-4, (1,))


def test_train_member_writes_a_folded_net_with_its_accuracies(tmp_path, digits):
    settings, data = digits
    rows = []
    meta = train_member(member(), settings, data, tmp_path / "m.pt", tmp_path / "ck", builder=tiny_builder,
                        fold=tiny_fold, on_epoch=lambda e, row: rows.append(row), curves=tmp_path / "c" / "curves.csv")
    assert [r["epoch"] for r in rows] == [1, 2] and [r["lr"] for r in rows] == pytest.approx([0.05, 0.005])
    # curves.csv: the curve of the member file, one row per epoch, floats to 6 significant digits
    lines = (tmp_path / "c" / "curves.csv").read_text().splitlines()
    assert lines[0] == "epoch,loss,train_accuracy,lr"
    assert lines[1:] == [f"{r['epoch']},{r['loss']:.6g},{r['train_accuracy']:.6g},{r['lr']:.6g}" for r in rows]
    assert not (tmp_path / "ck" / "multi-resnet8-train-000.pt").exists()  # checkpoint gone once done
    saved = read_member(tmp_path / "m.pt")
    assert saved["name"] == "multi-resnet8-train-000" and saved["epochs"] == 2 and saved["class_id"] == 7
    assert not any("bn" in k for k in saved["state_dict"])  # folded
    assert saved["params"] == sum(p.numel() for p in TinyNet().parameters())
    assert saved["params_folded"] == sum(p.numel() for p in TinyNet(False).parameters())
    # the folded net, rebuilt from the file, scores what the file says, which is what the unfolded net scored
    net = TinyNet(batch_norm=False)
    net.load_state_dict(saved["state_dict"])
    for split in ("val", "test"):
        acc = zoo.accuracy(net, *data[split])
        assert acc == pytest.approx(saved[f"{split}_accuracy"]) == pytest.approx(meta["unfolded"][split])
    assert meta["test_accuracy"] == saved["test_accuracy"]


def test_resume_after_an_interruption_gives_the_same_file(tmp_path, digits):
    settings, data = digits
    m = member(epochs=3, regime="adam")
    train_member(m, settings, data, tmp_path / "full.pt", tmp_path / "ck1", builder=tiny_builder, fold=tiny_fold)

    def stop(epoch, row):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_member(m, settings, data, tmp_path / "cut.pt", tmp_path / "ck2", builder=tiny_builder, fold=tiny_fold,
                     on_epoch=stop)
    assert not (tmp_path / "cut.pt").exists() and (tmp_path / "ck2" / f"{m.name}.pt").exists()
    seen = []
    train_member(m, settings, data, tmp_path / "cut.pt", tmp_path / "ck2", builder=tiny_builder, fold=tiny_fold,
                 on_epoch=lambda e, row: seen.append(e))
    assert seen == [3]  # only the epoch left
    assert (tmp_path / "cut.pt").read_bytes() == (tmp_path / "full.pt").read_bytes()


def test_a_checkpoint_of_another_member_is_not_resumed(tmp_path, digits):
    settings, data = digits
    m = member(epochs=2)

    def stop(epoch, row):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_member(m, settings, data, tmp_path / "a.pt", tmp_path / "ck", builder=tiny_builder, fold=tiny_fold,
                     on_epoch=stop)
    changed = Member(**{**m.to_dict(), "milestones": (1,), "lr": 0.01})
    seen = []
    train_member(changed, settings, data, tmp_path / "a.pt", tmp_path / "ck", builder=tiny_builder, fold=tiny_fold,
                 on_epoch=lambda e, row: seen.append(e))
    assert seen == [1, 2]


def test_wrong_images_are_refused_before_training(tmp_path, digits):
    settings, data = digits
    bad = {**data, "train": (data["train"][0].float(), data["train"][1])}
    with pytest.raises(ZooError, match="uint8"):
        train_member(member(), settings, bad, tmp_path / "m.pt", tmp_path / "ck", builder=tiny_builder)
    with pytest.raises(ZooError, match="not a readable zoo member"):
        (tmp_path / "junk.pt").write_bytes(b"junk")
        read_member(tmp_path / "junk.pt")


def test_real_architectures_fold_without_changing_accuracy(tmp_path, digits):
    pytest.importorskip("sketch3d.netspace.architectures")
    pytest.importorskip("sketch3d.netspace.bn_fold")
    from sketch3d.netspace.architectures import build

    settings, data = digits
    small = {s: (x[:32], y[:32]) for s, (x, y) in data.items()}
    for arch in ("lenetlike", "resnet8"):
        m = Member(f"multi-{arch}-train-000", "multi", arch, "train", 0, 3, "adam", 1, 1e-3)
        meta = train_member(m, settings, small, tmp_path / f"{arch}.pt", tmp_path / "ck")
        saved = read_member(tmp_path / f"{arch}.pt")
        net = build(arch, 10, 32, batch_norm=False)
        net.load_state_dict(saved["state_dict"])
        assert zoo.accuracy(net, *small["test"]) == pytest.approx(meta["unfolded"]["test"])
        assert saved["params"] == {"lenetlike": 62006, "resnet8": 78042}[arch]  # Table C.1


def test_block_b_commands(tmp_path, digits):
    from sketch3d import cli

    names = set(cli.commands())
    assert {"fetch_netspace", "train_member", "zoo_table"} <= names
    assert cli.main(["fetch_netspace", "--data-dir", str(tmp_path), "--out", str(tmp_path / "x.zip")]) == 1
    settings, _ = digits
    bad = cli.main(["train_member", "--member", '{"name": "x"}', "--settings", json.dumps(settings),
                    "--out", str(tmp_path / "m.pt")])
    assert bad == 1 and not (tmp_path / "m.pt").exists()


def test_multi_member_kept_at_its_best_validation_epoch(tmp_path, digits):
    # the peer's multi zoo keeps the checkpoint best on the validation images (epochs 210, 220, ..., 300)
    settings, data = digits
    m = Member("multi-resnet8-train-000", "multi", "resnet8", "train", 0, 11, "sgd", 4, 0.5, 0.9, 5e-4, (3,),
               best_after=1, best_every=1)
    rows = []
    meta = train_member(m, settings, data, tmp_path / "m.pt", tmp_path / "ck", builder=tiny_builder, fold=tiny_fold,
                        on_epoch=lambda e, row: rows.append(row))
    assert [("val_accuracy" in r) for r in rows] == [False, True, True, True]   # epochs 2..4 compete
    scored = [(r["val_accuracy"], -r["epoch"]) for r in rows if "val_accuracy" in r]
    best_acc, best_epoch = max(scored)[0], -max(scored)[1]  # the first epoch reaching the best
    assert meta["kept_epoch"] == best_epoch
    assert meta["val_accuracy"] == pytest.approx(best_acc)  # the folded kept net scores what it scored then
    with pytest.raises(ZooError, match="keep_best"):
        Member.from_dict({**m.to_dict(), "best_after": 4})


def test_keep_best_reaches_the_members_from_params():
    s = zoo_settings()
    s["netspace"]["zoo"]["multi"]["keep_best"] = {"after": 200, "every": 10}
    multi = zoo_members(s, "multi", "train")
    assert {(x.best_after, x.best_every) for x in multi} == {(200, 10)}
    assert zoo.best_candidate(multi[0], 210) and not zoo.best_candidate(multi[0], 200)
    assert not zoo.best_candidate(multi[0], 215) and zoo.best_candidate(multi[0], 300)
