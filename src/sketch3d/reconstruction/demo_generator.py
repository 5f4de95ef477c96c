"""The demo's generator: SDF-StyleGAN's architecture (``generator.SDFStyleGAN``) trained briefly on the SDF grids
of the demo dataset's procedural chairs.

Objective: generative latent optimisation (GLO; Bojanowski et al. 2018), not the official GAN. Each
training shape i owns a latent z_i, optimised jointly with the whole generator (mapping, synthesis,
SDF MLP) to minimise the MSE between the generated SDF and the shape's SDF at grid points; after every
step each z_i is projected back onto the Gaussian shell |z| = sqrt(z_dim), where N(0, I) samples
concentrate (and where the mapping's own input normalisation puts every z anyway). Why:

- a GAN (the official recipe: global and local-patch discriminators, R1 and path-length penalties, 200
  epochs on ~4,700 chairs on GPUs) learns nothing useful in the 2-3 minutes on one CPU thread the demo
  allows, while a reconstruction objective fits a few dozen shapes in a few hundred steps;
- the inversion is what the chapter studies, and GLO gives the latent space it needs: every training
  chair is exactly some z_i (so its style w_i = map(z_i) reproduces it), the generator is smooth between
  them, and z ~ N(0, I) lies on the same shell as the z_i, so sampled styles and their mean (the
  inversion's start) are chair-like;
- the architecture, the W+ inversion, the SDF grid and the loss are the paper's, so the pipeline runs
  unchanged on either generator.

The points of each step: a fraction ``near_fraction`` drawn from grid points near the surface (|sdf|
below ``near_surface`` cube units; 0.1 is about 1.5 steps of a 32^3 grid, so a leg one step thick has
points inside it), the rest uniformly from the grid, so that the thin parts of chairs weigh in the loss.
Both learning rates follow a cosine from their value down to ``lr_final`` times it. ``clamp`` (off by
default) compares clamped SDFs as DeepSDF does; measured, it fits the training chairs as well but ruins
the SDF-supervised inversion, whose loss (eq. 4.6) is over the whole grid, far values included.

Measured (R4; 40 demo chairs (train + val), 32^3 grids, the demo architecture: volume_res 16, z_dim 32,
style_depth 8, network_capacity 4, fmap_max 32, channels 16, mlp_hidden 64, mlp_layers 2; one thread on a
shared 2-core machine; "train IoU": volumetric IoU at level 0 of each training chair's own latent against
its grid, mean of 40; "inversion IoU": ``inversion.invert`` with SDF supervision, 100 iterations, lr
0.005, 4096 points, from the mean of 1000 styles, on the first 5 test chairs):

======================================================  ========  =========  ===============
settings                                                 seconds  train IoU  inversion IoU
======================================================  ========  =========  ===============
old defaults (300 steps, 4096 points, near 0.05)           87      0.23       0.20
800 steps, 8192 points, near 0.1, cosine to 0.1 (these)    148     0.60       0.37
1000 steps, the same                                       176-273 0.65       0.50
1000 steps, lr 0.004                                       177     0.58       0.41
1000 steps, near_fraction 0.5                              218     0.62       0.41
1000 steps, 16384 points                                   259     0.64       0.34
1000 steps, clamp 0.1                                      187     0.66       0.11 (3 chairs)
600 steps, lr 0.006, lr_latent 0.02                        109     0.16       0.03 (diverged)
======================================================  ========  =========  ===============

Each step costs ~0.15-0.27 s (the synthesis network's backward pass dominates; points are cheap), so the
step count is the lever; a step of batch 2 costs about half one of batch 4 (2000 steps of 2: 197 s, train
IoU 0.68, inversion 0.34). With these settings the training chairs come back as chairs (seats, backs,
pedestals; one-voxel legs partly), as does the mean style; the old ones gave blobs.

Resumable (``sketch3d.training_loop``): every ``checkpoint_every`` steps the state (networks, optimiser, latents,
step, losses, RNG states) goes to ``checkpoints/<fingerprint>/checkpoint.pt``; a rerun with the same data,
settings and seed continues from it with no step lost or repeated.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import torch

from sketch3d.geometry.sdf import grid_points
from sketch3d.reconstruction.generator import GeneratorConfig, SDFStyleGAN, save_generator
from sketch3d.codeversion import code_version
from sketch3d.training_loop import TORCH_CPU, Checkpoint, TrainingLoop, fingerprint, write_curves

log = logging.getLogger("sketch3d")

DEFAULTS = {
    "steps": 800,            # optimisation steps (40 demo chairs: ~150 s on one CPU thread; 1000: better, ~3 min)
    "batch": 4,              # shapes per step
    "points": 8192,          # SDF samples per shape and step
    "near_surface": 0.1,     # cube units: "near the surface" for the points drawn there
    "near_fraction": 0.75,   # fraction of each step's points drawn near the surface (the rest: uniform)
    "loss": "l1",            # "l1" or "mse" (L1 weighs the small errors at thin parts more: the demo's
                             # chairs have legs about one 32^3 grid step thick)
    "lr": 0.003,             # Adam, networks
    "lr_latent": 0.01,       # Adam, per-shape latents
    "lr_final": 0.1,         # both learning rates fall to this fraction of theirs by the last step (cosine);
                             # 1.0: constant
    "clamp": 0.0,            # cube units: compare SDFs clamped to [-clamp, clamp] (DeepSDF's delta, Park et
                             # al. 2019, eq. 4: capacity goes to the surface, not to far values); 0: no clamp
    "checkpoint_every": 50,  # steps between resumable states
    "log_every": 25,         # steps between progress lines
}


def _settings(settings: dict) -> dict:
    settings = dict(settings or {})
    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown reconstruction.demo_training setting(s) {unknown}; known: {sorted(DEFAULTS)}")
    out = {**DEFAULTS, **settings}
    for key in ("steps", "batch", "points", "checkpoint_every", "log_every"):
        if int(out[key]) < 1:
            raise ValueError(f"reconstruction.demo_training.{key} must be a positive integer, got {out[key]!r}")
        out[key] = int(out[key])
    if out["loss"] not in ("mse", "l1"):
        raise ValueError(f"reconstruction.demo_training.loss must be 'mse' or 'l1', got {out['loss']!r}")
    if not 0 <= float(out["near_fraction"]) <= 1:
        raise ValueError(f"reconstruction.demo_training.near_fraction must be in [0, 1], got {out['near_fraction']!r}")
    out["near_fraction"] = float(out["near_fraction"])
    for key in ("near_surface", "lr", "lr_latent"):
        if not float(out[key]) > 0:
            raise ValueError(f"reconstruction.demo_training.{key} must be positive, got {out[key]!r}")
        out[key] = float(out[key])
    if not 0 < float(out["lr_final"]) <= 1:
        raise ValueError(f"reconstruction.demo_training.lr_final must be in (0, 1], got {out['lr_final']!r}")
    if not float(out["clamp"]) >= 0:
        raise ValueError(f"reconstruction.demo_training.clamp must be >= 0 (0: off), got {out['clamp']!r}")
    out["lr_final"], out["clamp"] = float(out["lr_final"]), float(out["clamp"])
    return out


def project_to_shell(z: torch.Tensor) -> torch.Tensor:
    """Rows of ``z`` rescaled to norm sqrt(dim), the shell where N(0, I) samples concentrate."""
    return z * (math.sqrt(z.shape[1]) / z.norm(dim=1, keepdim=True).clamp_min(1e-12))


def _clamped(predicted: torch.Tensor, target: torch.Tensor, delta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """DeepSDF's clamp (Park et al. 2019, eq. 4) one-sided: targets beyond +-delta become +-delta, and a
    prediction there is clamped only on the far side, so a point far outside (inside) costs nothing once
    predicted beyond +delta (-delta) but still pulls a prediction on the wrong side. (Clamping both sides
    of both, as DeepSDF writes it, has no gradient where the prediction is beyond delta: a generator that
    starts with every value above delta stays empty.)"""
    outside, inside = target >= delta, target <= -delta
    predicted = torch.where(outside, predicted.clamp(max=delta), torch.where(inside, predicted.clamp(min=-delta), predicted))
    return predicted, target.clamp(-delta, delta)


def train_demo_generator(sdf_grids: np.ndarray, settings: dict, generator_settings: dict, seed: int,
                         out: str | Path, checkpoints: str | Path, progress=None, curves: str | Path | None = None) -> dict:
    """Train the demo generator on ``sdf_grids`` [N, R, R, R] (cube units, ``sketch3d.geometry.sdf.sdf_grid``
    layout) and write it to ``out`` (``generator.save_generator``: loadable by ``load_generator``).

    ``settings``: ``reconstruction.demo_training`` (keys of :data:`DEFAULTS`); ``generator_settings``:
    ``reconstruction.generator`` (the architecture, :meth:`GeneratorConfig.from_settings`); ``seed``:
    initial weights, latents, the points drawn. ``checkpoints``: a folder for the resumable state.
    ``progress``: optional callable(step, loss). ``curves``: where to write the loss per step (``curves.csv``:
    step, loss; None: not written). Returns {"losses": [per step], "steps": n}.
    """
    s = _settings(settings)
    config = GeneratorConfig.from_settings(generator_settings)
    grids = np.asarray(sdf_grids, dtype=np.float32)
    if grids.ndim != 4 or not (grids.shape[1] == grids.shape[2] == grids.shape[3]) or len(grids) == 0:
        raise ValueError(f"sdf_grids must have shape [N, R, R, R] with N >= 1, got {grids.shape}")
    if not np.isfinite(grids).all():
        raise ValueError("sdf_grids hold non-finite values: recompute the SDF targets (sketch3d sdf_targets)")
    n, res = len(grids), grids.shape[1]
    targets = torch.from_numpy(grids.reshape(n, -1))
    points = torch.from_numpy(grid_points(res).astype(np.float32))
    near = [torch.nonzero(t.abs() < s["near_surface"]).squeeze(1) for t in targets]
    near = [idx if len(idx) else torch.arange(len(points)) for idx in near]

    torch.manual_seed(int(seed))
    generator = SDFStyleGAN(config)
    gen = torch.Generator().manual_seed(int(seed))
    latents = torch.nn.Parameter(project_to_shell(torch.randn(n, config.z_dim, generator=gen)))
    optimiser = torch.optim.Adam([{"params": generator.parameters(), "lr": s["lr"]},
                                  {"params": [latents], "lr": s["lr_latent"]}], betas=(0.9, 0.99))
    # one folder per (data, settings, architecture, seed): a change starts afresh, an interrupted run resumes
    fp = fingerprint(grids, s, list(vars(config).values()), int(seed))
    loop = TrainingLoop("train_generator", total=s["steps"], checkpoint=Checkpoint(checkpoints, fp, code=code_version(__name__)),
                        checkpoint_every=s["checkpoint_every"], checkpoint_last=False,
                        state={"generator": generator, "latents": latents, "optimiser": optimiser, "rng": gen,
                               "torch_rng": TORCH_CPU}, values={"losses": []})
    loop.resume()
    losses = loop.values["losses"]

    generator.train()
    half = int(round(s["points"] * s["near_fraction"]))
    base_lrs = [s["lr"], s["lr_latent"]]  # not the groups' (a resumed optimiser holds the scheduled ones)

    def step(i: int) -> None:
        factor = s["lr_final"] + (1 - s["lr_final"]) * 0.5 * (1 + math.cos(math.pi * i / s["steps"]))
        for group, lr in zip(optimiser.param_groups, base_lrs):
            group["lr"] = lr * factor
        batch = torch.randperm(n, generator=gen)[: s["batch"]]
        uniform = torch.randint(len(points), (len(batch), s["points"] - half), generator=gen)
        close = torch.stack([near[i][torch.randint(len(near[i]), (half,), generator=gen)] for i in batch.tolist()])
        idx = torch.cat([uniform, close], dim=1)
        styles = generator.broadcast(generator.map(latents[batch]))
        predicted = generator(styles, points[idx])
        target = torch.gather(targets[batch], 1, idx)
        if s["clamp"]:
            predicted, target = _clamped(predicted, target, s["clamp"])
        error = predicted - target
        loss = torch.mean(error ** 2) if s["loss"] == "mse" else torch.mean(error.abs())
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        with torch.no_grad():
            latents.copy_(project_to_shell(latents))
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(i + 1, losses[-1])

    def evaluate(done: int) -> None:
        loop.progress({"loss": losses[-1]})

    loop.run(step, evaluate=evaluate, eval_every=s["log_every"])
    step = loop.done
    if curves is not None:
        write_curves(curves, [{"step": k + 1, "loss": v} for k, v in enumerate(losses)])
    generator.eval()
    save_generator(generator, out, extra={"demo": True, "objective": "GLO", "steps": step,
                                          "final_loss": losses[-1] if losses else None,
                                          "latents": latents.detach().clone(), "settings": s, "seed": int(seed)})
    return {"losses": losses, "steps": step}
