"""The net zoos NetSpace embeds (thesis 5.4, appendix C.4 "Nets Datasets"): which networks exist, and training
one of them.

Three zoos, one per setting of the thesis:

- ``single``: instances of one architecture (ResNet8) trained with Adam at a constant learning rate (1e-4) for
  different numbers of epochs (thesis: 1 to 600), so that their accuracies vary smoothly; 100 / 16 / 16
  train / val / test instances. Each member draws its own epoch count from ``epoch_grid`` (``spacing: peer``,
  the default): the peer's schedule (github CVLAB-Unibo/netspace, ``create_nets_dataset_single.py``), every
  epoch up to 100, every 2nd to 200, every 5th to 300, every 10th to 400, every 25th to 500, every 50th to
  600 (186 counts, 9 of them under 10 epochs; the peer's epoch e trains e epochs, 0 to 599, ours e + 1, the
  thesis's 1 to 600), of which the peer trains a random subset; member i of a split
  takes the grid entry at u_i = frac(offset + i * golden ratio) (offset seeded per split), a sequence whose
  every prefix covers [0, 1) evenly, so the members spread over the grid as the peer's random picks do (the
  peer's lists: Tiny-ImageNet 0-185 epochs, 4 % under 10; CIFAR-10 43-549). ``spacing: log_uniform`` maps u_i
  to min * (max / min) ** u_i instead (this project's earlier choice: 36 % under 10 epochs in [1, 600]).
- ``multi``: instances of LeNetLike, VanillaCNN, ResNet8 and ResNet32 trained for the best accuracy with SGD
  (lr 0.05, momentum 0.9, weight decay 5e-4, 300 epochs, lr x 0.1 at epochs 150, 180, 210); thesis counts
  60 / 50 / 60 / 100 train, 16 val and 16 test instances per architecture (64 each in the peer's lists:
  what matters is that member i keeps its identity).
- ``unseen``: no networks of its own: a subset of the multi zoo (thesis: 40 LeNetLike + 80 ResNet32 for
  training; the peer's ``missing`` lists name the same checkpoints as its ``multi`` lists). ``zoo_members``
  returns the first ``count`` multi members of each architecture and split.
- ``teacher``: one ResNet56 (thesis 5.4: "a ResNet56 with high performance", the KD teacher of eqs. 5.3, 5.11),
  trained with the multi regime.

A member's name, seed and epoch count depend only on the global seed, its setting, architecture, split and
index, never on the counts: raising a count adds members and leaves the existing ones (and their files)
untouched. Architectures with batch norm (the ResNets) are trained with it and folded before they enter the
zoo (thesis C.6).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from sketch3d.atomic import save_torch
from sketch3d.netspace import host
from sketch3d.names import SPLITS
from sketch3d.netspace.images import DATASETS, batches, data_settings, load_splits
from sketch3d.netspace.zoo_plan import (  # noqa: F401  (the plan's home: the light zoo_plan module)
    _arch, ARCHITECTURE_NAMES, best_candidate, _check_member, _counts, epoch_grid, EPOCH_SPACINGS, GOLDEN, Member,
    member_by_name, member_seed, MEMBER_SPLITS, _multi, _need, SETTINGS, _sgd_regime, _single, spread_epochs,
    _teacher, _zoo, zoo_members, zoo_plan, ZooError)
from sketch3d.codeversion import code_version
from sketch3d.training_loop import Checkpoint, TrainingLoop, fingerprint, write_curves

log = logging.getLogger("sketch3d")

FORMAT = 1  # of the member file


def _default_builder(member: Member, num_classes: int, image_size: int) -> nn.Module:
    from sketch3d.netspace.architectures import ARCHITECTURES, build

    bn = ARCHITECTURES[member.architecture].trained_with_batch_norm
    return build(member.architecture, num_classes, image_size, batch_norm=bn, seed=member.seed)


def _default_fold(model: nn.Module) -> nn.Module:
    from sketch3d.netspace.bn_fold import fold_batchnorm

    return fold_batchnorm(model)


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def _optimizer(member: Member, model: nn.Module) -> tuple[torch.optim.Optimizer, object]:
    if member.regime == "adam":
        return torch.optim.Adam(model.parameters(), lr=member.lr), None
    opt = torch.optim.SGD(model.parameters(), lr=member.lr, momentum=member.momentum,
                          weight_decay=member.weight_decay)
    return opt, torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(member.milestones), gamma=0.1)


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch: int = 256,
             device: torch.device | str = "cpu") -> float:
    """Top-1 accuracy in percent of ``model`` (eval mode) on uint8 images."""
    if len(images) == 0:
        return float("nan")
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=device)
    for x, y in batches(images, labels, batch, device=device):
        correct += (model(x).argmax(1) == y).sum()
    return 100.0 * host.value(correct) / len(images)


def _epoch_generator(member: Member, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(np.random.SeedSequence([member.seed, epoch]).generate_state(1)[0]))


def train_epoch(model: nn.Module, opt: torch.optim.Optimizer, images: torch.Tensor, labels: torch.Tensor, batch: int,
                generator: torch.Generator, augmented: bool, device: torch.device | str) -> dict:
    """One epoch of cross-entropy training over uint8 ``images`` (batches drawn and augmented on the host with
    ``generator``, then moved to ``device``). Returns ``{"loss": sum of the batch losses x their sizes,
    "correct": right training predictions}`` as tensors on ``device`` (no host sync inside the epoch) and
    ``"total"`` (images seen)."""
    model.train()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    total = 0
    for x, y in batches(images, labels, batch, generator, augmented, device):
        opt.zero_grad(set_to_none=True)
        out = model(x)
        loss = nn.functional.cross_entropy(out, y)
        loss.backward()
        opt.step()
        loss_sum += loss.detach() * len(y)
        correct += (out.detach().argmax(1) == y).sum()
        total += len(y)
    return {"loss": loss_sum, "correct": correct, "total": total}


def train_member(member: Member, settings: dict, data: dict | None, out_path: str | Path,
                 checkpoint_dir: str | Path, device: torch.device | str = "cpu", *,
                 builder: Callable[[Member, int, int], nn.Module] | None = None,
                 fold: Callable[[nn.Module], nn.Module] | None = None,
                 on_epoch: Callable[[int, dict], None] | None = None, curves: str | Path | None = None) -> dict:
    """Train ``member`` on the image set and write its zoo file; return the file's metadata.

    ``settings``: ``{"seed", "netspace": {"data": {...}}}`` (see ``images.load_split``); reads ``dataset``
    (classes), ``image_size``, ``batch`` (thesis 128) and ``augment`` (thesis: yes; pad-crop + flip).
    ``data``: ``{"train": (images, labels), "val": ..., "test": ...}`` as ``images.load_splits`` gives (None:
    loaded here). The member's regime, epochs, lr and seed come from ``member`` only.

    Resumable (``sketch3d.training_loop``): after every epoch the model, optimiser, lr schedule and curve are saved atomically to
    ``checkpoint_dir/<name>.pt``; a rerun continues after the last saved epoch (each epoch's batch order and
    augmentation come from (member seed, epoch), so an interrupted and an uninterrupted run give the same
    file). A checkpoint of another member definition or image set is ignored. At the end a network with batch
    norm is folded (C.6: ``bn_fold.fold_batchnorm``); val / test accuracies are of the folded network (the
    unfolded one's are kept beside them). ``out_path`` (written atomically, torch.save of a dict):
    ``state_dict`` (the folded network's tensors), ``architecture``, ``class_id``, ``num_classes``,
    ``image_size``, ``member``, ``epochs``, ``seed``, ``params`` (the trained network's count, Table C.1's),
    ``params_folded``, ``val_accuracy``, ``test_accuracy``, ``unfolded`` (their values before folding),
    ``curve`` (per epoch: loss, train accuracy, lr), ``dataset``. The checkpoint is removed afterwards.
    ``builder(member, num_classes, image_size)``: the trainable network (default ``architectures.build`` with
    batch norm where the architecture is trained with it, seeded by the member); ``fold``: BN folding
    (default ``bn_fold.fold_batchnorm``); ``on_epoch(epoch, row)``: called after each saved epoch; ``curves``: where
    to write the curve as ``curves.csv`` (``training_loop.write_curves``; None: not written).
    """
    _check_member(member)
    cfg = data_settings(settings)
    n_classes = DATASETS[cfg["dataset"]].num_classes
    if data is None:
        data = load_splits(settings)
    for s in SPLITS:
        if s not in data:
            raise ZooError(f"train_member {member.name}: no {s} images given; pass images.load_splits(settings)")
        x, y = data[s]
        if x.ndim != 4 or x.shape[1:] != (3, cfg["image_size"], cfg["image_size"]) or x.dtype != torch.uint8 \
                or len(x) != len(y):
            raise ZooError(f"train_member {member.name}: {s} images must be uint8 [N, 3, {cfg['image_size']}, "
                           f"{cfg['image_size']}] with N labels, got {tuple(x.shape)} {x.dtype}, {len(y)} labels")
    device = torch.device(device)
    build = builder or _default_builder
    model = build(member, n_classes, cfg["image_size"]).to(device)
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    opt, sched = _optimizer(member, model)
    # a checkpoint of another member definition or image set is ignored: the member starts afresh
    checkpoint = Checkpoint(path=Path(checkpoint_dir) / f"{member.name}.pt",
                            fingerprint=fingerprint({"member": member.to_dict(), "data": cfg}), on_mismatch="ignore",
                            map_location=device, weights_only=False, code=code_version(__name__))
    loop = TrainingLoop(f"train_member {member.name}", total=member.epochs, checkpoint=checkpoint, unit="epoch",
                        state={"model": model, "optimizer": opt, "scheduler": sched},
                        values={"curve": [], "best": {"epoch": None, "val_accuracy": None, "state": None}})
    loop.resume()
    curve, best = loop.values["curve"], loop.values["best"]
    x_train, y_train = data["train"]

    def step(epoch: int) -> None:
        lr = opt.param_groups[0]["lr"]
        sums = train_epoch(model, opt, x_train, y_train, cfg["batch"], _epoch_generator(member, epoch),
                           bool(cfg["augment"]), device)
        if sched is not None:
            sched.step()
        total = sums["total"]
        row = {"epoch": epoch + 1, "loss": host.value(sums["loss"]) / total,
               "train_accuracy": 100.0 * host.value(sums["correct"]) / total, "lr": lr}
        if best_candidate(member, epoch + 1):  # the peer's "best" mode: validation accuracy, unfolded net
            row["val_accuracy"] = accuracy(model, *data["val"], device=device)
            if best["val_accuracy"] is None or row["val_accuracy"] > best["val_accuracy"]:
                best.update(epoch=epoch + 1, val_accuracy=row["val_accuracy"],
                            state={k: v.detach().clone() for k, v in model.state_dict().items()})
        curve.append(row)
        loop.progress(row)

    loop.run(step, after_checkpoint=None if on_epoch is None else lambda epoch: on_epoch(epoch, curve[-1]))
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    model.eval()
    unfolded = {s: accuracy(model, *data[s], device=device) for s in ("val", "test")}
    if has_batchnorm(model):
        model = (fold or _default_fold)(model).to(device).eval()
        if has_batchnorm(model):
            raise ZooError(f"train_member {member.name}: the folded network still holds batch norm; fix the fold")
    acc = {s: accuracy(model, *data[s], device=device) for s in ("val", "test")}
    meta = {
        "format": FORMAT, "name": member.name, "architecture": member.architecture,
        "class_id": getattr(model, "class_id", None), "num_classes": n_classes, "image_size": cfg["image_size"],
        "dataset": cfg["dataset"], "member": member.to_dict(), "epochs": member.epochs, "seed": member.seed,
        "kept_epoch": best["epoch"] or member.epochs,
        "params": params, "params_folded": sum(p.numel() for p in model.parameters()),
        "val_accuracy": acc["val"], "test_accuracy": acc["test"], "unfolded": unfolded, "curve": curve,
    }
    meta = json.loads(json.dumps(meta))  # plain objects built one way: a resumed run pickles byte for byte alike
    state_dict = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    save_torch({**meta, "state_dict": state_dict}, out_path)
    if curves is not None:
        write_curves(curves, curve)
    checkpoint.path.unlink(missing_ok=True)
    log.info("train_member %s: %d epochs, val %.2f%%, test %.2f%%", member.name, member.epochs, acc["val"], acc["test"])
    return meta


def read_member(path: str | Path) -> dict:
    """A zoo file written by :func:`train_member` (the dict, state_dict included); ZooError if it is not one."""
    path = Path(path)
    try:
        d = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ZooError(f"{path}: no such zoo member file; run its train_member rule") from None
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same advice
        raise ZooError(f"{path}: not a readable zoo member file ({type(e).__name__}: {e}); delete it and rerun "
                       "its train_member rule") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT or "state_dict" not in d:
        raise ZooError(f"{path}: not a zoo member file of format {FORMAT}; delete it and rerun its train_member rule")
    return d
