"""SDF MLPs, the networks of NetSpace's 3D experiment (thesis 5.3 and appendix C.5): one SIREN fitted to the
signed distance function of one shape, and the C.5 "close enough" metric.

Fitting (C.5): ``steps`` Adam steps; at each the MLP is queried on ``points`` coordinates drawn from the
shape's SDF samples (half among samples outside, half inside when both exist, as the public peer draws from
DeepSDF's pos/neg sets) and regresses their SDF with the mean squared error; the learning rate starts at
``lr`` and is multiplied by ``decay`` every ``decay_every`` steps.

Settings (``netspace.sdf_mlps``; paper values from C.5 / the peer, demo values for a 2-core machine):

========== ==================================================== ========= ======
key        meaning                                              paper     demo
========== ==================================================== ========= ======
hidden     SIREN width 3 -> hidden -> hidden -> 1 (C.3)         256       64
steps      gradient steps                                       10000     300
points     coordinates per step                                 20000     2000
lr         Adam's initial learning rate                         1e-4      1e-3
decay      learning-rate factor ...                             0.9       0.9
decay_every ... applied every this many steps                   1000      100
tolerance  |pred - target| counted "close enough" (peer: 0.01)  0.01      0.01
query_points coordinates kept in the MLP file for NetSpace's     25000     2000
           queries, per side (outside, inside)
========== ==================================================== ========= ======

The MLP file keeps ``query_points`` of the shape's sample points with sdf >= 0 and as many with sdf < 0 (a seeded
subset): NetSpace's SDF training and evaluation query the input and the decoded MLP there, half of each batch
outside, half inside, as the peer does (its MLP files hold the shape's DeepSDF samples, ``data/mlpdset.py`` draws
half of the coordinates from the positive half, half from the negative one; DeepSDF's samples, as ours
(``sdf_samples``: 50K uniform, 200K near the surface at sigma 0.005 and 0.05), lie mostly near the surface).

Demo measured on one CPU thread: ~3 s per MLP (0.009 s a step); a sphere's MLP then has 82% of its
predictions within 0.01 (the paper's size: 0.36 s a step on one thread, a GPU job).
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from sketch3d.atomic import save_torch
from sketch3d.netspace.architectures import Siren, build_siren
from sketch3d.training_loop import TrainingLoop

log = logging.getLogger("sketch3d")

Sampler = Callable[[int, torch.Generator], tuple]
"""``sampler(n, generator) -> (points [n, 3], sdf [n])``: fresh SDF samples each step (tensors or arrays)."""


@dataclass(frozen=True)
class SdfMlpSettings:
    hidden: int
    steps: int
    points: int
    lr: float
    decay: float
    decay_every: int
    tolerance: float = 0.01

    @classmethod
    def from_dict(cls, settings: Mapping) -> "SdfMlpSettings":
        """From the ``netspace.sdf_mlps`` section; names the missing or bad key."""
        missing = [k for k in ("hidden", "steps", "points", "lr", "decay", "decay_every") if k not in settings]
        if missing:
            raise ValueError(f"netspace.sdf_mlps settings lack {', '.join(missing)} (see sdf_mlps module docs)")
        s = cls(int(settings["hidden"]), int(settings["steps"]), int(settings["points"]), float(settings["lr"]),
                float(settings["decay"]), int(settings["decay_every"]), float(settings.get("tolerance", 0.01)))
        for key in ("hidden", "steps", "points", "decay_every"):
            if getattr(s, key) < 1:
                raise ValueError(f"netspace.sdf_mlps.{key} must be >= 1, got {getattr(s, key)}")
        if not (s.lr > 0 and 0 < s.decay <= 1 and s.tolerance > 0):
            raise ValueError(f"netspace.sdf_mlps: need lr > 0, 0 < decay <= 1, tolerance > 0; got lr={s.lr}, "
                             f"decay={s.decay}, tolerance={s.tolerance}")
        return s


def member_seed(seed: int, name: str) -> int:
    """A seed for the MLP of shape ``name`` from the run's seed: independent of how many MLPs there are."""
    return int.from_bytes(hashlib.sha256(f"{int(seed)}:sdf_mlp:{name}".encode()).digest()[:4], "little")


def close_enough(pred: torch.Tensor, target: torch.Tensor, tol: float = 0.01) -> float:
    """C.5's metric: the fraction of predictions within ``tol`` of the target (absolute, |pred - target| <=
    tol; the peer's ``isclose(atol=1e-2, rtol=0)``). NetSpace's SDF training stops when it reaches 0.8."""
    if pred.shape != target.shape:
        raise ValueError(f"close_enough: predictions {tuple(pred.shape)} and targets {tuple(target.shape)} differ")
    if pred.numel() == 0:
        raise ValueError("close_enough: no predictions")
    return float(((pred - target).abs() <= tol).float().mean())


def _as_tensor(a, what: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(a), dtype=torch.float32)
    if not torch.isfinite(t).all():
        raise ValueError(f"{what} holds NaN or infinite values; drop those samples when making the SDF file")
    return t


def array_sampler(points, sdf) -> Sampler:
    """A sampler drawing from fixed SDF samples: half outside (sdf >= 0), half inside when both exist."""
    p, d = _as_tensor(points, "SDF sample points"), _as_tensor(sdf, "SDF sample values")
    if p.dim() != 2 or p.shape[1] != 3 or d.shape != (p.shape[0],) or p.shape[0] == 0:
        raise ValueError(f"SDF samples: need points [N, 3] and sdf [N] with N > 0, got {tuple(p.shape)} and "
                         f"{tuple(d.shape)}")
    outside, inside = torch.nonzero(d >= 0).squeeze(1), torch.nonzero(d < 0).squeeze(1)

    def sample(n: int, generator: torch.Generator):
        if len(outside) and len(inside):
            half = n // 2
            idx = torch.cat([outside[torch.randint(len(outside), (n - half,), generator=generator)],
                             inside[torch.randint(len(inside), (half,), generator=generator)]])
        else:
            idx = torch.randint(len(d), (n,), generator=generator)
        return p[idx], d[idx]

    return sample


def fit_sdf_mlp(samples: Sampler | tuple, settings: Mapping, seed: int, device: str = "cpu",
                history: list | None = None) -> Siren:
    """A SIREN fitted to one shape's SDF (C.5). ``samples``: a (points [N, 3], sdf [N]) pair of arrays, or a
    :data:`Sampler`. ``settings``: the ``netspace.sdf_mlps`` section (module docs). ``seed`` sets the
    initialisation and the draws. ``history`` (optional) receives each step's loss. Returns the MLP (eval, CPU).
    """
    s = SdfMlpSettings.from_dict(settings)
    sampler = array_sampler(*samples) if isinstance(samples, (tuple, list)) else samples
    if not callable(sampler):
        raise TypeError("fit_sdf_mlp: samples must be (points, sdf) arrays or a sampler(n, generator)")
    init_seed, draw_seed = np.random.SeedSequence(int(seed)).generate_state(2)
    model = build_siren(s.hidden, seed=int(init_seed)).to(device).train()
    generator = torch.Generator().manual_seed(int(draw_seed))
    optimizer = torch.optim.Adam(model.parameters(), lr=s.lr)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=s.decay_every, gamma=s.decay)
    losses = []  # a fit takes seconds: no checkpoint
    loop = TrainingLoop("fit_sdf_mlp", total=s.steps, state={"model": model})
    loop.run(lambda i: losses.append(sdf_step(model, optimizer, schedule, sampler, s.points, generator)))
    if history is not None:  # read back once at the end: no device sync per step
        history.extend(torch.stack(losses).tolist())
    return model.cpu().eval()


def sdf_step(model: Siren, optimizer: torch.optim.Optimizer, schedule, sampler: Sampler, n: int,
             generator: torch.Generator) -> torch.Tensor:
    """One fitting step: ``n`` samples drawn on the host generator (the same draws on any device), moved to the
    model's device and dtype; the MSE, minimised; returns the loss (detached, on the device)."""
    ref = next(model.parameters())
    points, sdf = sampler(n, generator)
    points = torch.as_tensor(points).to(device=ref.device, dtype=ref.dtype)
    sdf = torch.as_tensor(sdf).to(device=ref.device, dtype=ref.dtype)
    loss = F.mse_loss(model(points), sdf)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    schedule.step()
    return loss.detach()


def load_sdf_samples(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``points`` [N, 3] and ``sdf`` [N] of an SDF sample file (.npz)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SDF sample file {path} does not exist: make the shape's SDF samples first")
    try:
        with np.load(path) as z:
            if "points" not in z or "sdf" not in z:
                raise ValueError(f"SDF sample file {path} lacks 'points' or 'sdf' (has {sorted(z.files)})")
            return np.asarray(z["points"], dtype=np.float32), np.asarray(z["sdf"], dtype=np.float32).reshape(-1)
    except (OSError, EOFError) as exc:
        raise ValueError(f"SDF sample file {path} is not a readable .npz ({exc}); remake it") from exc


def fit_sdf_mlp_file(samples_path: Path, settings: Mapping, seed: int, out: Path, name: str | None = None,
                     device: str = "cpu") -> dict:
    """Fit one MLP to an SDF sample file and save ``{"state_dict", "architecture": "siren", "hidden", "name",
    "seed", "steps", "final_loss", "close_enough"}`` to ``out`` (.pt, atomically). ``seed`` is the run's seed;
    the MLP's own is :func:`member_seed` of it and ``name`` (default: the file's stem). ``close_enough`` is
    measured on all the file's samples (the MLP against the truth). Returns the metadata (no state dict)."""
    points, sdf = load_sdf_samples(samples_path)
    s = SdfMlpSettings.from_dict(settings)
    name = name or Path(samples_path).stem
    own_seed = member_seed(seed, name)
    history: list = []
    model = fit_sdf_mlp((points, sdf), settings, own_seed, device, history)
    with torch.no_grad():
        pred = model(torch.from_numpy(points))
    meta = {"architecture": "siren", "hidden": s.hidden, "name": name, "seed": own_seed, "steps": s.steps,
            "final_loss": history[-1], "close_enough": close_enough(pred, torch.from_numpy(sdf), s.tolerance)}
    query = query_subset(points, sdf, int(settings.get("query_points", 25000)), own_seed)
    save_torch({"state_dict": model.state_dict(), **meta,
                "query_points": {k: torch.from_numpy(v) for k, v in query.items()}}, out)
    return meta


def query_subset(points: np.ndarray, sdf: np.ndarray, per_side: int, seed: int) -> dict[str, np.ndarray]:
    """``{"outside": [<=per_side, 3], "inside": [<=per_side, 3]}``: a seeded subset of the sample points with
    sdf >= 0 and with sdf < 0 (all of a side when it has fewer)."""
    rng = np.random.default_rng(int(seed))
    out = {}
    for side, mask in (("outside", sdf >= 0), ("inside", sdf < 0)):
        idx = np.flatnonzero(mask)
        if len(idx) > per_side:
            idx = np.sort(rng.choice(idx, size=int(per_side), replace=False))
        out[side] = np.ascontiguousarray(points[idx], dtype=np.float32)
    return out


def load_sdf_mlp(path: Path) -> Siren:
    """The MLP saved by :func:`fit_sdf_mlp_file`."""
    try:
        data = torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"SDF MLP file {path} does not exist: run sketch3d fit_sdf_mlp") from None
    if not isinstance(data, dict) or data.get("architecture") != "siren" or "state_dict" not in data:
        raise ValueError(f"{path} is not an SDF MLP written by sketch3d fit_sdf_mlp; refit it")
    model = build_siren(int(data["hidden"]))
    model.load_state_dict(data["state_dict"])
    return model.eval()
