"""Training NetSpace (chapter 5.3-5.4, appendix C.4-C.5): resumable, the model kept by validation, curves.

Settings (``netspace.training.<setting>``; thesis values first, then the public peer's where the thesis is silent):

- ``lr``: Adam learning rate, 1e-4 (C.4, C.5).
- ``nets_per_batch``: target nets per step, 8 single, 2 multi / unseen (C.4); 4 sdf (peer).
- ``images_per_net``: images per step, shared by the step's nets, 128 (C.4); sdf: ``points`` coordinates per net
  and step (peer 50,000), drawn as ``coordinates`` says: ``samples`` (the peer's, ``data/mlpdset.py``: half from
  the net's shape's SDF sample points outside, half from those inside, kept in the MLP file by ``fit_sdf_mlp``:
  mostly near the surface) or ``uniform`` (in [-1, 1]^3, shared by the step's nets). The validation points are
  drawn the same way, once (``eval_images`` of them per net).
- ``steps``: optimisation steps (thesis: ~1K epochs of the images, C.4; sdf 4000 epochs of the MLPs, C.5).
- ``eval_every``: steps between validations (peer: every 20 / 25 image epochs); ``checkpoint_every``: steps between
  checkpoints (default ``eval_every``).
- ``eval_images``: validation images (or sdf points) per evaluation (default: all).
- ``alpha`` 0.9, ``temperature`` 4 (eq. 5.5, C.4); ``architecture_from``: which template a decoded multi PRep is
  loaded into while training, ``predicted`` (the ClassId head's argmax, as the peer) or ``target``.
- sdf: ``tolerance`` (|pred - target| counted "close enough", peer 0.01) and ``close_enough`` (stop when that
  fraction reaches it, 0.8, C.5).
- ``seed``: batches and points.
- multi / unseen: ``pairing`` (how a pass's nets form the batches of 2): ``boundary`` (the peer's unseen batches,
  ``data/nets_missing.py``: each LeNetLike with a ResNet32, the larger group's rest paired among themselves; a
  seeded shuffle per pass) or ``random`` (a seeded shuffle of all nets, the peer's multi batches). ``model_choice``:
  the validation value that picks the model, ``interpolated`` (the peer's multi trainer: the mean accuracy of the
  nets decoded from the validation nets and from the embeddings between the i-th lowest-ClassId and the i-th
  highest-ClassId validation net at gamma 1/3, 2/3) or ``reconstructions`` (the decoded validation nets only).
  The thesis says only "the model with the highest performance on the validation set" (C.4).

``netspace.model`` (``model.NetSpace.from_settings``): ``embedding`` (4096), ``channels``, ``encoder_channels``;
``netspace.prep.width`` (10000): PRep width.

Validation metric (the model kept is the best one): single, mean |target - predicted accuracy| of the validation
nets (lower is better, peer); multi / unseen, mean accuracy of the nets predicted from the validation nets (higher);
sdf, the close-enough fraction (higher).
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import torch
from torch import nn

from sketch3d.atomic import atomic_dir
from sketch3d.netspace import architectures, host, losses
from sketch3d.netspace import prep as preps
from sketch3d.netspace.model import NetSpace
from sketch3d.netspace.names import MULTI, ONE_ARCHITECTURE, SETTINGS, SEVERAL_ARCHITECTURES, UNSEEN
from sketch3d.report.figure_file import save_figure
from sketch3d.codeversion import code_version
from sketch3d.numerics import training_kernels
from sketch3d.training_loop import CURVES_CSV, CURVES_PNG, Checkpoint, TrainingLoop, fingerprint, write_curves

log = logging.getLogger("sketch3d")

CLASSIFIERS = tuple(sorted(architectures.CLASS_IDS, key=architectures.CLASS_IDS.get))  # by ClassId
DEFAULTS = {
    "single": {"lr": 1e-4, "nets_per_batch": 8, "images_per_net": 128, "temperature": 4.0},
    "multi": {"lr": 1e-4, "nets_per_batch": 2, "images_per_net": 128, "temperature": 4.0, "alpha": 0.9,
              "architecture_from": "predicted", "pairing": "random", "model_choice": "interpolated"},
    "sdf": {"lr": 1e-4, "nets_per_batch": 4, "points": 50000, "tolerance": 0.01, "close_enough": 0.8,
            "coordinates": "samples"},
}
DEFAULTS[UNSEEN] = {**DEFAULTS[MULTI], "pairing": "boundary"}
PAIRINGS = ("boundary", "random")
MODEL_CHOICES = ("interpolated", "reconstructions")


class TrainingInputError(ValueError):
    """Bad nets, data or settings given to NetSpace training."""


# ----------------------------------------------------------------------------- target nets

@dataclass
class Target:
    """One zoo member: its name, architecture, ClassId (None for SDF MLPs), the net (eval mode), its PRep."""

    name: str
    architecture: str
    class_id: int | None
    net: nn.Module
    prep: torch.Tensor  # [H, W], padded to the setting's common height
    cache: dict = field(default_factory=dict)  # accuracies of the target net, per evaluation set
    query: dict | None = None  # SDF MLPs: {"outside": [N, 3], "inside": [M, 3]} sample points (host tensors)


def load_net(path: str | Path) -> tuple[nn.Module, dict]:
    """A saved zoo member or SDF MLP (``{"state_dict", "build_args" or "arch", ...}``) -> (net in eval mode, record)."""
    path = Path(path)
    try:
        record = torch.load(path, map_location="cpu", weights_only=False)
        state = record["state_dict"]
    except FileNotFoundError:
        raise TrainingInputError(f"{path}: no such net file; run its train_member / fit_sdf_mlp rule") from None
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds on a corrupt file
        raise TrainingInputError(f"{path}: not a saved net ({exc}); rerun the rule that wrote it") from None
    args = dict(record.get("build_args") or {})
    if not args:  # a record naming only its architecture: the classifiers' sizes beside it
        args = {"name": record.get("arch") or record.get("architecture")}
        if args["name"] is None:
            raise TrainingInputError(f"{path}: names no architecture ('build_args' or 'arch'); rerun its rule")
        keys = ("hidden",) if args["name"] == "siren" else ("num_classes", "image_size")
        args.update({k: record[k] for k in keys if k in record})
    name = args.pop("name")
    if name != "siren":
        args["batch_norm"] = False  # zoo members are saved folded (C.6)
    net = architectures.build(name, **args)
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise TrainingInputError(f"{path}: weights do not fit architecture {name} ({exc}); a net must be saved "
                                 "after batch-norm folding") from None
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net, {**record, "name": record.get("name", path.stem), "architecture": name}


def common_height(templates: Mapping[str, nn.Module], width: int) -> int:
    """The PRep height holding every one of ``templates`` (multi: the largest architecture's, C.2)."""
    return preps.common_height([preps.PRepLayout.from_model(t, width) for t in templates.values()])


def make_targets(nets: Sequence[tuple[nn.Module, dict]], width: int, height: int) -> list[Target]:
    """Targets of ``load_net`` pairs, their PReps [height, width]."""
    out = []
    for net, record in nets:
        try:
            p = preps.to_prep(net, width, height).float()
        except ValueError as exc:
            raise TrainingInputError(f"net {record['name']}: {exc}") from None
        query = record.get("query_points")
        out.append(Target(str(record["name"]), record["architecture"],
                          architectures.ARCHITECTURES[record["architecture"]].class_id, net, p,
                          query={k: torch.as_tensor(v).float() for k, v in query.items()} if query else None))
    return out


def draw_queries(target: Target, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` coordinates [n, 3] for the SDF MLP ``target`` (on the host): half from its shape's sample points
    outside (sdf >= 0), half from those inside, drawn with replacement (the peer's ``MLPDataset``); all from one
    side when the other has none."""
    if not target.query:
        raise TrainingInputError(f"{target.name}: its MLP file keeps no SDF sample points (query_points); refit it "
                                 "with this version's fit_sdf_mlp, or set netspace.training.sdf.coordinates: uniform")
    sides = [target.query[k] for k in ("outside", "inside") if len(target.query.get(k, ())) > 0]
    if not sides:
        raise TrainingInputError(f"{target.name}: its query_points are empty; refit its MLP")
    counts = [n - n // 2, n // 2] if len(sides) == 2 else [n]
    return torch.cat([side[torch.randint(len(side), (k,), generator=generator)] for side, k in zip(sides, counts)])


def templates_for(nets: Sequence[nn.Module], setting: str) -> dict[str, nn.Module]:
    """Templates into which decoded PReps are loaded: the nets' architecture (single, sdf) or all four ClassIds'
    architectures built like the first net (multi, unseen: the unseen ones too)."""
    first = nets[0]
    if setting in ONE_ARCHITECTURE:
        return {getattr(first, "architecture", "siren"): first}
    args = first.build_args()
    args.pop("name")
    args["batch_norm"] = False
    out = {}
    for name in CLASSIFIERS:
        t = architectures.build(name, **args)
        t.eval()
        out[name] = t
    return out


def predicted_forward(template: nn.Module, prep: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``template``'s architecture run on ``x`` with the parameters of the PRep ``prep`` ([H, W], or [B, H, W]:
    B nets, output [B, ...]); differentiable w.r.t. ``prep``."""
    return preps.forward_with_prep(template, prep, x)


# ----------------------------------------------------------------------------- batches of nets

def boundary_pairs(class_ids: Sequence[int], generator: torch.Generator) -> list[list[int]]:
    """One pass's batches of 2 (indices into ``class_ids``), the peer's unseen batching: the nets of the lowest
    and of the highest ClassId present, each group shuffled (``generator``), paired in order; the larger group's
    rest paired among themselves (an odd one out with a random net of its group); the pairs shuffled. Nets of
    other ClassIds are paired among themselves likewise."""
    lo, hi = min(class_ids), max(class_ids)

    def shuffled(group):
        return [group[k] for k in torch.randperm(len(group), generator=generator).tolist()]

    a = shuffled([i for i, c in enumerate(class_ids) if c == lo])
    b = shuffled([i for i, c in enumerate(class_ids) if c == hi and hi != lo])
    rest = shuffled([i for i, c in enumerate(class_ids) if c not in (lo, hi)])
    n = min(len(a), len(b))
    pairs = [[a[k], b[k]] for k in range(n)]
    for left in (a[n:], b[n:], rest):
        for k in range(0, len(left), 2):
            if k + 1 < len(left):
                pairs.append([left[k], left[k + 1]])
            else:  # an odd one out: with a random other of its group (itself if it is alone)
                group = [i for i in left if i != left[k]] or [left[k]]
                pairs.append([left[k], group[int(torch.randint(len(group), (1,), generator=generator))]])
    return [pairs[k] for k in torch.randperm(len(pairs), generator=generator).tolist()]


# ----------------------------------------------------------------------------- one step

def _batch(n: int, k: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randperm(n, generator=generator)[:k]


def step_losses(model: NetSpace, setting: str, targets: Sequence[Target], templates: Mapping[str, nn.Module],
                x: torch.Tensor, y: torch.Tensor | None, teacher: nn.Module | None,
                s: Mapping, known: Sequence[torch.Tensor] | torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The loss terms of one step on the nets ``targets`` and the inputs ``x`` (images, or sdf points) with labels
    ``y``; ``total`` is what is minimised (single: mean KD, eq. 5.1; sdf: mean MSE, eq. 5.2; multi: the sum over the
    nets of L_kd + L_class and over the boundary pairs of L^gamma, eqs. 5.5-5.11). ``known``: the fixed nets'
    logits on ``x`` where already computed (:class:`FixedLogits`): single, one per target; multi, the teacher's."""
    prep = torch.stack([t.prep for t in targets])
    e = model.encode(prep)
    decoded = model.decode(e)
    if setting == "single":
        (template,) = templates.values()
        pred = predicted_forward(template, decoded, x)
        if known is not None:
            target = known
        else:
            with torch.no_grad():
                target = [t.net(x) for t in targets]
        kd = torch.stack([losses.kd(pred[i], target[i], s["temperature"]) for i in range(len(targets))]).mean()
        return {"total": kd, "kd": kd}
    if setting == "sdf":  # x: [N, 3] shared by the nets, or [B, N, 3] one set per net
        (template,) = templates.values()
        per_net = x.dim() == 3
        pred = preps.forward_with_prep(template, decoded, x, per_net_inputs=per_net)
        with torch.no_grad():
            target = torch.stack([t.net(x[i] if per_net else x) for i, t in enumerate(targets)])
        mse = losses.sdf_mse(pred, target)
        return {"total": mse, "mse": mse}
    return multi_losses(model, targets, templates, e, decoded, x, y, teacher, s, known)


def multi_losses(model: NetSpace, targets: Sequence[Target], templates: Mapping[str, nn.Module], e: torch.Tensor,
                 decoded: torch.Tensor, x: torch.Tensor, y: torch.Tensor, teacher: nn.Module,
                 s: Mapping, known: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Multi-Architecture terms: per net L_kd (eq. 5.5) + L_class (5.6); per boundary pair (minimum and maximum
    ClassId in the batch) and factor gamma of eq. 5.12, L^gamma = L_class^gamma + L_kd^gamma (5.7-5.11).

    Every tensor made here takes the embedding's device and dtype (the class ids, the soft ClassId targets, the
    zero of an empty L^gamma); which template a decoded PRep enters is decided on the host: the targets' ClassIds
    (``architecture_from: target``) or the head's argmax read back once per batch (``predicted``, ``host.ids``).
    """
    alpha, temp, mode = float(s["alpha"]), float(s["temperature"]), s["architecture_from"]
    if known is not None:
        t_logits = known
    else:
        with torch.no_grad():
            t_logits = teacher(x)
    classes = len(CLASSIFIERS)
    class_ids = [int(t.class_id) for t in targets]
    ids = torch.tensor(class_ids, device=e.device)
    c_logits = model.classify(e)
    l_class = losses.l_class(c_logits, ids) * len(targets)  # a sum over the nets, as the thesis's final loss
    picks = host.ids(c_logits.detach()) if mode == "predicted" else class_ids
    l_kd = sum(losses.l_kd(predicted_forward(templates[CLASSIFIERS[picks[i]]], decoded[i], x), t_logits, y, alpha,
                           temp) for i in range(len(targets)))
    lo, hi = 0, classes - 1
    gammas = losses.interpolation_factors(classes)
    pairs = [(i, j) for i in range(len(targets)) for j in range(len(targets))
             if class_ids[i] == lo and class_ids[j] == hi]
    l_gamma = e.new_zeros(())
    if pairs and gammas:
        eg = torch.stack([losses.interpolate(e[i], e[j], g) for i, j in pairs for g in gammas])
        soft = torch.stack([losses.interpolated_class_target(lo, hi, g, classes, device=e.device, dtype=e.dtype)
                            for _ in pairs for g in gammas])
        cg, pg = model.classify(eg), model.decode(eg)
        l_gamma = losses.l_class(cg, soft) * len(eg)
        if mode == "predicted":
            picks_g = host.ids(cg.detach())
        else:  # the interpolated ClassId itself (an integer for eq. 5.12's factors), known on the host
            picks_g = [losses.interpolated_class_id(lo, hi, g) for _ in pairs for g in gammas]
        for k in range(len(eg)):
            template = templates[CLASSIFIERS[picks_g[k]]]
            l_gamma = l_gamma + losses.l_kd(predicted_forward(template, pg[k], x), t_logits, y, alpha, temp)
    total = l_class + l_kd + l_gamma
    return {"total": total, "kd": l_kd, "class": l_class, "interpolation": l_gamma}


# ----------------------------------------------------------------------------- the fixed nets' logits

# The most logits (floats) FixedLogits keeps: 256 MiB of float32. The demo's digits (6 single nets x 400 images x 10
# classes, or the teacher's 4,000) fit many times over; the paper's Tiny-ImageNet single zoo (100 nets x 80,000
# images x 200 classes) does not, and its images are augmented anyway, so its steps compute the logits themselves.
FIXED_LOGITS_MAX = 64 * 2**20


class FixedLogits:
    """The logits of nets that do not change while a step reads them (the single setting's target nets, the multi
    settings' and the latent optimisation's teacher), on every training image, computed once where the training
    images are fixed (no augmentation): each step then looks its images' rows up instead of running the nets (the
    demo's ResNet56 teacher forward was 69% of a multi step). ``nets``: key -> net, already on ``device``;
    ``images``: the fixed float training images (host). Nothing is kept where the logits would exceed
    ``FIXED_LOGITS_MAX`` floats (:meth:`build` returns None): the steps compute them as before."""

    def __init__(self, logits: dict):
        self.logits = logits

    @classmethod
    @torch.no_grad()
    def build(cls, nets: Mapping, images: torch.Tensor, device, batch: int = 128) -> "FixedLogits | None":
        if not nets or len(images) == 0:
            return None
        first = next(iter(nets.values()))
        classes = first(images[:1].to(device)).shape[-1]
        if len(nets) * len(images) * classes > FIXED_LOGITS_MAX:
            return None
        return cls({key: torch.cat([net(images[k:k + batch].to(device)) for k in range(0, len(images), batch)])
                    for key, net in nets.items()})

    @classmethod
    def given(cls, key, logits: torch.Tensor, images: torch.Tensor, device) -> "FixedLogits":
        """Logits computed elsewhere (``teacher_logits``) for the training ``images``, one row per image."""
        if logits.ndim != 2 or logits.shape[0] != len(images):
            raise TrainingInputError(f"the given {key} logits {tuple(logits.shape)} do not match the {len(images)} "
                                     "training images; rerun the teacher_logits rule")
        return cls({key: logits.to(device)})

    def rows(self, key, idx: torch.Tensor) -> torch.Tensor:
        """The logits of net ``key`` on the training images ``idx`` (host indices, as the step drew them)."""
        table = self.logits[key]
        return table[idx.to(table.device)]


# ----------------------------------------------------------------------------- evaluation during training

@torch.no_grad()
def accuracy(logits_fn, x: torch.Tensor, y: torch.Tensor, batch: int = 512) -> float:
    """Top-1 accuracy in percent of ``logits_fn`` over (x, y), in batches."""
    correct = torch.zeros((), dtype=torch.long, device=y.device)
    for k in range(0, len(x), batch):
        correct += (logits_fn(x[k:k + batch]).argmax(1) == y[k:k + batch]).sum()
    return 100.0 * host.value(correct) / max(1, len(x))


@torch.no_grad()
def close_enough_fraction(pred: torch.Tensor, target: torch.Tensor, tolerance: float) -> float:
    """Fraction of outputs within ``tolerance`` of the target's (C.5; peer: isclose, atol 0.01)."""
    return host.value((pred - target).abs().le(tolerance).float().mean())


@torch.no_grad()
def validate(model: NetSpace, setting: str, targets: Sequence[Target], templates: Mapping[str, nn.Module],
             x: torch.Tensor, y: torch.Tensor | None, s: Mapping) -> float:
    """The validation value of ``model`` on the nets ``targets`` (see the module's docstring)."""
    model.eval()
    prep = torch.stack([t.prep for t in targets])
    e = model.encode(prep)
    decoded = model.decode(e)
    picks = host.ids(model.classify(e)) if setting in SEVERAL_ARCHITECTURES else None
    values = []
    for i, t in enumerate(targets):
        if setting == "sdf":
            (template,) = templates.values()
            xi = x[i] if x.dim() == 3 else x  # per-net validation points, or shared ones
            values.append(close_enough_fraction(predicted_forward(template, decoded[i], xi), t.net(xi),
                                                float(s["tolerance"])))
            continue
        if setting == "single":
            (template,) = templates.values()
        else:
            template = templates[CLASSIFIERS[picks[i]]]
        pred = accuracy(lambda b: predicted_forward(template, decoded[i], b), x, y)
        if setting == "single":
            key = ("accuracy", len(x), host.value(x.sum()))
            if key not in t.cache:
                t.cache[key] = accuracy(t.net, x, y)
            pred = abs(t.cache[key] - pred)
        values.append(pred)
    if setting in SEVERAL_ARCHITECTURES and s.get("model_choice", "interpolated") == "interpolated":
        values += interpolated_accuracies(model, targets, templates, e, x, y)
    model.train()
    return float(sum(values) / len(values))


@torch.no_grad()
def interpolated_accuracies(model: NetSpace, targets: Sequence[Target], templates: Mapping[str, nn.Module],
                            e: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """The peer's model-choice extra: accuracies of the nets decoded from (1 - gamma) e_i^lo + gamma e_i^hi, the
    i-th validation net of ClassId 0 with the i-th of the last ClassId, gamma in 1/3, 2/3 (eq. 5.12's factors),
    each loaded into the architecture its ClassId head predicts."""
    classes = len(CLASSIFIERS)
    lo = [i for i, t in enumerate(targets) if t.class_id == 0]
    hi = [i for i, t in enumerate(targets) if t.class_id == classes - 1]
    gammas = losses.interpolation_factors(classes)
    if not lo or not hi or not gammas:
        return []
    eg = torch.stack([losses.interpolate(e[i], e[j], g) for i, j in zip(lo, hi) for g in gammas])
    picks, decoded = host.ids(model.classify(eg)), model.decode(eg)
    return [accuracy(lambda b, k=k: predicted_forward(templates[CLASSIFIERS[picks[k]]], decoded[k], b), x, y)
            for k in range(len(eg))]


def higher_is_better(setting: str) -> bool:
    return setting != "single"


# ----------------------------------------------------------------------------- the loop

def effective(setting: str, settings: Mapping) -> dict:
    """The setting's training settings over the defaults; checks them."""
    if setting not in SETTINGS:
        raise TrainingInputError(f"setting {setting!r}: must be one of {SETTINGS}")
    s = {**DEFAULTS[setting], **dict(settings)}
    for key in ("steps", "eval_every"):
        if int(s.get(key, 0)) < 1:
            raise TrainingInputError(f"netspace.training.{setting}.{key}: must be a positive integer, got "
                                     f"{s.get(key)!r}")
    if s.get("architecture_from", "predicted") not in ("predicted", "target"):
        raise TrainingInputError(f"netspace.training.{setting}.architecture_from: 'predicted' or 'target'")
    if s.get("coordinates", "samples") not in ("samples", "uniform"):
        raise TrainingInputError(f"netspace.training.{setting}.coordinates: 'samples' or 'uniform', got "
                                 f"{s['coordinates']!r}")
    if s.get("pairing", "random") not in PAIRINGS:
        raise TrainingInputError(f"netspace.training.{setting}.pairing: one of {list(PAIRINGS)}, got {s['pairing']!r}")
    if s.get("model_choice", "interpolated") not in MODEL_CHOICES:
        raise TrainingInputError(f"netspace.training.{setting}.model_choice: one of {list(MODEL_CHOICES)}, got "
                                 f"{s['model_choice']!r}")
    if s.get("pairing") == "boundary" and int(s["nets_per_batch"]) != 2:
        raise TrainingInputError(f"netspace.training.{setting}: pairing boundary makes batches of 2 nets; set "
                                 f"nets_per_batch: 2 (got {s['nets_per_batch']})")
    s.setdefault("checkpoint_every", s["eval_every"])
    s.setdefault("seed", 0)
    return s


def _subset(x: torch.Tensor, y: torch.Tensor | None, n: int | None, seed: int):
    if n is None or n >= len(x):
        return x, y
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:int(n)]
    return x[idx], None if y is None else y[idx]


def _points(n: int, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(int(n), 3, generator=generator) * 2 - 1


def place(device, model: NetSpace, targets: Sequence[Target], templates: Mapping[str, nn.Module],
          teacher: nn.Module | None):
    """Everything a step reads, on ``device``: the model, the targets' nets and PReps (in place), the templates and
    the teacher; returns (model, templates, teacher)."""
    for t in targets:
        t.net.to(device)
        t.prep = t.prep.to(device)
    templates = {k: v.to(device) for k, v in templates.items()}
    return model.to(device), templates, teacher.to(device) if teacher is not None else None


def step_points(s: Mapping, generator: torch.Generator, device, targets: Sequence[Target] = ()) -> torch.Tensor:
    """One sdf step's coordinates, drawn on the host generator (the same draws on any device), on ``device``:
    ``coordinates: samples``, [B, points, 3] from each of ``targets``' sample points; ``uniform``, [points, 3]."""
    if s.get("coordinates", "samples") == "samples":
        return torch.stack([draw_queries(t, int(s["points"]), generator) for t in targets]).to(device)
    return _points(s["points"], generator).to(device)


def step_images(tx: torch.Tensor, ty: torch.Tensor, transform, s: Mapping, generator: torch.Generator,
                device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One image step's batch: drawn and augmented on the host (the same draws on any device), then on ``device``;
    and the images' indices in ``tx`` (host)."""
    idx = _batch(len(tx), int(s["images_per_net"]), generator)
    x, y = tx[idx], ty[idx]
    if transform is not None:
        x = transform(x, generator)
    return x.to(device), y.to(device), idx


def train_step(model: NetSpace, opt: torch.optim.Optimizer, setting: str, targets: Sequence[Target],
               templates: Mapping[str, nn.Module], x: torch.Tensor, y: torch.Tensor | None, teacher: nn.Module | None,
               s: Mapping, known: Sequence[torch.Tensor] | torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """One optimisation step on the nets ``targets``; the loss terms, detached, on the model's device."""
    terms = step_losses(model, setting, targets, templates, x, y, teacher, s, known)
    opt.zero_grad()
    terms["total"].backward()
    opt.step()
    return {k: v.detach() for k, v in terms.items()}


def train_netspace(setting: str, train_nets: Sequence[tuple[nn.Module, dict]],
                   val_nets: Sequence[tuple[nn.Module, dict]], data: Mapping | None, teacher: nn.Module | None,
                   settings: Mapping, out: str | Path, checkpoints: str | Path, device: str = "cpu") -> dict:
    """Train NetSpace in ``setting`` (single | multi | unseen | sdf) on ``train_nets`` (``load_net`` pairs),
    keep the model best on ``val_nets``; ``data``: ``{"train": (images, labels), "val": (images, labels)}`` float
    images [N, 3, S, S] (unused by sdf), and optionally ``"train_transform"``: ``(images, generator) -> float
    images`` applied to each training batch (augmentation, normalisation), or, without it, ``"teacher_logits"``:
    the teacher's logits on the training images (``netspace.teacher_logits``; computed here where absent); ``teacher``: the multi settings' ResNet56 (eval mode, folded).
    ``settings``: ``{"training": <netspace.training.<setting>>, "model": <netspace.model>, "prep": <netspace.prep>}``.

    Writes ``out/`` (atomically): ``model.pt`` (the best model's weights, its config, the setting, PRep width and
    height, the step and validation value), ``curves.csv`` and ``curves.png``. The checkpoint in ``checkpoints/``
    (model, optimiser, generator, curves) lets a rerun continue where it stopped. Returns the summary dict.
    """
    s = effective(setting, settings.get("training", {}))
    width = int(settings.get("prep", {}).get("width", 10000))
    if not train_nets or not val_nets:
        raise TrainingInputError(f"{setting}: no {'training' if not train_nets else 'validation'} nets given; "
                                 "check the zoo's member lists")
    if setting in SEVERAL_ARCHITECTURES and teacher is None:
        raise TrainingInputError(f"{setting}: the teacher (ResNet56) is required (eq. 5.3)")
    if setting != "sdf" and (not data or "train" not in data or "val" not in data):
        raise TrainingInputError(f"{setting}: image data with 'train' and 'val' splits required")
    arch_names = {r["architecture"] for _, r in [*train_nets, *val_nets]}
    if setting in ONE_ARCHITECTURE and len(arch_names) != 1:
        raise TrainingInputError(f"{setting}: the nets must share one architecture, got {sorted(arch_names)}")
    if setting in SEVERAL_ARCHITECTURES and not arch_names <= set(CLASSIFIERS):
        raise TrainingInputError(f"{setting}: architectures {sorted(arch_names - set(CLASSIFIERS))} have no ClassId")

    templates = templates_for([n for n, _ in train_nets], setting)
    height = common_height(templates, width)
    train_t = make_targets(train_nets, width, height)
    val_t = make_targets(val_nets, width, height)
    classes = len(CLASSIFIERS) if setting in SEVERAL_ARCHITECTURES else None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(s["seed"]))  # the model's initialisation
        model = NetSpace.from_settings((height, width), settings.get("model", {}), classes)
    model, templates, teacher = place(device, model, [*train_t, *val_t], templates, teacher)
    opt = torch.optim.Adam(model.parameters(), lr=float(s["lr"]))
    gen = torch.Generator().manual_seed(int(s["seed"]))

    if setting == "sdf":
        n_val, g_val = int(s.get("eval_images") or s["points"]), torch.Generator().manual_seed(int(s["seed"]) + 1)
        vx = step_points({**s, "points": n_val}, g_val, device, val_t)
        vy = None
    else:
        vx, vy = (v.to(device) for v in _subset(*data["val"], s.get("eval_images"), int(s["seed"]) + 1))
        tx, ty = data["train"]
        transform = data.get("train_transform")
        if transform is None and tx.dtype != torch.float32:
            raise TrainingInputError(f"{setting}: training images must be float32 tensors, or come with a "
                                     f"'train_transform', got {tx.dtype}")
    fixed = None
    if setting != "sdf" and transform is None:  # fixed images: the fixed nets' logits once (FixedLogits)
        given = data.get("teacher_logits")        # the teacher's, computed by the teacher_logits rule
        if given is not None and setting != "single":
            fixed = FixedLogits.given("teacher", given, tx, device)
        else:
            with training_kernels():  # on the loop's kernels, as the steps that read them
                fixed = FixedLogits.build({k: t.net for k, t in enumerate(train_t)} if setting == "single" else
                                          {"teacher": teacher}, tx, device)
    fp = fingerprint(setting, {k: v for k, v in s.items() if k != "steps"}, width, height, model.config(),
                     [t.name for t in train_t], [t.name for t in val_t])  # more steps: the same run, continued
    # a checkpoint of other settings or nets, or one cut short, is ignored: the run starts afresh
    checkpoint = Checkpoint(path=Path(checkpoints) / f"netspace_{setting}.pt", fingerprint=fp, on_mismatch="ignore",
                            unreadable="ignore", weights_only=False, code=code_version(__name__))
    loop = TrainingLoop(f"netspace {setting}", total=int(s["steps"]), checkpoint=checkpoint,
                        checkpoint_every=int(s["checkpoint_every"]), state={"model": model, "optimizer": opt, "generator": gen},
                        # order: the queue of training nets still to visit in this pass (a seeded shuffle per pass);
                        # running: loss sums since the last validation
                        values={"curves": [], "best": {"value": None, "step": None, "state": None}, "order": [],
                                "running": {}},
                        modules=[*templates.items(), *((t.name, t.net) for t in [*train_t, *val_t]),
                                 *([("teacher", teacher)] if teacher is not None else [])])
    loop.resume()
    v = loop.values
    better = (lambda a, b: a > b) if higher_is_better(setting) else (lambda a, b: a < b)
    model.train()

    def step(i: int) -> None:
        order = v["order"]
        if len(order) < s["nets_per_batch"]:
            if s.get("pairing") == "boundary":  # a pass of the peer's pairs, flattened 2 by 2
                order += [k for pair in boundary_pairs([t.class_id for t in train_t], gen) for k in pair]
            else:
                order += torch.randperm(len(train_t), generator=gen).tolist()
        keys = order[:s["nets_per_batch"]]
        picked = [train_t[k] for k in keys]
        del order[:s["nets_per_batch"]]
        known = None
        if setting == "sdf":
            x, y = step_points(s, gen, device, picked), None
        else:
            x, y, idx = step_images(tx, ty, transform, s, gen, device)
            if fixed is not None:
                known = [fixed.rows(k, idx) for k in keys] if setting == "single" else fixed.rows("teacher", idx)
        terms = train_step(model, opt, setting, picked, templates, x, y, teacher, s, known)
        running = v["running"]
        for k, t in terms.items():
            running[k] = running.get(k, 0.0) + host.value(t)
        running["n"] = running.get("n", 0) + 1

    def evaluate(done: int) -> None:
        value = validate(model, setting, val_t, templates, vx, vy, s)
        running = v["running"]
        n = running.pop("n")
        v["curves"].append({"step": done, **{f"train_{k}": t / n for k, t in sorted(running.items())},
                            "validation": value})
        v["running"] = {}
        if v["best"]["value"] is None or better(value, v["best"]["value"]):
            v["best"] = {"value": value, "step": done,
                         "state": {k: t.detach().cpu().clone() for k, t in model.state_dict().items()}}
        loop.progress(v["curves"][-1])
        if setting == "sdf" and value >= float(s["close_enough"]):
            loop.stop()  # the sdf stop metric was reached: training is over

    loop.run(step, evaluate=evaluate, eval_every=int(s["eval_every"]))
    curves, best = v["curves"], v["best"]

    summary = {"setting": setting, "best_step": best["step"], "validation": best["value"],
               "metric": {"single": "mean |target - predicted| accuracy", "sdf": "close-enough fraction"}.get(
                   setting, "mean predicted accuracy"), "steps": curves[-1]["step"] if curves else 0}
    with atomic_dir(out) as tmp:
        state = best["state"] or {k: v.detach().cpu() for k, v in model.state_dict().items()}
        torch.save({"config": model.config(), "state_dict": state, "setting": setting,
                    "prep_width": width, "prep_height": height, "architectures": sorted(arch_names),
                    "summary": summary}, tmp / "model.pt")
        write_curves(tmp / CURVES_CSV, curves)
        plot_curves(tmp / CURVES_PNG, setting, curves)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary


def load_netspace(path: str | Path) -> tuple[NetSpace, dict]:
    """A trained NetSpace (``model.pt`` from ``train_netspace``), in eval mode, frozen; and its record."""
    path = Path(path)
    try:
        record = torch.load(path, map_location="cpu", weights_only=False)
        model = NetSpace.from_config(record["config"])
        model.load_state_dict(record["state_dict"])
    except FileNotFoundError:
        raise TrainingInputError(f"{path}: no trained NetSpace; run train_netspace") from None
    except (KeyError, RuntimeError) as exc:
        raise TrainingInputError(f"{path}: not a NetSpace model ({exc}); rerun train_netspace") from None
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, record


def plot_curves(path: Path, setting: str, curves: list[dict]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2))
    steps = [c["step"] for c in curves]
    for k in [k for k in (curves[0] if curves else {}) if k.startswith("train_")]:
        a.plot(steps, [c[k] for c in curves], label=k[6:])
    a.set_xlabel("step"), a.set_title(f"NetSpace {setting}: training losses"), a.legend(fontsize=7)
    b.plot(steps, [c["validation"] for c in curves], marker="o")
    b.set_xlabel("step"), b.set_title("validation")
    fig.tight_layout()
    save_figure(fig, path, dpi=80)


def steps_per_epoch(n_images: int, images_per_net: int) -> int:
    """Steps in one pass over ``n_images`` training images (the thesis counts epochs of images)."""
    return math.ceil(n_images / images_per_net)
