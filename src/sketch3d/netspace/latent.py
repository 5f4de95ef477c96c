"""Latent space optimisation (chapter 5.4, Table 5.1): NetSpace frozen, the embedding of a test net optimised.

The start embedding is the frozen encoder's of a test net; each step decodes it (a PRep and, in the multi settings,
a ClassId whose architecture receives the PRep), runs the decoded net on a batch of training images and minimises
L_kd against the teacher (eq. 5.5) - plus, multi, L_class towards the start net's ClassId (eq. 5.6) - with respect
to the embedding only. The embedding kept is the one whose decoded net is best on the validation images (the peer
keeps the best validation accuracy); its test accuracy is Table 5.1's "optimized", the start net's own test
accuracy its "initial" (5.4: "the performances of the instances used to obtain the initial embeddings").

Settings (``netspace.latent``): ``lr`` 1e-4 (Adam, constant, C.4; the peer: 0.01 single, 1e-4 multi); ``patience``:
the stopping rule, C.4's "stopping the training when the accuracy achieved by the optimized network doesn't show
any additional improvement": the run stops after ``patience`` validations in a row without a new best validation
accuracy (:func:`stopped`; 0 or null: no rule); ``steps``: a cap on the steps (the peer runs a fixed 1000 epochs
single, 500 multi, and keeps the best validation accuracy); ``images_per_step`` 128; ``alpha`` 0.9, ``temperature`` 4; ``eval_every`` steps between
validations; ``eval_images`` validation images per validation (default all); ``seed``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from sketch3d.atomic import write_text
from sketch3d.names import SPLITS
from sketch3d import training_blas
from sketch3d.numerics import training_kernels
from sketch3d.netspace import host, losses
from sketch3d.netspace.model import NetSpace
from sketch3d.netspace.training import CLASSIFIERS, FixedLogits, Target, accuracy, predicted_forward, templates_for
from sketch3d.training_loop import TrainingLoop

DEFAULTS = {"lr": 1e-4, "images_per_step": 128, "alpha": 0.9, "temperature": 4.0, "seed": 0}


class LatentInputError(ValueError):
    """Bad settings or inputs of the latent space optimisation."""


def stopped(validations, patience: int | None) -> bool:
    """The stopping rule: True when the last ``patience`` validation accuracies (``validations``, in order, the
    start's first) hold none above the best before them ("until the accuracy stops improving", C.4). A tie is no
    improvement. ``patience`` 0 or None: never."""
    if not patience or len(validations) <= int(patience):
        return False
    head, tail = validations[:-int(patience)], validations[-int(patience):]
    return max(tail) <= max(head)


def _decoded(model: NetSpace, e: torch.Tensor, templates: Mapping[str, nn.Module]):
    """(architecture, PRep [H, W], ClassId logits or None) of the embedding ``e`` [1, E]."""
    p = model.decode(e)[0]
    if model.head is None:
        (name,) = templates
        return name, p, None
    logits = model.classify(e)
    return CLASSIFIERS[host.ids(logits)[0]], p, logits


# the whole optimisation, the start's encoding and the accuracies before and after the loop included, on the
# loop's kernels: the same numbers on every x86-64 CPU kind (sketch3d.numerics)
@training_kernels()
def optimise_latent(model: NetSpace, start: Target, teacher: nn.Module, data: Mapping, settings: Mapping,
                    device: str = "cpu") -> dict:
    """Optimise the embedding of ``start`` (a ``training.Target``) in the frozen ``model``; ``data``:
    ``{"train", "val", "test"}`` (images, labels; float, or uint8 training images with ``"train_transform"``:
    ``(images, generator) -> float images``, as in ``training.train_netspace``; without it, optionally
    ``"teacher_logits"``, the teacher's logits on the training images). Returns initial / optimised accuracies and the curve."""
    training_blas.check()
    s = {**DEFAULTS, **dict(settings)}
    for key in ("steps", "eval_every"):
        if int(s.get(key, 0)) < 1:
            raise LatentInputError(f"netspace.latent.{key}: must be a positive integer, got {s.get(key)!r}")
    missing = [k for k in SPLITS if k not in data]
    if missing:
        raise LatentInputError(f"latent optimisation: image splits {missing} missing")
    templates = {k: v.to(device) for k, v in
                 templates_for([start.net], "multi" if model.head is not None else "single").items()}
    model, teacher, net = model.to(device), teacher.to(device), start.net.to(device)
    for p in model.parameters():
        p.requires_grad_(False)
    model.eval()
    gen = torch.Generator().manual_seed(int(s["seed"]))
    (tx, ty), (vx, vy), (sx, sy) = data["train"], data["val"], data["test"]
    if s.get("eval_images"):  # the subset drawn on the host, then moved
        idx = torch.randperm(len(vx), generator=torch.Generator().manual_seed(int(s["seed"]) + 1))
        vx, vy = vx[idx[:int(s["eval_images"])]], vy[idx[:int(s["eval_images"])]]
    vx, vy, sx, sy = vx.to(device), vy.to(device), sx.to(device), sy.to(device)
    with torch.no_grad():
        e0 = model.encode(start.prep.to(device).unsqueeze(0))
    e = e0.clone().requires_grad_(True)
    opt = torch.optim.Adam([e], lr=float(s["lr"]))
    want = torch.tensor([start.class_id], device=device) if model.head is not None else None
    # fixed training images: the teacher's logits on them once, looked up by each step (training.FixedLogits)
    fixed = None
    if data.get("train_transform") is None:
        fixed = (FixedLogits.given("teacher", data["teacher_logits"], tx, device)
                 if data.get("teacher_logits") is not None else FixedLogits.build({"teacher": teacher}, tx, device))

    def val_acc() -> tuple[float, str, torch.Tensor]:
        """Validation accuracy of the net decoded from ``e``, its architecture and PRep (kept: a paper-size
        decode is the costly part, and the best one's PRep gives the test accuracy below)."""
        with torch.no_grad():
            arch, p, _ = _decoded(model, e, templates)
            return accuracy(lambda b: predicted_forward(templates[arch], p, b), vx, vy), arch, p

    best_acc, arch0, p0 = val_acc()  # e is e0 here
    best = {"acc": best_acc, "step": 0, "e": e.detach().clone(), "architecture": arch0, "prep": p0}
    curve = [{"step": 0, "loss": None, "validation": best_acc, "architecture": arch0}]
    loop = TrainingLoop("optimise_latent", total=int(s["steps"]),
                        modules=[("model", model), ("teacher", teacher), *templates.items()],
                        values={"running": 0.0, "n": 0})  # minutes at most: no checkpoint
    v = loop.values

    def step(i: int) -> None:
        idx = torch.randperm(len(tx), generator=gen)[:int(s["images_per_step"])]
        x, y = tx[idx], ty[idx]
        if data.get("train_transform") is not None:
            x = data["train_transform"](x, gen)
        x, y = x.to(device), y.to(device)
        if fixed is not None:
            t_logits = fixed.rows("teacher", idx)
        else:
            with torch.no_grad():
                t_logits = teacher(x)
        arch, p, c_logits = _decoded(model, e, templates)
        loss = losses.l_kd(predicted_forward(templates[arch], p, x), t_logits, y, float(s["alpha"]),
                           float(s["temperature"]))
        if want is not None:
            loss = loss + losses.l_class(c_logits, want)
        opt.zero_grad()
        loss.backward()
        opt.step()
        v["running"], v["n"] = v["running"] + host.value(loss.detach()), v["n"] + 1

    def evaluate(step: int) -> None:
        nonlocal best
        acc, arch, p_val = val_acc()
        curve.append({"step": step, "loss": v["running"] / v["n"], "validation": acc, "architecture": arch})
        loop.progress(curve[-1])
        v["running"], v["n"] = 0.0, 0
        if acc > best["acc"]:
            best = {"acc": acc, "step": step, "e": e.detach().clone(), "architecture": arch, "prep": p_val}
        if stopped([c["validation"] for c in curve], s.get("patience")):
            loop.stop()

    loop.run(step, evaluate=evaluate, eval_every=int(s["eval_every"]))

    def test_acc(arch: str, p: torch.Tensor) -> float:
        with torch.no_grad():
            return accuracy(lambda b: predicted_forward(templates[arch], p, b), sx, sy)

    decoded0 = test_acc(arch0, p0)
    optimised, arch_best = test_acc(best["architecture"], best["prep"]), best["architecture"]
    return {"net": start.name, "architecture": start.architecture, "class_id": start.class_id,
            "initial": accuracy(net, sx, sy), "initial_decoded": decoded0, "initial_decoded_architecture": arch0,
            "optimized": optimised, "optimized_architecture": arch_best, "best_step": best["step"],
            "best_validation": best["acc"], "steps": curve[-1]["step"],
            "stopped_early": curve[-1]["step"] < int(s["steps"]), "curve": curve}


def write_latent(result: Mapping, setting: str, path: str | Path, demo: bool) -> None:
    """The LSO result as JSON (atomically), with the NetSpace setting and the profile."""
    write_text(path, json.dumps({**result, "setting": setting, "demo": bool(demo)}, indent=1, sort_keys=True) + "\n")
