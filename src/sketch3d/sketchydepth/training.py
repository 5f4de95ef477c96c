"""Train the four GANs of Table 3.1 (thesis 3.3, 3.4.2-3.4.3) from a triplet set and its depth set.

Models (:data:`sketch3d.sketchydepth.networks.MODELS`):

- ``baseline``: pix2pix, G_i partial -> image, D_i on (i_p, i).
- ``sketchydepth``: G_d i_p -> d (eq. 3.1), G_i (i_p, d_gen) -> i (3.5); D_d on (i_p, d) pairs (3.2),
  D_i (3.6) and D_j (3.9) on (i_p, d, i) triplets, the fake triplet being (i_p, d_gen, i_gen) for both.
- ``no_depth``: G_i, D_i and D_j without the depth channel (3.4.3).
- ``no_joint``: ``sketchydepth`` without D_j.

Each iteration follows pix2pix's order and the end of 3.3: one forward of the generators; every
discriminator is updated (0.5 (BCE(D(real), 1) + BCE(D(fake), 0)), fakes detached); then both generators
together, D frozen, on L_d = L_gd + alpha L_rd, L_i = L_gi + alpha L_ri and L_j = L_gj, each term's
gradient reaching exactly the generators its equation minimises over:

- L_d (3.4) reaches G_d only.
- L_i (3.8) is minimised over G_i only: G_i's input depth is d_gen *detached* for L_i, and so is the
  depth channel of D_i's fake triplet. Otherwise L_i would train G_d (through G_i's input) to make
  depth maps that help G_i's L1 and fool D_i, which 3.8 does not ask and which would make the "w/o D_j"
  ablation's depth generator differ from G_d trained on L_d alone.
- L_j (3.10) is minimised over G_i and G_d: it reaches G_d both through D_j's depth channel and through
  G_i's input (i_gen = G_i(i_p, d_gen)). One forward of G_i serves both: the part of L_j's gradient that
  flows into G_i's input is taken with ``autograd.grad`` and added to d_gen's gradient.

Hyper-parameters are pix2pix's defaults unless the thesis says otherwise (3.4.2): Adam lr 0.0002,
betas (0.5, 0.999), alpha = 100, batch size 1, random horizontal flip (the same for i_p, d and i), no
image pool (pix2pix's pool_size 0), the learning rate constant for ``n_epochs`` epochs and then
decaying linearly over ``n_epochs_decay``: epoch e (from 1) uses lr * (1 - max(0, e - n_epochs) /
(n_epochs_decay + 1)) (pix2pix's 'linear' policy, epoch_count 1, the scheduler stepped after each epoch).

Checkpoints (``sketch3d.training_loop``): after every epoch one file, ``<checkpoints>/<fingerprint>/checkpoint.pt`` (replaced
atomically; only the last is kept), holds every network, both optimisers and schedulers, the torch
(CPU and CUDA), numpy and python RNG states, the epoch and the curves so far. A run with the same
model, settings and data resumes after its last complete epoch and ends byte-identical to an
uninterrupted one; other settings or data get another fingerprint folder and start afresh.
"""
from __future__ import annotations

import itertools
import logging
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Mapping

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from sketch3d.atomic import save_torch
from sketch3d.report.figure_file import save_figure
from sketch3d.codeversion import code_version
from sketch3d.training_loop import (CURVES_CSV, CURVES_PNG, PYTHON_RANDOM, TORCH_CPU, TORCH_DEVICE, Checkpoint,
                                    TrainingLoop, fingerprint, seed_everything, write_curves)
from sketch3d.sketchydepth.networks import ModelSpec, build_networks, gan_loss, model_spec, num_downs_for
from sketch3d.sketchydepth.triplets import Triplets, read_triplets

log = logging.getLogger("sketch3d")

CHECKPOINT = "checkpoint.pt"
FINAL = "final.pt"


# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class GanSettings:
    """``settings["sketchydepth"]["gan"]`` plus the run's ``seed`` and ``profile``."""

    ngf: int
    ndf: int
    n_layers_d: int
    dropout: float
    init_gain: float
    lr: float
    beta1: float
    beta2: float
    l1_weight: float
    n_epochs: int
    n_epochs_decay: int
    batch_size: int
    flip: bool
    test_eval: bool
    seed: int
    demo: bool

    @property
    def epochs(self) -> int:
        return self.n_epochs + self.n_epochs_decay

    @classmethod
    def from_settings(cls, settings: Mapping) -> "GanSettings":
        """Read and check the keys; a missing or bad one raises a ValueError naming it."""
        try:
            gan = settings["sketchydepth"]["gan"]
            seed, profile = settings["seed"], settings["profile"]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"settings lack {exc}: the GAN stages need seed, profile and sketchydepth.gan") from None
        names = [f.name for f in fields(cls) if f.name not in ("seed", "demo")]
        missing = [n for n in names if n not in gan]
        if missing:
            raise ValueError(f"settings: sketchydepth.gan lacks {missing} (add them to params.yaml)")
        s = cls(**{n: gan[n] for n in names}, seed=int(seed), demo=profile == "demo")
        for n in ("ngf", "ndf", "n_layers_d", "batch_size"):
            if not isinstance(getattr(s, n), int) or getattr(s, n) < 1:
                raise ValueError(f"settings: sketchydepth.gan.{n} must be an integer >= 1, got {getattr(s, n)!r}")
        for n in ("n_epochs", "n_epochs_decay"):
            if not isinstance(getattr(s, n), int) or getattr(s, n) < 0:
                raise ValueError(f"settings: sketchydepth.gan.{n} must be an integer >= 0, got {getattr(s, n)!r}")
        if s.epochs < 1:
            raise ValueError("settings: sketchydepth.gan.n_epochs + n_epochs_decay must be >= 1")
        if not 0.0 <= s.dropout < 1.0:
            raise ValueError(f"settings: sketchydepth.gan.dropout must be in [0, 1), got {s.dropout}")
        for n in ("lr", "init_gain"):
            if not getattr(s, n) > 0:
                raise ValueError(f"settings: sketchydepth.gan.{n} must be > 0, got {getattr(s, n)}")
        if s.l1_weight < 0 or not (0 <= s.beta1 < 1 and 0 <= s.beta2 < 1):
            raise ValueError("settings: sketchydepth.gan.l1_weight must be >= 0 and beta1, beta2 in [0, 1)")
        return s


def lr_factor(epoch_index: int, n_epochs: int, n_epochs_decay: int) -> float:
    """pix2pix's 'linear' policy: the factor of the ``epoch_index``-th epoch (from 0)."""
    return 1.0 - max(0, epoch_index + 1 - n_epochs) / float(n_epochs_decay + 1)


# ----------------------------------------------------------------------------- data


def to_tensor(a: np.ndarray) -> torch.Tensor:
    """uint8 [N, S, S, 3] or [N, S, S] -> float32 [N, C, S, S] in [-1, 1] (pix2pix's Normalize(0.5, 0.5))."""
    t = torch.from_numpy(np.ascontiguousarray(a))
    t = t.unsqueeze(1) if t.ndim == 3 else t.permute(0, 3, 1, 2)
    return t.float().div(127.5).sub(1.0)


def to_host(t: torch.Tensor) -> np.ndarray:
    """A tensor's values in host memory (the one place a device tensor is copied to numpy)."""
    return t.detach().cpu().numpy()


def to_floats(terms: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """Scalar tensors as Python floats: one host transfer for the lot (the one place loss values leave the device)."""
    if not terms:
        return {}
    values = to_host(torch.stack([v.detach().float().reshape(()) for v in terms.values()]))
    return {k: float(v) for k, v in zip(terms, values)}


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """float [N, C, S, S] in [-1, 1] -> uint8 [N, S, S, C] (C 3) or [N, S, S] (C 1), rounded."""
    a = ((t.detach().float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    a = a[:, 0] if a.shape[1] == 1 else a.permute(0, 2, 3, 1)
    return to_host(a)


def load_split(folder: Path, depth: Path | None, spec: ModelSpec, what: str) -> Triplets:
    """Read a triplet set (with its depth set when the model needs one) and check it can train/validate."""
    if spec.depth and depth is None:
        raise ValueError(f"{what}: this model generates depth and needs the depth set of {folder} "
                         "(label it with label_depth and pass it)")
    t = read_triplets(folder, depth if spec.depth else None)
    if len(t) == 0:
        raise ValueError(f"{what}: {folder} holds no triplets; prepare the scenes first")
    num_downs_for(t.partial.shape[1])
    return t


def epoch_plan(n: int, batch_size: int, flip: bool, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """One epoch's batches: a random order (pix2pix shuffles, keeping the last smaller batch) and, per
    example, whether it is flipped left-right (probability 0.5 when ``flip``)."""
    order = rng.permutation(n)
    flips = rng.random(n) < 0.5 if flip else np.zeros(n, bool)
    return [(order[i:i + batch_size], flips[order[i:i + batch_size]]) for i in range(0, n, batch_size)]


@dataclass
class Batch:
    partial: torch.Tensor
    image: torch.Tensor
    depth: torch.Tensor | None


def make_batch(data: Triplets, idx: np.ndarray, flips: np.ndarray, device: str) -> Batch:
    """The examples ``idx`` on ``device`` in [-1, 1], flipped where ``flips`` (all channels alike)."""
    f = torch.from_numpy(np.asarray(flips, bool)).to(device)[:, None, None, None]

    def get(a: np.ndarray) -> torch.Tensor:
        x = to_tensor(a[idx]).to(device)
        return torch.where(f, x.flip(3), x)

    return Batch(get(data.partial), get(data.image), get(data.depth) if data.depth is not None else None)


# ----------------------------------------------------------------------------- one iteration


@dataclass
class Forward:
    """One forward of the generators: d_gen (with its graph), d_in (G_i's input depth: d_gen detached,
    a leaf that collects L_j's gradient when the model has D_j), i_gen."""

    d_gen: torch.Tensor | None
    d_in: torch.Tensor | None
    i_gen: torch.Tensor


def forward(spec: ModelSpec, nets: Mapping[str, nn.Module], partial: torch.Tensor) -> Forward:
    if not spec.depth:
        return Forward(None, None, nets["G_i"](partial))
    d_gen = nets["G_d"](partial)
    d_in = d_gen.detach().requires_grad_(spec.joint)
    return Forward(d_gen, d_in, nets["G_i"](torch.cat([partial, d_in], 1)))


def conditioned(partial: torch.Tensor, depth: torch.Tensor | None, image: torch.Tensor | None = None) -> torch.Tensor:
    """A discriminator's input: (i_p, d) pair or (i_p, d, i) triplet ((i_p, i) without depth), channel-stacked."""
    return torch.cat([t for t in (partial, depth, image) if t is not None], 1)


def discriminator_inputs(spec: ModelSpec, b: Batch, d_gen: torch.Tensor | None,
                         i_gen: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """name -> (real, fake) input of every discriminator: D_d eq. 3.2, D_i eq. 3.6, D_j eq. 3.9."""
    out = {}
    d_real = b.depth if spec.depth else None
    if spec.depth:
        out["D_d"] = (conditioned(b.partial, d_real), conditioned(b.partial, d_gen))
    real, fake = conditioned(b.partial, d_real, b.image), conditioned(b.partial, d_gen, i_gen)
    out["D_i"] = (real, fake)
    if spec.joint:
        out["D_j"] = (real, fake)
    return out


def discriminator_step(spec: ModelSpec, nets: Mapping[str, nn.Module], opt_d: torch.optim.Optimizer, b: Batch,
                       fw: Forward) -> dict[str, torch.Tensor]:
    """Update every discriminator on its real and (detached) fake inputs; their losses (detached, on the device:
    no host synchronisation per step)."""
    for name in spec.discriminators:
        nets[name].requires_grad_(True)
    opt_d.zero_grad(set_to_none=True)
    d_gen = fw.d_gen.detach() if fw.d_gen is not None else None
    terms, total = {}, 0.0
    for name, (real, fake) in discriminator_inputs(spec, b, d_gen, fw.i_gen.detach()).items():
        fake_loss = gan_loss(nets[name](fake), False)
        real_loss = gan_loss(nets[name](real), True)
        total = total + 0.5 * (fake_loss + real_loss)
        terms[f"{name}_real"], terms[f"{name}_fake"] = real_loss, fake_loss
    total.backward()
    opt_d.step()
    return {k: v.detach() for k, v in terms.items()}


def generator_losses(spec: ModelSpec, nets: Mapping[str, nn.Module], b: Batch, fw: Forward) -> dict[str, torch.Tensor]:
    """The generators' loss terms (L1 terms unweighted): G_d_gan, G_d_l1 (3.2-3.3), G_i_gan, G_i_l1
    (3.6-3.7), G_j_gan (3.9), each with the graph its equation's minimisation follows."""
    d_fixed = fw.d_gen.detach() if spec.depth else None
    terms = {"G_i_gan": gan_loss(nets["D_i"](conditioned(b.partial, d_fixed, fw.i_gen)), True),
             "G_i_l1": F.l1_loss(fw.i_gen, b.image)}
    if spec.depth:
        terms["G_d_gan"] = gan_loss(nets["D_d"](conditioned(b.partial, fw.d_gen)), True)
        terms["G_d_l1"] = F.l1_loss(fw.d_gen, b.depth)
    if spec.joint:
        terms["G_j_gan"] = gan_loss(nets["D_j"](conditioned(b.partial, fw.d_gen, fw.i_gen)), True)
    return terms


def generator_step(spec: ModelSpec, nets: Mapping[str, nn.Module], opt_g: torch.optim.Optimizer, b: Batch,
                   fw: Forward, l1_weight: float) -> dict[str, torch.Tensor]:
    """Update both generators, discriminators frozen, on L_i + L_d + L_j; their loss terms (detached, on the device)."""
    for name in spec.discriminators:
        nets[name].requires_grad_(False)
    opt_g.zero_grad(set_to_none=True)
    terms = generator_losses(spec, nets, b, fw)
    total = sum(l1_weight * v if k.endswith("_l1") else v for k, v in terms.items())
    if spec.depth and spec.joint:
        # L_j's gradient with respect to G_i's input depth, sent on into G_d (eq. 3.10)
        (through_gi,) = torch.autograd.grad(terms["G_j_gan"], fw.d_in, retain_graph=True)
        total = total + (fw.d_gen * through_gi).sum()
    total.backward()
    opt_g.step()
    for name in spec.discriminators:
        nets[name].requires_grad_(True)
    return {k: v.detach() for k, v in terms.items()}


def train_step(spec: ModelSpec, nets: Mapping[str, nn.Module], opt_g: torch.optim.Optimizer,
               opt_d: torch.optim.Optimizer, b: Batch, l1_weight: float) -> dict[str, torch.Tensor]:
    """One iteration: forward, every discriminator, both generators. The loss terms (detached, on the device)."""
    fw = forward(spec, nets, b.partial)
    return {**discriminator_step(spec, nets, opt_d, b, fw), **generator_step(spec, nets, opt_g, b, fw, l1_weight)}


def optimisers(spec: ModelSpec, nets: Mapping[str, nn.Module], s: GanSettings):
    """Adam for the generators and for the discriminators (per-parameter, so one optimiser over several
    networks updates each as its own would), each with the linear-decay scheduler."""
    def adam(names):
        params = itertools.chain.from_iterable(nets[n].parameters() for n in sorted(names))
        return torch.optim.Adam(params, lr=s.lr, betas=(s.beta1, s.beta2))

    opt_g, opt_d = adam(spec.generators), adam(spec.discriminators)
    rule = lambda i: lr_factor(i, s.n_epochs, s.n_epochs_decay)  # noqa: E731
    return opt_g, opt_d, torch.optim.lr_scheduler.LambdaLR(opt_g, rule), torch.optim.lr_scheduler.LambdaLR(opt_d, rule)


# ----------------------------------------------------------------------------- test-time forward


class keep_buffers:
    """Run networks in pix2pix's test mode (train mode: dropout on, BatchNorm on the batch's statistics)
    without letting that change their BatchNorm running statistics."""

    def __init__(self, nets: Mapping[str, nn.Module]) -> None:
        self.nets = nets

    def __enter__(self):
        self.saved = {n: {k: v.clone() for k, v in m.named_buffers()} for n, m in self.nets.items()}
        return self

    def __exit__(self, *exc):
        with torch.no_grad():
            for n, m in self.nets.items():
                for k, v in m.named_buffers():
                    v.copy_(self.saved[n][k])
        return False


def generate_one(spec: ModelSpec, nets: Mapping[str, nn.Module], partial: torch.Tensor,
                 depth: torch.Tensor | None = None) -> tuple[torch.Tensor | None, torch.Tensor]:
    """(d_gen, i_gen) for a batch; ``depth`` given: G_i runs on it instead of G_d's (depth sketching)."""
    with torch.no_grad():
        if not spec.depth:
            return None, nets["G_i"](partial)
        d = nets["G_d"](partial) if depth is None else depth
        return d, nets["G_i"](torch.cat([partial, d], 1))


def rng_devices(device: str) -> list[int]:
    d = torch.device(device)
    return [d.index or 0] if d.type == "cuda" else []


def validate(spec: ModelSpec, nets: Mapping[str, nn.Module], data: Triplets, device: str, seed: int,
             eval_mode: bool) -> dict[str, float]:
    """Mean L1 (in [-1, 1] units) of the generated image (and depth) on ``data``, one example at a time as
    at test time, under its own seeded RNG so that training's RNG stream is untouched."""
    sums: dict[str, torch.Tensor] = {}
    with torch.random.fork_rng(devices=rng_devices(device)), keep_buffers(nets):
        torch.manual_seed(seed)
        for m in nets.values():
            m.train(not eval_mode)
        for i in range(len(data)):
            b = make_batch(data, np.array([i]), np.zeros(1, bool), device)
            d, img = generate_one(spec, nets, b.partial)
            terms = {"val_l1_image": F.l1_loss(img, b.image), **({"val_l1_depth": F.l1_loss(d, b.depth)} if spec.depth else {})}
            sums = {k: sums[k] + v if k in sums else v for k, v in terms.items()}
        for m in nets.values():
            m.train(True)
    return {k: v / len(data) for k, v in to_floats(sums).items()}


# ----------------------------------------------------------------------------- the stage


def _fingerprint(model: str, s: GanSettings, data: Triplets, val: Triplets | None) -> str:
    parts: list = [{"model": model, **asdict(s)}]
    for t in (data, val):
        parts += [b"none"] if t is None else [[t.ids, t.kinds], *(b"-" if a is None else a for a in (t.partial, t.image, t.depth))]
    return fingerprint(*parts)


def train_gan(model: str, settings: Mapping, train: Path, train_depth: Path | None, out: Path, device: str,
              val: Path | None = None, val_depth: Path | None = None, *, checkpoints: Path | None = None,
              stop_after: int | None = None) -> dict | None:
    """Train ``model`` on the triplet set ``train`` (with the depth set ``train_depth`` for the depth
    models); write ``out/final.pt`` (the generators), ``out/curves.csv`` and ``out/curves.png``.

    ``val`` / ``val_depth``: a validation split whose mean L1 is added to the curves each epoch.
    ``checkpoints``: the folder of the resumable checkpoint (default ``out/checkpoints``; a workflow
    that deletes a failed job's outputs should put it elsewhere). ``stop_after``: stop after this
    many epochs in all, writing nothing but the checkpoint (tests interrupt a run with it).
    Returns the final curve row, or None when stopped early.
    """
    spec = model_spec(model)
    s = GanSettings.from_settings(settings)
    data = load_split(Path(train), train_depth, spec, "train_gan --train")
    vdata = load_split(Path(val), val_depth, spec, "train_gan --val") if val is not None else None
    size = data.partial.shape[1]
    if vdata is not None and vdata.partial.shape[1] != size:
        raise ValueError(f"train_gan: validation images are {vdata.partial.shape[1]} px, training images {size} px")
    fp = _fingerprint(model, s, data, vdata)
    checkpoint = Checkpoint(checkpoints if checkpoints is not None else Path(out) / "checkpoints", fp,
                            code=code_version(__name__))

    if torch.device(device).type == "cuda":
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    seed_everything(s.seed)
    rng = np.random.default_rng(s.seed)
    nets = build_networks(model, size, s.ngf, s.ndf, s.n_layers_d, s.dropout, s.init_gain, s.seed)
    for m in nets.values():
        m.to(device).train()
    opt_g, opt_d, sched_g, sched_d = optimisers(spec, nets, s)
    loop = TrainingLoop(f"train_gan {model}", total=s.epochs, checkpoint=checkpoint, checkpoint_every=1, unit="epoch",
                        state={**{f"net_{n}": m for n, m in nets.items()}, "opt_g": opt_g, "opt_d": opt_d,
                               "sched_g": sched_g, "sched_d": sched_d, "rng_torch": TORCH_CPU,
                               "rng_device": TORCH_DEVICE, "rng_numpy": rng, "rng_python": PYTHON_RANDOM},
                        values={"curves": []})
    loop.resume()
    curves = loop.values["curves"]
    row: dict = {}

    def step(i: int) -> None:
        """Epoch ``i + 1``: every batch; the epoch's mean losses."""
        nonlocal row
        lr = opt_g.param_groups[0]["lr"]
        sums: dict[str, torch.Tensor] = {}
        for idx, flips in epoch_plan(len(data), s.batch_size, s.flip, rng):
            terms = train_step(spec, nets, opt_g, opt_d, make_batch(data, idx, flips, device), s.l1_weight)
            for k, v in terms.items():  # summed on the device; one host transfer per epoch
                sums[k] = sums[k] + v * len(idx) if k in sums else v * len(idx)
        means = to_floats(sums)
        row = {"epoch": i + 1, "lr": lr, **{k: means[k] / len(data) for k in sorted(means)}}

    def evaluate(epoch: int) -> None:
        """The validation L1 of the epoch's networks; then the schedulers step."""
        if vdata is not None:
            row.update(validate(spec, nets, vdata, device, s.seed + epoch, s.test_eval))
        sched_g.step()
        sched_d.step()
        curves.append(row)
        loop.progress(row)

    if not loop.run(step, evaluate=evaluate, stop_after=stop_after):
        return None
    epoch = loop.done
    out = Path(out)
    save_torch(path=out / FINAL, obj={
        "model": model, "size": size, "ngf": s.ngf, "dropout": s.dropout, "epochs": epoch, "demo": s.demo,
        "fingerprint": fp, "generators": {n: nets[n].state_dict() for n in sorted(spec.generators)},
    })
    write_curves(out / CURVES_CSV, curves)
    plot_curves(out / CURVES_PNG, model, curves, s.demo)
    return curves[-1]


# ----------------------------------------------------------------------------- curves


def plot_curves(path: Path, model: str, curves: list[dict], demo: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sketch3d import DEMO_NOTICE

    epochs = [r["epoch"] for r in curves]
    keys = list(dict.fromkeys(k for row in curves for k in row))
    panels = [("generators' GAN terms", [k for k in keys if k.startswith("G_") and k.endswith("_gan")]),
              ("L1 (unweighted, [-1, 1] units)", [k for k in keys if k.endswith("_l1") or k.startswith("val_")]),
              ("discriminators (BCE)", [k for k in keys if k.startswith("D_")])]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for ax, (title, names) in zip(axes, panels):
        for k in names:
            ax.plot(epochs, [r[k] for r in curves], marker=".", label=k, ls="--" if k.startswith("val_") else "-")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    title = f"SketchyDepth GAN training: {model} (per-epoch means)"
    if demo:
        title += f"\n{DEMO_NOTICE}"
    fig.suptitle(title, fontsize=8, color="darkred" if demo else "black")
    fig.tight_layout(rect=(0, 0, 1, 0.88 if demo else 0.94))
    save_figure(fig, path, dpi=100)
