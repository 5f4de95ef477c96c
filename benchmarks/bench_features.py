"""Throughput of the feature stage against a bare forward pass of the same backbone.

    python benchmarks/bench_features.py            # N=64 synthetic line images, CPU
    python benchmarks/bench_features.py --n 512 --device cuda:0 --batch-size 32

Both measurements run in the same process on the same number of images:
``embed_images`` with an empty cache (decode, box fit, embed, cache writes)
and ``model(x)`` on pre-made tensors. The stage should reach >= 90% of the bare
rate; the backbone build time is reported apart, since it is paid once per job.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

import sketch3d.features.extract as extract_mod
from sketch3d.features.backbone import FeatureSpec, load_backbone
from sketch3d.features.extract import embed_images, prepare_batch


def make_images(folder: Path, n: int, seed: int) -> list[Path]:
    """``n`` distinct random polyline drawings, 256x256 black on white (like simulated sketches)."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        img = Image.new("L", (256, 256), 255)
        d = ImageDraw.Draw(img)
        for _ in range(rng.integers(4, 10)):
            pts = [tuple(p) for p in rng.uniform(20, 236, size=(rng.integers(2, 6), 2))]
            d.line(pts, fill=0, width=int(rng.integers(1, 4)))
        p = folder / f"img_{i:05d}.png"
        img.save(p)
        paths.append(p)
    return paths


def _sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def bare_pass(spec: FeatureSpec, paths: list[Path], box: int, device: str, batch_size: int) -> float:
    """Images per second of model(x) alone on pre-made, device-resident batches."""
    model = load_backbone(spec, device).to(memory_format=torch.channels_last)
    batches = [prepare_batch(paths[s : s + batch_size], box).to(device) for s in range(0, len(paths), batch_size)]
    with torch.inference_mode():
        model(batches[0])  # warm-up (kernel selection for this batch shape) outside the timing
        _sync(device)
        t0 = time.perf_counter()
        for x in batches:
            model(x)
        _sync(device)
        return len(paths) / (time.perf_counter() - t0)


def stage_pass(spec: FeatureSpec, paths: list[Path], box: int, device: str, batch_size: int) -> tuple[float, float, float]:
    """(images/s excluding the backbone build, images/s including it, build seconds)."""
    build = {"s": 0.0}

    def timed_load(s: FeatureSpec, dev: str = "cpu") -> torch.nn.Module:
        t = time.perf_counter()
        m = load_backbone(s, dev)
        build["s"] += time.perf_counter() - t
        return m

    extract_mod.load_backbone = timed_load
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        feats = embed_images(paths, spec, box, Path(cache), device=device, batch_size=batch_size)
        _sync(device)
        total = time.perf_counter() - t0
    extract_mod.load_backbone = load_backbone
    assert feats.shape[0] == len(paths)
    return len(paths) / (total - build["s"]), len(paths) / total, build["s"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=64, help="number of images (default 64)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--box", type=int, default=129)
    ap.add_argument("--backbone", default="RN101")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=1, help="alternate the two passes this often; medians reported")
    args = ap.parse_args(argv)
    spec = FeatureSpec(backbone=args.backbone, layer="layer3", weights="random", seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_images(Path(tmp), args.n, args.seed)
        bares, stages = [], []
        for _ in range(max(1, args.repeats)):
            bares.append(bare_pass(spec, paths, args.box, args.device, args.batch_size))
            stages.append(stage_pass(spec, paths, args.box, args.device, args.batch_size))
    bare = float(np.median(bares))
    stage, stage_total, build_s = (float(np.median([s[k] for s in stages])) for k in range(3))
    print(f"device={args.device} backbone={args.backbone} layer3 N={args.n} batch={args.batch_size} "
          f"threads={torch.get_num_threads()}")
    print(f"bare forward pass      : {bare:8.2f} images/s")
    print(f"embed_images       : {stage:8.2f} images/s (excluding {build_s:.1f} s backbone build)")
    print(f"embed_images total : {stage_total:8.2f} images/s (including the build)")
    print(f"ratio stage/bare       : {stage / bare:8.1%}")
    if args.repeats > 1:
        best = max(s[0] for s in stages) / max(bares)
        print(f"ratio best/best        : {best:8.1%}  (best-of-{args.repeats}: least disturbed by other load)")
        print("per repeat (bare, stage):", [(round(b, 2), round(s[0], 2)) for b, s in zip(bares, stages)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
