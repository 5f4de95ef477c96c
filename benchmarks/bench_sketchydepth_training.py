"""Training speed of the four SketchyDepth GANs: images/s through train_gan (one epoch on noise triplets:
data, every discriminator and generator update, the checkpoint) against a bare forward + backward of the
same networks on one batch, repeated (no optimiser, no data, no checkpoint). The ratio is what the
training loop costs beyond the networks' own arithmetic. Then the FID stage's images/s (pytorch-fid's
Inception, seeded random weights, at the demo's 64 dims and the paper's 2048) and the share of it that the
cache of the real test images' activations saves on a second model.

    OMP_NUM_THREADS=1 python benchmarks/bench_sketchydepth_training.py [--examples 128] [--size 64]
        [--ngf 16] [--ndf 16] [--batch-size 4] [--models baseline sketchydepth no_depth no_joint]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from sketch3d.sketchydepth.networks import build_networks, model_spec
from sketch3d.sketchydepth.training import train_gan
from sketch3d.sketchydepth.triplets import write_depths, write_triplets


def _bare(model: str, size: int, ngf: int, ndf: int, batch: int, steps: int) -> float:
    """Seconds per image of: generators forward, each discriminator on a real and a fake input, one backward."""
    spec = model_spec(model)
    nets = build_networks(model, size, ngf, ndf)
    p, d, i = (torch.rand(batch, c, size, size) * 2 - 1 for c in (3, 1, 3))

    def once() -> None:
        d_gen = nets["G_d"](p) if spec.depth else None
        i_gen = nets["G_i"](torch.cat([p, d_gen], 1) if spec.depth else p)
        total = i_gen.mean() + (d_gen.mean() if spec.depth else 0)
        for name, cin in spec.discriminators.items():
            real = torch.cat([p, d] if cin == 4 else [p, d, i] if cin == 7 else [p, i], 1)
            fake = torch.cat([p, d_gen] if cin == 4 else [p, d_gen, i_gen] if cin == 7 else [p, i_gen], 1)
            total = total + nets[name](real).mean() + nets[name](fake).mean()
        total.backward()

    once()
    start = time.perf_counter()
    for _ in range(steps):
        once()
    return (time.perf_counter() - start) / (steps * batch)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=128)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--ngf", type=int, default=16)
    ap.add_argument("--ndf", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--models", nargs="+", default=["baseline", "sketchydepth", "no_depth", "no_joint"])
    ap.add_argument("--fid-images", type=int, default=64, help="images embedded per FID measurement")
    a = ap.parse_args()
    gan = dict(ngf=a.ngf, ndf=a.ndf, n_layers_d=3, dropout=0.5, init_gain=0.02, lr=2e-4, beta1=0.5, beta2=0.999,
               l1_weight=100.0, n_epochs=1, n_epochs_decay=0, batch_size=a.batch_size, flip=True, test_eval=False)
    settings = {"seed": 0, "profile": "demo", "sketchydepth": {"gan": gan}}
    print(f"{a.examples} examples {a.size}x{a.size}, ngf {a.ngf}, ndf {a.ndf}, batch {a.batch_size}, "
          f"torch threads {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rng = np.random.default_rng(0)
        n, s = a.examples, a.size
        ids = [f"x{k:05d}" for k in range(n)]
        write_triplets(root / "t", ids, ["fb"] * n, rng.integers(0, 256, (n, s, s, 3), dtype=np.uint8),
                       rng.integers(0, 256, (n, s, s, 3), dtype=np.uint8))
        write_depths(root / "d", ids, rng.integers(0, 256, (n, s, s), dtype=np.uint8))
        write_triplets(root / "w", ids[:4], ["fb"] * 4, rng.integers(0, 256, (4, s, s, 3), dtype=np.uint8),
                       rng.integers(0, 256, (4, s, s, 3), dtype=np.uint8))
        train_gan("baseline", settings, root / "w", None, root / "warm-up", "cpu")  # imports, first calls
        for model in a.models:
            start = time.perf_counter()
            train_gan(model, settings, root / "t", root / "d", root / model, "cpu")
            loop = (time.perf_counter() - start) / n
            bare = _bare(model, s, a.ngf, a.ndf, a.batch_size, max(1, n // a.batch_size // 2))
            print(f"{model:13s} train_gan {1 / loop:7.1f} img/s   bare fwd+bwd {1 / bare:7.1f} img/s   "
                  f"ratio {loop / bare:5.2f}")
        _fid(a.fid_images, a.size, root)


def _fid(n: int, size: int, root: Path) -> None:
    """images/s of the FID stage's embedding, and a cached second call on the same real images."""
    from sketch3d.sketchydepth.fid import activations, build_inception, cached_activations

    images = np.random.default_rng(1).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    for dims in (64, 2048):
        net = build_inception("random", dims, 0)
        activations(images[:2], net, 2)  # first call
        start = time.perf_counter()
        cached_activations(images, net, root / "fid-cache", 50)
        first = time.perf_counter() - start
        start = time.perf_counter()
        cached_activations(images, net, root / "fid-cache", 50)
        again = time.perf_counter() - start
        print(f"FID Inception, {dims:4d} dims: {n / first:6.1f} img/s   a second model's real images from the "
              f"cache: {again * 1000:6.1f} ms ({first / max(again, 1e-9):.0f}x less)")


if __name__ == "__main__":
    main()
