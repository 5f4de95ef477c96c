"""Inversion speed (thesis 4.3.3): iterations/s of ``inversion.optimise`` per supervision against the bare
forward + backward of what one iteration runs, measured separately: the generator alone (styles -> feature
volume -> SDF on the target grid, eq. 4.6), the generator and the differentiable renderer (styles -> line
drawing), and CLIP's layer 3 on the drawing (forward + backward to the image). The gap between the
inversion and the sum of its parts is the loop's own cost (Adam, bookkeeping).

    OMP_NUM_THREADS=1 python benchmarks/bench_reconstruction.py [--generator PATH] [--settings JSON]
        [--iterations 5] [--grid 32] [--render-size 64] [--clip-size 224] [--backbone RN50]

Without ``--generator`` a randomly initialised generator of ``reconstruction.generator``'s architecture is
used (speed does not depend on the weights). Settings default to the demo's sizes; pass the effective
params as JSON to measure another profile's.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from timing import seconds_per_call  # benchmarks/timing.py


def build_generator(settings: dict, path: str | None):
    from sketch3d.reconstruction import generator as g

    if path:
        return g.load_for_settings(path, (settings.get("reconstruction") or {}).get("generator") or {})
    cfg = g.GeneratorConfig.from_settings((settings.get("reconstruction") or {}).get("generator") or {})
    return g.SDFStyleGAN(cfg)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generator", help="generator weights (default: random weights, same architecture)")
    ap.add_argument("--settings", help="effective params as JSON (default: demo sizes below)")
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--grid", type=int, default=32, help="target SDF grid resolution (sdf supervision)")
    ap.add_argument("--render-size", type=int, default=64)
    ap.add_argument("--clip-size", type=int, default=224)
    ap.add_argument("--backbone", default="RN50", help="CLIP ResNet (random weights): RN50 (demo) or RN101")
    ap.add_argument("--supervisions", nargs="+", default=["sdf", "clip", "clip_argmax"])
    a = ap.parse_args()

    from sketch3d.reconstruction import inversion as inv

    settings = json.loads(a.settings) if a.settings else {
        "seed": 0, "profile": "demo", "features": {"backbone": a.backbone, "weights": "random"},
        "render": {"camera_distance": 2.5, "lens_mm": 50, "front_axis": "+z", "azimuth_sign": 1},
        "reconstruction": {"generator": {}, "targets": {"elevation": 20}, "render": {"size": a.render_size},
                           "inversion": {"clip_size": a.clip_size}}}
    gen = build_generator(settings, a.generator).eval().requires_grad_(False)
    from sketch3d.reconstruction.generator import mean_style

    with torch.no_grad():
        mean = mean_style(gen, n=16, seed=0)
        other = mean + 0.1 * torch.randn(mean.shape, generator=torch.Generator().manual_seed(1))
        grid = inv.styles_grid(gen, other, a.grid)
        drawing = inv.render_lines(inv.mesh_frame_sdf(gen, gen.volume(other)), inv.view_for(settings, 0), settings)
    sketch = (drawing.clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    target = inv.Target("bench", sdf=grid, sketches={0.0: sketch})
    s = inv.inversion_settings(settings)
    clip = inv.clip_backbone(settings) if any(x != "sdf" for x in a.supervisions) else None
    size = ((settings.get("reconstruction") or {}).get("render") or {}).get("size", 64)
    print(f"torch threads {torch.get_num_threads()}, grid {a.grid}^3 (sdf_points {s.sdf_points or 'all'}), "
          f"render {size} px, CLIP {settings.get('features', {}).get('backbone')} at {s.clip_size} px, "
          f"generator {sum(p.numel() for p in gen.parameters())} parameters, W+ {tuple(mean.shape)}")

    styles = mean.clone().requires_grad_(True)
    pts = inv.grid_points(a.grid)
    tgt = torch.as_tensor(grid).reshape(-1)

    if s.sdf_points and s.sdf_points < len(pts):  # the same number of points as an iteration
        keep = torch.randperm(len(pts), generator=torch.Generator().manual_seed(0))[:s.sdf_points]
        pts, tgt = pts[keep], tgt[keep]

    def bare_sdf():
        styles.grad = None
        torch.nn.functional.mse_loss(gen.sdf(gen.volume(styles), pts[None])[0], tgt).backward()

    def bare_render():
        styles.grad = None
        inv.render_lines(inv.mesh_frame_sdf(gen, gen.volume(styles)), inv.view_for(settings, 0), settings).mean().backward()

    image = torch.rand(1, 3, s.clip_size, s.clip_size, requires_grad=True)

    def bare_clip():
        image.grad = None
        clip(image).mean().backward()

    parts = {"sdf": seconds_per_call(bare_sdf, a.iterations)}
    if clip is not None:
        parts["render"] = seconds_per_call(bare_render, a.iterations)
        parts["clip"] = seconds_per_call(bare_clip, a.iterations)
    for name, sec in parts.items():
        print(f"bare fwd+bwd {name:8s} {sec:7.3f} s   {1 / sec:7.2f} /s")
    for sup in a.supervisions:
        objective = inv.Objective(gen, target, sup, settings, s, mean, "cpu", clip)
        start = time.perf_counter()
        inv.optimise(objective, mean, 1, s.lr, s.snapshot_every, 0)  # warm-up
        start = time.perf_counter()
        inv.optimise(objective, mean, a.iterations, s.lr, s.snapshot_every, 0)
        sec = (time.perf_counter() - start) / a.iterations
        bare = parts["sdf"] if sup == "sdf" else parts["render"] + parts["clip"]
        print(f"inversion {sup:12s} {sec:7.3f} s/it  {1 / sec:7.2f} it/s   bare parts {bare:7.3f} s "
              f"(loop overhead {100 * (sec - bare) / sec:5.1f}%)")


if __name__ == "__main__":
    main()
