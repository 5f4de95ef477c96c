"""NetSpace's two costs (chapter 5): the net zoo and NetSpace's own training.

(a) The zoo (thesis C.4) is many independent jobs, one per member: its total work (every member one after
the other) against its critical path (the longest member, the ResNet56 teacher) bounds what N devices can
give, total / max(critical, total / N). Member times come from one member per architecture trained for a
few epochs on the demo images by ``zoo.train_member`` (per-epoch times from its ``on_epoch`` callback; the
rest of the call, evaluation, batch-norm folding and writing, is the member's fixed cost), scaled by each
planned member's epochs. Plans: the demo's (``load_params()``) and the paper's counts
(``load_params(overrides={"profile": "paper"})``); the paper's member times are the demo's epochs scaled by
the training images and pixels per epoch, a uniform factor (the speed-ups do not depend on it).

(b) NetSpace training (single setting, ``training.step_losses`` + backward + Adam step, the loop's body)
in images/s against a bare forward + backward of the same work: encoder, decoder and the decoded nets'
functional forward on the same images, no target nets, no loss terms, no optimiser. Random ResNet8 nets and
random images (the speed does not depend on the values).

    OMP_NUM_THREADS=1 python benchmarks/bench_netspace.py [--epochs 2] [--architectures resnet8 ...]
        [--steps 5] [--params params.yaml]
"""
from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import torch

from sketch3d.config import load_params
from sketch3d.netspace import architectures, training, zoo
from sketch3d.netspace.images import data_settings, load_splits
from sketch3d.netspace.model import NetSpace
from sketch3d.netspace.zoo import train_member, zoo_plan

from timing import seconds_per_call  # benchmarks/timing.py

DEVICES = (1, 2, 4, 8, 64)


def member_costs(settings: dict, archs: list[str], epochs: int, root: Path) -> dict[str, tuple[float, float]]:
    """architecture -> (seconds per epoch, fixed seconds per member) of one planned member trained ``epochs``
    epochs (the last epoch's time: the first pays for first calls)."""
    plan = zoo_plan(settings)
    data = load_splits(settings)
    out = {}
    for arch in archs:
        member = next(m for m in plan if m.architecture == arch)
        member = dataclasses.replace(member, epochs=epochs, milestones=())
        stamps = []
        start = time.perf_counter()
        train_member(member, settings, data, root / f"{member.name}.pt", root / "ckpt",
                     on_epoch=lambda e, row: stamps.append(time.perf_counter()))
        total = time.perf_counter() - start
        per_epoch = stamps[-1] - stamps[-2] if len(stamps) > 1 else stamps[0] - start
        out[arch] = (per_epoch, max(0.0, total - (stamps[-1] - start)))
    return out


def zoo_report(name: str, plan, costs: dict[str, tuple[float, float]], scale: float) -> None:
    """Total work, critical path and the N-device speed-ups of ``plan``; member times x ``scale``."""
    missing = sorted({m.architecture for m in plan} - set(costs))
    if missing:
        print(f"{name}: no timing for {missing}; add them to --architectures")
        return
    times = {m.name: (costs[m.architecture][0] * m.epochs + costs[m.architecture][1]) * scale for m in plan}
    total, longest = sum(times.values()), max(times, key=times.get)
    critical = times[longest]
    per_arch: dict[str, float] = {}
    for m in plan:
        key = f"{m.setting}:{m.architecture}"
        per_arch[key] = per_arch.get(key, 0.0) + times[m.name]
    print(f"{name}: {len(plan)} members, total work {total / 3600:8.2f} h, critical path {critical / 3600:8.2f} h "
          f"({longest}, {next(m.epochs for m in plan if m.name == longest)} epochs), total / critical "
          f"{total / critical:6.1f}")
    print("    work by setting:architecture: " + ", ".join(f"{k} {v / total:.0%}" for k, v in per_arch.items()))
    print("    speed-up on N devices: " + "   ".join(
        f"N={n}: {total / max(critical, total / n):5.1f}x" for n in DEVICES))


def netspace_step(settings: dict, steps: int) -> None:
    """images/s of the single setting's training step against the bare encoder-decoder-functional forward +
    backward of the same nets and images."""
    ns = settings["netspace"]
    s = training.effective("single", ns["training"]["single"])
    cfg = data_settings(settings)
    width = int(ns.get("prep", {}).get("width", 10000))
    k, n_img = int(s["nets_per_batch"]), int(s["images_per_net"])
    nets = []
    for i in range(k):
        net = architectures.build("resnet8", 10, cfg["image_size"], seed=i)
        net.eval()
        nets.append((net, {"name": f"resnet8_{i}", "architecture": "resnet8"}))
    templates = training.templates_for([n for n, _ in nets], "single")
    height = training.common_height(templates, width)
    targets = training.make_targets(nets, width, height)
    model = NetSpace.from_settings((height, width), ns.get("model", {}))
    opt = torch.optim.Adam(model.parameters(), lr=float(s["lr"]))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n_img, 3, cfg["image_size"], cfg["image_size"], generator=g)
    y = torch.randint(0, 10, (n_img,), generator=g)
    (template,) = templates.values()
    prep = torch.stack([t.prep for t in targets])

    def step() -> None:
        terms = training.step_losses(model, "single", targets, templates, x, y, None, s)
        opt.zero_grad()
        terms["total"].backward()
        opt.step()

    def bare() -> None:
        out = training.predicted_forward(template, model.decode(model.encode(prep)), x)
        model.zero_grad(set_to_none=True)
        out.sum().backward()

    loop, base = seconds_per_call(step, steps), seconds_per_call(bare, steps)
    print(f"NetSpace single step ({k} ResNet8 nets x {n_img} images, PRep {height}x{width}, embedding "
          f"{model.embedding}): {n_img / loop:7.1f} img/s ({k * n_img / loop:7.1f} net-images/s)   bare fwd+bwd "
          f"{n_img / base:7.1f} img/s   ratio {loop / base:5.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--epochs", type=int, default=2, help="epochs each timed member trains (>= 2: the last is kept)")
    ap.add_argument("--architectures", nargs="+", default=list(zoo.ARCHITECTURE_NAMES))
    ap.add_argument("--steps", type=int, default=5, help="NetSpace steps timed (after one warm-up)")
    ap.add_argument("--skip-zoo", action="store_true")
    a = ap.parse_args()
    demo = load_params(a.params)
    paper = load_params(a.params, overrides={"profile": "paper"})
    d_cfg, p_cfg = data_settings(demo), data_settings(paper)
    print(f"torch threads {torch.get_num_threads()}; demo images {d_cfg['dataset']} {d_cfg['splits']['train']} x "
          f"{d_cfg['image_size']}px, batch {d_cfg['batch']}")
    if not a.skip_zoo:
        with tempfile.TemporaryDirectory() as tmp:
            costs = member_costs(demo, a.architectures, a.epochs, Path(tmp))
        for arch, (per_epoch, fixed) in costs.items():
            print(f"{arch:11s} {per_epoch:6.2f} s/epoch ({d_cfg['splits']['train'] / per_epoch:7.1f} img/s), "
                  f"fixed {fixed:5.2f} s a member (evaluation, folding, writing)")
        scale = (p_cfg["splits"]["train"] / d_cfg["splits"]["train"]) * (p_cfg["image_size"] / d_cfg["image_size"]) ** 2
        zoo_report("demo zoo ", zoo_plan(demo), costs, 1.0)
        zoo_report("paper zoo", zoo_plan(paper), costs, scale)
        print(f"    (paper member times: the demo's x {scale:.0f}, the paper's training images and pixels per "
              "epoch over the demo's, on this machine's threads)")
    netspace_step(demo, a.steps)

if __name__ == "__main__":
    main()
