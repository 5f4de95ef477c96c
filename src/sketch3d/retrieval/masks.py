"""Learned CLIP feature masking or weighting (thesis 4.2.2.2, 4.2.3.3, Table 4.7, app. B.5).

A modulating layer ``m(x) = x * w_m`` (Hadamard product) is trained over frozen CLIP
features (RN101 layer 3: D = 1024 x 14 x 14 = 200704 values) with CLIP's contrastive loss:
a batch is two sets of line renderings of the same B shapes seen from two different
viewpoints, and a shape's identity is its class. Only ``w_m`` is trained.

- *continuous* (weighting): the forward pass uses ``w_m`` as it is;
- *binary* (masking): the forward pass uses ``1 if w >= threshold else 0`` (Eq. 4.3,
  threshold 0.1). "The backward pass is the same for all scenarios": a straight-through
  estimator, ``d loss / d w_m`` is the gradient with respect to the weights the forward
  pass used, i.e. the continuous mode's gradient evaluated at the binarised weights. A
  dropped feature is 0 in both images of every pair, so its weight's gradient is exactly 0:
  only Adam's momentum still moves it, and a dropped feature does not come back.

``w_m`` starts as a constant ``init`` (default 1.0, at least ``threshold``): the binary mask
then keeps every feature, and a constant weight multiplies every MSE by ``init**2`` and
leaves cosine similarities unchanged, so both modes start as the identity (same loss, same
ranking as the unmodulated features). The optimiser is Adam with PyTorch's defaults
(betas 0.9/0.999, no weight decay): the thesis gives only lr = 0.001, which is Adam's
default learning rate.

The CLIP backbone is frozen and only ``w_m`` trains; the batch's features are computed in the step. Each step
draws B distinct shapes of the training renderings (:mod:`sketch3d.retrieval.mask_data`: the thesis's 4475
ShapeNet chairs at five views), two distinct views per shape, and a fresh random affine transform per image
(B.5); the frozen backbone embeds the 2B transformed images on the model's device, and every trained mode
(binary, continuous) takes its step on the same features (one forward pass serves both).

Checkpoint selection (4.2.3.3): every ``eval_every`` steps (and at step 0, the unmodulated
baseline) retrieval acc@1 / acc@5 is measured on each validation class's freehand sketches
with the thesis's distance (MSE of the modulated features, minimum over a shape's views;
features are the "OBB, Augm. (4 imgs)" averages). For each class the trained step with the best
acc@1, then acc@5, then the earliest, is selected, and its weights are written with the
metrics of every class at that step (the Table 4.7 rows "Binary (best chairs)", ...). Step 0 is
not a candidate: it is the untrained identity, whose rows are the unmasked rows; "the best
checkpoint" of the thesis is one of training. A selected mask that still ranks as the identity (a
binary mask keeping every feature, equal continuous weights) is flagged in its info JSON
(``identity``, ``flags``) and in the log: its Table 4.7/4.8 rows equal the unmasked rows.

Training is resumable (``sketch3d.training_loop``): a checkpoint (weights, Adam state, step, sampler state, curve, the
best weights so far) is written atomically every ``eval_every`` steps, and running again with
the same inputs and settings continues from it to the same result as an uninterrupted run.
"""
from __future__ import annotations

import csv
import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F

from sketch3d.atomic import atomic_path
from sketch3d.report.figure_file import save_figure
from sketch3d.codeversion import code_version
from sketch3d.training_loop import CURVES_CSV, CURVES_PNG, Checkpoint, TrainingLoop, fingerprint, write_curves

log = logging.getLogger(__name__)

__all__ = [
    "MODES",
    "MaskSettings",
    "ValSet",
    "binarize",
    "effective_weights",
    "modulate",
    "clip_contrastive_loss",
    "modulated_clip_loss",
    "RenderedViews",
    "encode_views",
    "mask_step",
    "is_identity",
    "apply_mask",
    "masked_shape_mse",
    "evaluate_mask",
    "select_step",
    "load_mask",
    "train_mask",
]

MODES = ("binary", "continuous")
CHECKPOINT = "checkpoint.pt"
_KS = (1, 5)


# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class MaskSettings:
    """One training run: the ``retrieval.masks`` params block for one mode (see :meth:`from_params`)."""

    mode: str
    threshold: float = 0.1
    batch_size: int = 32
    lr: float = 1e-3
    steps: int = 1000
    eval_every: int = 100
    temperature: float = 0.07
    init: float = 1.0
    seed: int = 0
    chunk_size: int = 64

    def __post_init__(self) -> None:
        where = "retrieval.masks"
        if self.mode not in MODES:
            raise ValueError(f"{where}: mode {self.mode!r} is not one of {list(MODES)}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"{where}.threshold must lie in (0, 1), got {self.threshold} (the thesis uses 0.1)")
        for name in ("batch_size", "steps", "eval_every", "chunk_size"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{where}.{name} must be an integer >= 1, got {value!r}")
        if self.batch_size < 2:
            raise ValueError(f"{where}.batch_size must be >= 2 (a contrastive batch needs negatives), got {self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"{where}.lr must be a positive number, got {self.lr}")
        if not (self.temperature > 0 and math.isfinite(self.temperature)):
            raise ValueError(f"{where}.temperature must be a positive number, got {self.temperature}")
        if self.mode == "binary" and not self.init >= self.threshold:
            raise ValueError(
                f"{where}.init={self.init} is below threshold={self.threshold}: the binary mask would start by "
                "dropping every feature; use an init >= threshold (1.0 keeps every feature)"
            )
        if not (self.init > 0 and math.isfinite(self.init)):
            raise ValueError(f"{where}.init must be a positive number (a constant weight is the identity), got {self.init}")

    @classmethod
    def from_params(cls, block: Mapping, mode: str, seed: int, chunk_size: int = 64) -> "MaskSettings":
        """Settings of ``mode`` from a ``retrieval.masks`` block (keys as in :class:`MaskSettings`)."""
        modes = block.get("modes", list(MODES))
        if mode not in modes:
            raise ValueError(f"retrieval.masks.modes {modes} does not list mode {mode!r}")
        keys = ("threshold", "batch_size", "lr", "steps", "eval_every", "temperature", "init")
        missing = [k for k in keys if k not in block]
        if missing:
            raise ValueError(f"retrieval.masks lacks {missing}: add them to params.yaml")
        return cls(mode=mode, seed=int(seed), chunk_size=int(chunk_size), **{k: block[k] for k in keys})


@dataclass
class ValSet:
    """One validation class: sketch features [Q, D], each sketch's true shape (index into the
    gallery's shapes) [Q], and gallery features [G shapes, V views, D] (4-image averages)."""

    sketches: np.ndarray
    truth: np.ndarray
    gallery: np.ndarray

    @classmethod
    def from_files(cls, sketch_npy, sketch_ids, gallery_npy, gallery_ids) -> "ValSet":
        """From the feature stage's files (``.npy`` rows + ``.csv`` ids; lists of them, one per transform, are
        averaged): the gallery's rows grouped by shape (sorted ids, the tie rule's order) and view (by
        azimuth); every shape must have the same views."""
        import pandas as pd

        from sketch3d.features.stage import load_mean
        from sketch3d.imageset import by_shape

        def as_list(x) -> list[Path]:
            return [Path(p) for p in x] if isinstance(x, (list, tuple)) else [Path(x)]

        q_ids = pd.read_csv(as_list(sketch_ids)[0], dtype={"shape_id": str, "image_id": str})
        g_ids = pd.read_csv(as_list(gallery_ids)[0], dtype={"shape_id": str, "image_id": str})
        q = load_mean(as_list(sketch_npy), as_list(sketch_ids), q_ids["image_id"].tolist(), "sketch")
        g = load_mean(as_list(gallery_npy), as_list(gallery_ids), g_ids["image_id"].tolist(), "gallery")
        ordered, shapes, views = by_shape(g_ids, str(gallery_ids))
        gallery = np.asarray(g)[ordered.index.to_numpy()].reshape(len(shapes), views, g.shape[1])
        position = {s: i for i, s in enumerate(shapes)}
        unknown = sorted(set(q_ids["shape_id"]) - set(position))
        if unknown:
            raise ValueError(f"{sketch_ids}: sketches of shapes absent from the gallery {gallery_ids}: {unknown[:5]}")
        truth = np.array([position[s] for s in q_ids["shape_id"]], dtype=np.int64)
        return cls(q, truth, gallery)

    def check(self, name: str, dim: int) -> None:
        s, g, t = self.sketches, self.gallery, np.asarray(self.truth)
        if s.ndim != 2 or s.shape[1] != dim:
            raise ValueError(f"validation {name}: sketch features must be [Q, {dim}], got shape {s.shape}")
        if g.ndim != 3 or g.shape[2] != dim:
            raise ValueError(f"validation {name}: gallery features must be [G shapes, V views, {dim}], got shape {g.shape}")
        if t.shape != (s.shape[0],) or not np.issubdtype(t.dtype, np.integer):
            raise ValueError(f"validation {name}: truth must hold {s.shape[0]} integer shape indices, got {t.shape} {t.dtype}")
        if t.size and (t.min() < 0 or t.max() >= g.shape[0]):
            raise ValueError(f"validation {name}: truth indices must lie in 0..{g.shape[0] - 1} (the gallery's shapes)")
        if s.shape[0] == 0 or g.shape[0] < 2:
            raise ValueError(f"validation {name}: needs at least one sketch and two gallery shapes, got {s.shape[0]}, {g.shape[0]}")


# ----------------------------------------------------------------------------- the modulating layer


def binarize(w: torch.Tensor, threshold: float) -> torch.Tensor:
    """Eq. 4.3: 1 where ``w >= threshold``, else 0 (same dtype as ``w``)."""
    return (w >= threshold).to(w.dtype)


def effective_weights(w: torch.Tensor, mode: str, threshold: float) -> torch.Tensor:
    """The weights the forward pass uses. Binary: :func:`binarize` forward, identity backward
    (straight-through: ``w + (binarize(w) - w).detach()``); continuous: ``w``."""
    if mode == "continuous":
        return w
    if mode == "binary":
        return w + (binarize(w, threshold) - w).detach()
    raise ValueError(f"mode {mode!r} is not one of {list(MODES)}")


def modulate(x: torch.Tensor, w: torch.Tensor, mode: str, threshold: float) -> torch.Tensor:
    """Eq. 4.2: ``x * w_m`` with the weights of ``mode`` (broadcast over the leading axes of ``x``)."""
    return x * effective_weights(w, mode, threshold)


def clip_contrastive_loss(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """CLIP's symmetric cross-entropy: row i of ``a`` and row i of ``b`` are the same object.

    logits = cos(a_i, b_j) / temperature; loss = (CE(logits, i) + CE(logits^T, i)) / 2.
    """
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"clip_contrastive_loss: a and b must be two [B, D] tensors of one shape, got {tuple(a.shape)}, {tuple(b.shape)}")
    logits = F.normalize(a, dim=1) @ F.normalize(b, dim=1).T / temperature
    labels = torch.arange(a.shape[0], device=a.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def modulated_clip_loss(a: torch.Tensor, b: torch.Tensor, w: torch.Tensor, temperature: float) -> torch.Tensor:
    """``clip_contrastive_loss(a * w, b * w, temperature)`` at half the cost: the training step.

    The cosine of two rows modulated by the same weights depends on them only through
    ``u = w * w``: ``cos(a w, b w) = (a u).b / sqrt((a a).u (b b).u)``; written so, autograd keeps
    about a quarter of the [B, D] temporaries. Same value and gradient (up to rounding).
    """
    u = w * w
    sq_a = ((a * a) @ u).clamp_min(1e-24)  # an all-zero row: cosine 0, as F.normalize gives
    sq_b = ((b * b) @ u).clamp_min(1e-24)
    logits = ((a * u) @ b.T) / torch.sqrt(sq_a[:, None] * sq_b[None, :]) / temperature
    labels = torch.arange(a.shape[0], device=a.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


# ----------------------------------------------------------------------------- data


class RenderedViews:
    """The training renderings (a rendered gallery: every shape with the same views), embedded during training.

    :meth:`features` loads the batch's images, applies each image's transform, and runs the frozen backbone on
    ``device``: [n, D] float32 features on that device (the model's). ``model``: the backbone (default: the
    feature stage's :func:`~sketch3d.features.extract.inference_model` of ``spec``; ``dim``: its feature
    length, by default ``spec``'s)."""

    def __init__(self, gallery_dir: Path, spec, device: str = "cpu", precision: str = "fp32",
                 model: torch.nn.Module | None = None, dim: int | None = None) -> None:
        from sketch3d.features.backbone import feature_dim
        from sketch3d.features.extract import inference_model
        from sketch3d.imageset import by_shape, read_index

        index, shapes, views = by_shape(read_index(gallery_dir), str(gallery_dir))
        self.gallery_dir = Path(gallery_dir)
        self.shape_ids = list(shapes)
        self.n_shapes, self.n_views = len(shapes), views
        self.paths = np.asarray(index["path"].tolist(), dtype=object).reshape(len(shapes), views)
        self.spec, self.device, self.precision = spec, str(device), precision
        self.dim = int(dim) if dim is not None else feature_dim(spec)
        self.model = model if model is not None else inference_model(spec, self.device)
        self._index_text = index[["shape_id", "azimuth"]].to_csv(index=False)

    def features(self, shapes: np.ndarray, views: np.ndarray, transforms) -> torch.Tensor:
        from sketch3d.features.extract import embed_batch, prepare_batch

        x = torch.cat([prepare_batch([Path(self.paths[s, v])], t, spec=self.spec)
                       for s, v, t in zip(shapes, views, transforms)])
        y = embed_batch(self.model, x, self.device, self.precision, np.dtype("float32"))
        return y.clone()  # out of inference mode: autograd may save it (the loss's backward needs the features)

    def fingerprint_parts(self) -> list:
        return [self._index_text, repr(self.spec), self.precision]


def encode_views(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """[n, D] features of an image batch by the frozen ``model`` (on its device and dtype; no graph kept)."""
    with torch.no_grad():
        y = model(x)
    return y.reshape(y.shape[0], -1)


def mask_step(a: torch.Tensor, b: torch.Tensor, w: torch.Tensor, optimiser: torch.optim.Optimizer,
              settings: "MaskSettings") -> torch.Tensor:
    """One optimisation step of the mask ``w`` on a batch's two views' features [B, D]; returns the loss
    (on the features' device). Creates no tensor of its own: everything follows ``a``'s device and dtype."""
    wa = effective_weights(w, settings.mode, settings.threshold)
    loss = modulated_clip_loss(a, b, wa, settings.temperature)
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()
    return loss.detach()


# ----------------------------------------------------------------------------- retrieval with a mask


def _as_mask(mask: np.ndarray, dim: int) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.shape != (dim,):
        raise ValueError(f"mask has shape {mask.shape}, the features have D={dim}: was it trained on the same layer?")
    if mask.dtype != bool and not np.issubdtype(mask.dtype, np.floating):
        raise ValueError(f"mask must be bool (binary) or float (continuous weights), got {mask.dtype}")
    return mask


def apply_mask(features: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Modulated features [..., D'] of ``features`` [..., D]: a bool mask keeps its True columns
    (D' = kept features: the same MSE ranking as multiplying by it, at a fraction of the cost),
    a float mask multiplies every feature (D' = D); float32 or wider, as the features."""
    mask = _as_mask(mask, np.shape(features)[-1])
    dtype = np.result_type(np.asarray(features[:0]).dtype, np.float32)
    if mask.dtype == bool:
        kept = np.compress(mask, features, axis=-1) if not mask.all() else features  # compress: ~4x faster than [..., mask]
        return np.asarray(kept, dtype=dtype)
    return np.asarray(features, dtype=dtype) * mask.astype(dtype)


def masked_shape_mse(queries: np.ndarray, gallery: np.ndarray, mask: np.ndarray, how: str = "min",
                     chunk_size: int = 64) -> np.ndarray:
    """[Q, G] MSE between modulated sketch features [Q, D] and modulated gallery views [G, V, D],
    reduced over each shape's views (``retrieval.distances.shape_mse``, near ties recomputed exactly).

    With a bool mask the mean runs over the kept features only: the MSE of the multiplied features
    times D / D', the same ranking.
    """
    from sketch3d.retrieval.distances import shape_mse

    if gallery.ndim != 3:
        raise ValueError(f"gallery features must be [G shapes, V views, D], got shape {gallery.shape}")
    g, v, d = gallery.shape
    q = apply_mask(queries, mask)
    gal = apply_mask(gallery, mask).reshape(g * v, -1)
    return shape_mse(q, gal, np.repeat(np.arange(g), v), g, how=how, chunk_size=chunk_size)


def evaluate_mask(val: ValSet, mask: np.ndarray, chunk_size: int = 64) -> dict[str, float]:
    """acc@1 and acc@5 (percent) of ``val``'s sketches with ``mask`` applied (the thesis's distance and tie rule)."""
    from sketch3d.retrieval.metrics import accuracy_at_k, rank_of_truth

    dist = masked_shape_mse(val.sketches, val.gallery, mask, "min", chunk_size)
    acc = accuracy_at_k(rank_of_truth(dist, np.asarray(val.truth)), _KS)
    return {f"acc@{k}": acc[k] for k in _KS}


def select_step(curve: list[dict], name: str) -> dict:
    """The curve row of the best step for class ``name``: highest acc@1, then acc@5, then the earliest step."""
    rows = [r for r in curve if f"{name}_acc@1" in r]
    if not rows:
        raise ValueError(f"select_step: the curve has no validation metrics for {name!r}")
    return max(rows, key=lambda r: (r[f"{name}_acc@1"], r[f"{name}_acc@5"], -r["step"]))


def load_mask(path: Path) -> np.ndarray:
    """A mask written by :func:`train_mask`: bool [D] (binary) or float32 [D] (continuous)."""
    mask = np.load(path)
    if mask.ndim != 1 or not (mask.dtype == bool or mask.dtype == np.float32):
        raise ValueError(f"{path} is not a feature mask (bool or float32 [D]), got {mask.dtype} {mask.shape}: "
                         "re-run the train_mask rule")
    return mask


# ----------------------------------------------------------------------------- training


def _export(w: torch.Tensor, mode: str, threshold: float) -> np.ndarray:
    w = w.detach().cpu()
    if mode == "binary":
        return (w >= threshold).numpy()
    return w.numpy().astype(np.float32)


def is_identity(mask: np.ndarray) -> bool:
    """True when ``mask`` ranks as the unmasked features do: a binary mask keeping every feature, or
    continuous weights that are all equal (a constant scales every MSE alike)."""
    mask = np.asarray(mask)
    return bool(mask.all()) if mask.dtype == bool else bool(np.all(mask == mask.flat[0]))


def _fingerprint(source, val: Mapping[str, ValSet], settings: list[MaskSettings], augment) -> str:
    """What a checkpoint belongs to: the settings, the training views, the augmentation, a sample of the
    validation values."""
    samples = []
    for name in sorted(val):
        for a in (val[name].sketches, val[name].truth, val[name].gallery):
            flat = np.asarray(a).reshape(-1)
            samples += [repr((a.shape, str(a.dtype))), np.ascontiguousarray(flat[::max(1, flat.size // 4096)][:4096])]
    return fingerprint([asdict(s) for s in settings], repr(augment), *source.fingerprint_parts(), *sorted(val),
                       *samples)


def _evaluate_all(w: torch.Tensor, settings: MaskSettings, val: Mapping[str, ValSet]) -> dict[str, float]:
    mask = _export(w, settings.mode, settings.threshold)
    row: dict[str, float] = {}
    for name in sorted(val):
        for key, value in evaluate_mask(val[name], mask, settings.chunk_size).items():
            row[f"{name}_{key}"] = value
    if settings.mode == "binary":
        row["kept_fraction"] = float(mask.mean())
    row["mean_weight"] = float(w.detach().double().mean())
    return row


def _check_modes(settings: list[MaskSettings]) -> None:
    if not settings:
        raise ValueError("train_mask: no mode to train (retrieval.masks.modes is empty)")
    modes = [s.mode for s in settings]
    if len(set(modes)) != len(modes):
        raise ValueError(f"train_mask: modes {modes} repeat one")
    shared = ("batch_size", "steps", "eval_every", "seed", "chunk_size")
    common = [{k: getattr(s, k) for k in shared} for s in settings]
    if any(c != common[0] for c in common):
        raise ValueError(f"train_mask: the modes share one run (the same batches): their {list(shared)} must agree")


def train_mask(
    source,
    val: Mapping[str, ValSet],
    settings: list[MaskSettings],
    out_dir: Path,
    checkpoint_dir: Path,
    augment=None,
    demo: bool = False,
    stop_after: int | None = None,
    train_set: dict | None = None,
    suffix: str = "",
) -> dict[str, dict[str, dict]]:
    """Train the modulating layer of every mode of ``settings`` on the same batches; write, per mode and
    validation class, the selected weights.

    ``source``: the training views (:class:`RenderedViews`, or any object with ``n_shapes``, ``n_views``, ``dim``,
    ``device``, ``features(shapes, views, transforms) -> [n, D] tensor`` and ``fingerprint_parts()``). Each step
    draws B distinct shapes, two distinct views each, and, with ``augment`` (:class:`~sketch3d.retrieval.mask_data.Augment`),
    a fresh random transform per image; the batch's features are computed once and train every mode (the
    modes see the same batches, as runs of the same seed would). ``val``: class name -> :class:`ValSet`.

    Writes into ``out_dir/<mode><suffix>/``: ``best_<class>.npy`` (bool mask for binary, float32 weights for continuous),
    ``best_<class>.json`` (the selected step, metrics of every class at that step, the step-0 baseline, whether
    the mask is the identity, the training set), ``curves.csv`` and ``curves.png``. The checkpoint lives in
    ``checkpoint_dir``: an interrupted run continues from it. ``stop_after``: stop after this many steps in
    total, without writing the outputs. Returns {mode: {class: info}}.

    Step 0 (the untrained identity) is evaluated as the baseline but is not a candidate: the selection is
    among the trained checkpoints (every ``eval_every`` steps and the last).
    """
    from sketch3d.retrieval.mask_data import draw_batch

    _check_modes(settings)
    s0 = settings[0]
    if source.n_views < 2:
        raise ValueError(f"training views: {source.n_views} view per shape: a contrastive pair needs two distinct views")
    if source.n_shapes < s0.batch_size:
        raise ValueError(f"training views: {source.n_shapes} shapes, fewer than retrieval.masks.batch_size="
                         f"{s0.batch_size}: a batch needs distinct shapes; lower batch_size or add shapes")
    if not val:
        raise ValueError("train_mask: no validation class given: checkpoints are selected on validation sketches")
    for name, v in val.items():
        v.check(name, source.dim)
    checkpoint = Checkpoint(checkpoint_dir, _fingerprint(source, val, settings, augment), code=code_version(__name__))

    torch.manual_seed(s0.seed)
    device = torch.device(source.device)
    modes = [s.mode for s in settings]
    ws = {s.mode: torch.full((source.dim,), float(s.init), dtype=torch.float32, device=device, requires_grad=True)
          for s in settings}
    optimisers = {s.mode: torch.optim.Adam([ws[s.mode]], lr=s.lr) for s in settings}
    rng = np.random.default_rng(s0.seed)
    state = {"rng": rng, **{f"w_{m}": ws[m] for m in modes}, **{f"optimiser_{m}": optimisers[m] for m in modes}}
    loop = TrainingLoop(f"train_mask {'+'.join(modes)}", total=s0.steps, checkpoint=checkpoint,
                        checkpoint_every=s0.eval_every, state=state,
                        values={"curve": {m: [] for m in modes}, "best": {m: {} for m in modes},
                                "loss_sum": {m: 0.0 for m in modes}, "loss_n": 0})
    loop.resume()
    v = loop.values
    by_mode = {s.mode: s for s in settings}

    def evaluate(step: int) -> None:
        for m in modes:
            row = {"step": step, "loss": v["loss_sum"][m] / v["loss_n"] if v["loss_n"] else float("nan"),
                   **_evaluate_all(ws[m], by_mode[m], val)}
            v["curve"][m].append(row)
            if step > 0:  # step 0, the untrained identity, is the baseline, not a candidate
                for name in val:
                    best = v["best"][m].get(name)
                    if best is None or select_step([best["row"], row], name) is row:
                        v["best"][m][name] = {"row": row, "w": ws[m].detach().clone()}
            loop.progress({"mode": m, **row})
            v["loss_sum"][m] = 0.0
        v["loss_n"] = 0

    def step(i: int) -> None:
        batch = draw_batch(rng, source.n_shapes, source.n_views, s0.batch_size, augment)
        b = s0.batch_size
        ts = batch.transforms or (None,) * (2 * b)
        feats = source.features(np.concatenate([batch.shapes, batch.shapes]), np.concatenate([batch.v1, batch.v2]), ts)
        fa, fb = feats[:b], feats[b:]
        for m in modes:
            loss = mask_step(fa, fb, ws[m], optimisers[m], by_mode[m])
            v["loss_sum"][m] += float(loss)
        v["loss_n"] += 1

    if not v["curve"][modes[0]]:  # step 0: the unmodulated baseline
        evaluate(0)
        loop.save()
    if not loop.run(step, evaluate=evaluate, eval_every=s0.eval_every, stop_after=stop_after):
        return {}
    return {m: _write_outputs(Path(out_dir) / f"{m}{suffix}", by_mode[m], v["curve"][m], v["best"][m], demo, train_set, augment)
            for m in modes}


# ----------------------------------------------------------------------------- outputs


def _write_outputs(out_dir: Path, settings: MaskSettings, curve: list[dict], best: dict, demo: bool,
                   train_set: dict | None, augment) -> dict[str, dict]:
    from sketch3d import DEMO_NOTICE

    names = sorted(best)
    selections = {}
    for name in names:
        row = best[name]["row"]
        mask = _export(best[name]["w"], settings.mode, settings.threshold)
        with atomic_path(out_dir / f"best_{name}.npy") as tmp:
            np.save(tmp, mask)
        metrics = {other: {f"acc@{k}": round(float(row[f"{other}_acc@{k}"]), 4) for k in _KS} for other in names}
        baseline = {other: {f"acc@{k}": round(float(curve[0][f"{other}_acc@{k}"]), 4) for k in _KS} for other in names}
        identity = is_identity(mask)
        flags = []
        if identity:
            flags.append(f"the selected {settings.mode} mask is the identity ("
                         f"{'keeps every feature' if settings.mode == 'binary' else 'all weights equal'}): its rows "
                         "equal the unmasked rows; training did not change the ranking by the selected step")
        elif metrics == baseline:
            flags.append("the selected mask's validation accuracies equal the untrained (step 0) baseline's")
        info = {
            "mode": settings.mode,
            "selected_on": name,
            "step": int(row["step"]),
            "candidates": f"steps {settings.eval_every}..{settings.steps} every {settings.eval_every} (and the last); "
                          "step 0, the untrained identity, is the baseline only",
            "metrics": metrics,
            "baseline_step0": baseline,
            "kept_fraction": round(float(mask.mean()), 6) if settings.mode == "binary" else None,
            "identity": identity,
            "flags": flags,
            "settings": asdict(settings),
            "augment": None if augment is None else asdict(augment),
            "train_set": train_set,
        }
        for flag in flags:
            log.warning("train_mask %s (best %s): %s", settings.mode, name, flag)
        if demo:
            info["notice"] = DEMO_NOTICE
        with atomic_path(out_dir / f"best_{name}.json") as tmp:
            tmp.write_text(json.dumps(info, indent=2) + "\n")
        selections[name] = info
    columns = ["step", "loss", *[f"{n}_acc@{k}" for n in names for k in _KS], "kept_fraction", "mean_weight"]
    write_curves(out_dir / CURVES_CSV, curve, columns)
    _plot_curve(out_dir / CURVES_PNG, settings, curve, names, demo)
    return selections


def _plot_curve(path: Path, settings: MaskSettings, curve: list[dict], names: list[str], demo: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sketch3d import DEMO_NOTICE

    steps = [r["step"] for r in curve]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.4))
    ax_loss.plot(steps[1:], [r["loss"] for r in curve[1:]], marker=".", color="black")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("contrastive loss (mean since last eval)")
    for name, colour in zip(names, ("tab:blue", "tab:orange", "tab:green", "tab:red")):
        for k, style in zip(_KS, ("-", "--")):
            ax_acc.plot(steps, [r[f"{name}_acc@{k}"] for r in curve], style, marker=".", color=colour,
                        label=f"{name} acc@{k}")
        ax_acc.axvline(select_step(curve[1:] or curve, name)["step"], color=colour, lw=0.8, alpha=0.6)
    ax_acc.set_xlabel("step")
    ax_acc.set_ylabel("validation accuracy (%)")
    ax_acc.set_ylim(-2, 102)
    ax_acc.legend(fontsize=7)
    title = f"CLIP feature {'masking' if settings.mode == 'binary' else 'weighting'} ({settings.mode}): training curve"
    if demo:
        title += f"\n{DEMO_NOTICE}"
    fig.suptitle(title, fontsize=8, color="darkred" if demo else "black")
    fig.tight_layout(rect=(0, 0, 1, 0.9 if demo else 0.95))
    save_figure(fig, path, dpi=100)
