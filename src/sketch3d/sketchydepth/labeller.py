"""The depth labeller: MiDaS depth for the images of a triplet set, and the demo's own small MiDaS.

``label_depth`` runs a MidasNet (``sketch3d.sketchydepth.midas``) and writes a depth set (8-bit per
image, 255 = nearest). Where the triplet set names its original scene images (``scenes.csv``, written by
prepare_scenes for the data splits) it labels those, as thesis 3.4.2 does: MiDaS on the scene image as it is
(its own input transform, the prediction resized back to the image), scaled to 8 bits over the whole map as
MiDaS's writer does, then the partial images' pre-processing (largest central square, bicubic resize to the
set's side; ``sketchycoco.square``). Otherwise (the generated images) it labels the ``image`` column. Every
map is cached per image under ``<cache>/<settings>/<hash[:2]>/<hash>.npy`` (``sketch3d.features.cache``),
keyed by the image file's SHA-256, the weights file's SHA-256, the network settings, the code version of
``midas`` (the model, the input transform, the 8-bit scaling) and, for scene images, the side they are
resized to: labelling an image again with the same weights and code loads nothing and computes nothing.

``train_labeller`` (demo profile) trains a small-encoder MidasNet on scenes with exact depth,
with MiDaS's scale-and-shift-invariant loss (Ranftl et al., arXiv 1907.01341, Sec. 5: each map
aligned by its median and mean absolute deviation, the trimmed absolute error L_ssitrim, plus the
multi-scale gradient-matching term), since the official weights cannot be had offline.

Settings: ``settings["sketchydepth"]["labeller"]`` holds ``encoder``, ``features``,
``net_size``, ``batch_size`` and ``train`` (``epochs``, ``batch_size``, ``lr``, ``trim``,
``grad_alpha``, ``grad_scales``, ``flip``); ``settings["seed"]`` seeds the initialisation, the order and the flips;
``settings["profile"] == "demo"`` puts the demo notice in the training summary.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.nn import functional as F

from sketch3d.atomic import atomic_path, save_torch
from sketch3d.features.cache import FeatureCache, hash_bytes
from sketch3d.sketchydepth import midas
from sketch3d.sketchydepth.triplets import (INDEX, SCENE_SOURCES, TRIPLET_COLUMNS, TripletError, read_triplets,
                                             write_depths)
from sketch3d.training_loop import CURVES_CSV, TrainingLoop, write_curves

__all__ = ["LabellerError", "LabellerSettings", "normalise_disparity", "ssi_loss", "train_labeller", "label_depth", "outputs_of"]

log = logging.getLogger("sketch3d")

SECTION = "sketchydepth.labeller"


class LabellerError(ValueError):
    """Labeller settings that cannot be used as given."""


class LabellerSettings:
    """The labeller's parameters, checked once: ``from_params(settings)`` names the key that is wrong."""

    def __init__(self, section: dict, seed: int, demo: bool) -> None:
        def need(d: dict, key: str, where: str):
            if key not in d:
                raise LabellerError(f"settings lack {where}.{key} (params.yaml section {SECTION}); add it")
            return d[key]

        self.encoder = str(need(section, "encoder", SECTION))
        self.features = int(need(section, "features", SECTION))
        self.net_size = int(need(section, "net_size", SECTION))
        self.batch_size = int(need(section, "batch_size", SECTION))
        train = section.get("train") or {}
        self.train = {k: train[k] for k in ("epochs", "batch_size", "lr", "trim", "grad_alpha",
                                                  "grad_scales", "flip")
                      if k in train}
        self.seed, self.demo = int(seed), bool(demo)
        for key, value, low in (("features", self.features, 2), ("net_size", self.net_size, 32),
                                ("batch_size", self.batch_size, 1)):
            if value < low:
                raise LabellerError(f"{SECTION}.{key}={value} must be >= {low}")
        if self.net_size % midas.MULTIPLE:
            raise LabellerError(f"{SECTION}.net_size={self.net_size} must be a multiple of {midas.MULTIPLE} "
                                "(MiDaS v2.1: 384)")

    @classmethod
    def from_params(cls, settings: dict) -> LabellerSettings:
        try:
            section = settings["sketchydepth"]["labeller"]
        except (KeyError, TypeError):
            raise LabellerError(f"settings lack the section {SECTION} (params.yaml); pass the chapter's params") from None
        return cls(section, settings.get("seed", 0), settings.get("profile") == "demo")

    def train_value(self, key: str):
        if key not in self.train:
            raise LabellerError(f"settings lack {SECTION}.train.{key} (params.yaml); add it")
        return self.train[key]


# ----------------------------------------------------------------------------- the loss


def normalise_disparity(d: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Each map of [B, H, W] shifted by its median and divided by its mean absolute deviation from it
    (MiDaS's alignment, Sec. 5): zero translation, unit scale, and the order of depths kept (the scale is
    positive, so a network cannot satisfy the loss with inverted depth)."""
    flat = d.flatten(1)
    t = flat.median(dim=1, keepdim=True).values
    s = (flat - t).abs().mean(dim=1, keepdim=True).clamp_min(eps)
    return ((flat - t) / s).view_as(d)


def ssi_loss(pred: torch.Tensor, target: torch.Tensor, trim: float = 0.2, grad_alpha: float = 0.5,
             grad_scales: int = 4) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, data term, gradient term) of MiDaS's scale-and-shift-invariant loss on disparity [B, H, W].

    Both maps are normalised per image (:func:`normalise_disparity`); data: the trimmed mean absolute
    error, the ``trim`` fraction of largest residuals of each image left out, summed over the rest and
    divided by twice the image's pixel count (L_ssitrim); gradient: the L1 of the residual's x and y
    differences at ``grad_scales`` scales (every 2**k-th pixel), each divided by its pixel count (L_reg);
    both averaged over the batch; loss = data + grad_alpha * gradient.
    """
    if pred.shape != target.shape or pred.ndim != 3:
        raise ValueError(f"ssi_loss: prediction {list(pred.shape)} and target {list(target.shape)} must both be [B, H, W]")
    if not 0.0 <= trim < 1.0:
        raise ValueError(f"ssi_loss: trim={trim} must be in [0, 1) ({SECTION}.train.trim)")
    residual = normalise_disparity(pred) - normalise_disparity(target)
    b, m = residual.shape[0], residual[0].numel()
    keep = max(1, m - int(trim * m))
    smallest = residual.abs().flatten(1).sort(dim=1).values[:, :keep]
    data = smallest.sum() / (2 * m * b)
    grad = pred.new_zeros(())
    for k in range(grad_scales):
        r = residual[:, ::2 ** k, ::2 ** k]
        gx = (r[:, :, 1:] - r[:, :, :-1]).abs().sum()
        gy = (r[:, 1:, :] - r[:, :-1, :]).abs().sum()
        grad = grad + (gx + gy) / (r[0].numel() * b)
    return data + grad_alpha * grad, data, grad


# ----------------------------------------------------------------------------- training (demo)


def outputs_of(weights: str | os.PathLike) -> tuple[Path, Path]:
    """The files ``train_labeller`` writes beside its weights ``<name>.pt``: ``curves.csv`` (the training loop's
    curves file; one labeller per folder), ``<name>.json``."""
    w = Path(weights)
    return w.with_name(CURVES_CSV), w.with_name(f"{w.stem}.json")


@contextlib.contextmanager
def _deterministic(device: str):
    """On a GPU, deterministic kernels while training (where torch has them), restored after. torch's CPU
    kernels are deterministic for a given thread count already, and its deterministic mode slows them ~2x."""
    if not str(device).startswith("cuda"):
        yield
        return
    before = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn


def _training_tensors(data: Path, net_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """ImageNet-normalised images [N, 3, h, w] and disparity targets in 0..1 [N, h, w] at the network's size."""
    t = read_triplets(data / "labeller", depth=data / "labeller_depth")
    if len(t) == 0:
        raise TripletError(f"{data / 'labeller'} holds no scenes; prepare_scenes must write the labeller's scenes")
    x = torch.from_numpy(t.image).permute(0, 3, 1, 2).float() / 255.0
    y = torch.from_numpy(t.depth).float() / 255.0
    h, w = t.image.shape[1:3]
    nh, nw = midas.net_input_size(h, w, net_size)
    if (nh, nw) != (h, w):
        x = F.interpolate(x, size=(nh, nw), mode="bicubic", align_corners=False)
        y = F.interpolate(y.unsqueeze(1), size=(nh, nw), mode="bilinear", align_corners=False).squeeze(1)
    mean = torch.tensor(midas.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(midas.IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std, y


def train_step(model: torch.nn.Module, optimiser: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
               trim: float, grad_alpha: float, grad_scales: int) -> tuple[float, float, float]:
    """One optimisation step on a batch; returns (loss, data term, gradient term) before the step."""
    optimiser.zero_grad(set_to_none=True)
    loss, data, grad = ssi_loss(model(x), y, trim=trim, grad_alpha=grad_alpha, grad_scales=grad_scales)
    loss.backward()
    optimiser.step()
    loss, data, grad = loss.detach(), data.detach(), grad.detach()
    return loss.item(), data.item(), grad.item()


def train_labeller(settings: dict, data: str | os.PathLike, out: str | os.PathLike, device: str = "cpu") -> dict:
    """Train a MidasNet of ``settings`` on ``data``/labeller (images) and ``data``/labeller_depth (exact depth).

    Writes the weights to ``out`` (a plain state dict, the official file's form), the curve to
    ``curves.csv`` beside it (epoch, loss, data, grad: means over the epoch's batches) and a summary to
    ``<out stem>.json``; returns the summary.
    """
    cfg = LabellerSettings.from_params(settings)
    epochs, batch = int(cfg.train_value("epochs")), int(cfg.train_value("batch_size"))
    lr, alpha = float(cfg.train_value("lr")), float(cfg.train_value("grad_alpha"))
    scales, flip = int(cfg.train_value("grad_scales")), bool(cfg.train_value("flip"))
    trim = float(cfg.train_value("trim"))
    if epochs < 1 or batch < 1 or lr <= 0 or scales < 1 or not 0 <= trim < 1:
        raise LabellerError(f"{SECTION}.train: epochs, batch_size, grad_scales must be >= 1, lr > 0, trim in [0, 1); got "
                         f"{cfg.train}")
    out = Path(out)
    x, y = _training_tensors(Path(data), cfg.net_size)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = midas.build_midas(cfg.encoder, cfg.features, seed=cfg.seed).to(device).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    loop = TrainingLoop("train_labeller", total=epochs, unit="epoch", checkpoint=None, state={"model": model},
                        values={"curve": []})  # minutes of training: not resumable, no checkpoint
    curve = loop.values["curve"]

    def step(i: int) -> None:
        order = torch.randperm(len(x), generator=gen)
        flips = torch.rand(len(x), generator=gen) < 0.5 if flip else torch.zeros(len(x), dtype=torch.bool)
        sums = np.zeros(3)
        n = 0
        for start in range(0, len(x), batch):
            idx = order[start:start + batch]
            xb, yb = x[idx].clone(), y[idx].clone()
            f = flips[idx]
            xb[f], yb[f] = xb[f].flip(-1), yb[f].flip(-1)
            sums += train_step(model, optimiser, xb.to(device), yb.to(device), trim, alpha, scales)
            n += 1
        curve.append({"epoch": i + 1, **{k: float(v / n) for k, v in zip(("loss", "data", "grad"), sums)}})
        loop.progress(curve[-1])

    with _deterministic(device):
        loop.run(step)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    curve_csv, info_json = outputs_of(out)
    save_torch(state, out)
    write_curves(curve_csv, curve, ["epoch", "loss", "data", "grad"])
    from sketch3d import DEMO_NOTICE
    from sketch3d.weights import sha256

    info = {"encoder": cfg.encoder, "features": cfg.features, "net_size": cfg.net_size, "scenes": len(x),
            "epochs": epochs, "first_loss": round(curve[0]["loss"], 6), "final_loss": round(curve[-1]["loss"], 6),
            "weights_sha256": sha256(out)}
    if cfg.demo:
        info["notice"] = DEMO_NOTICE
    with atomic_path(info_json) as tmp:
        tmp.write_text(json.dumps(info, indent=2) + "\n")
    return info


# ----------------------------------------------------------------------------- labelling


def _image_rows(images: Path) -> pd.DataFrame:
    path = images / INDEX
    if not path.is_file():
        raise TripletError(f"{images} is not a triplet set: {INDEX} missing (re-run the rule that makes it)")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in TRIPLET_COLUMNS if c not in df.columns]
    if missing:
        raise TripletError(f"{path} lacks columns {missing}")
    absent = [p for p in df["image"] if not (images / p).is_file()]
    if absent:
        raise TripletError(f"{images}: {len(absent)} image(s) listed in {INDEX} are missing, e.g. {absent[:3]} "
                           "(re-run the rule that makes the set)")
    return df


def _scene_sources(images: Path, ids: list[str]) -> list[Path] | None:
    """The original scene image of each id, in ``ids``' order, from ``images/scenes.csv`` (None: no such file).
    A relative path is relative to ``images``; an id without its row, or a file that is not there, is an error."""
    path = images / SCENE_SOURCES
    if not path.is_file():
        return None
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    if list(df.columns[:2]) != ["triplet_id", "scene"]:
        raise TripletError(f"{path}: expected columns triplet_id, scene; got {list(df.columns)} (re-run prepare_scenes)")
    by_id = dict(zip(df["triplet_id"], df["scene"]))
    lacking = [i for i in ids if i not in by_id]
    if lacking:
        raise TripletError(f"{path} names no scene image for {len(lacking)} triplet(s), e.g. {lacking[:3]} "
                           "(re-run prepare_scenes)")
    paths = [Path(by_id[i]) if Path(by_id[i]).is_absolute() else images / by_id[i] for i in ids]
    absent = [str(p) for p in paths if not p.is_file()]
    if absent:
        raise TripletError(f"{path}: {len(absent)} scene image(s) it names are missing, e.g. {absent[:3]}; the depth "
                           "labels are computed from them (thesis 3.4.2). Put SketchyCOCO back where prepare_scenes read "
                           "it, or re-run prepare_scenes")
    return paths


def _set_side(images: Path, rel: str) -> int:
    try:
        with Image.open(images / rel) as im:
            return int(im.size[0])
    except OSError as e:
        raise TripletError(f"{images / rel} is not a readable image ({e}); re-run the rule that makes it") from e


def _decode(data: bytes, where: Path) -> np.ndarray:
    import io

    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"))
    except OSError as e:
        raise TripletError(f"{where} is not a readable image ({e}); re-run the rule that makes it") from e


def cache_key(cfg: LabellerSettings, weights: Path) -> str:
    """The cache's settings key: network settings, the weights file's digest, the code version of ``midas``."""
    from sketch3d.codeversion import code_version
    from sketch3d.weights import sha256

    return (f"midas-{cfg.encoder}-f{cfg.features}-n{cfg.net_size}-w{sha256(weights)[:16]}"
            f"-c{code_version(midas.__name__)}")


def label_depth(settings: dict, images: str | os.PathLike, weights: str | os.PathLike, out: str | os.PathLike,
                device: str = "cpu", cache: str | os.PathLike | None = None) -> dict:
    """Depth set at ``out`` for the triplet set ``images``, by the MidasNet in ``weights``: of the original scene
    images its ``scenes.csv`` names (then cropped and resized as the partial images), else of its ``image`` column.

    Maps come from ``cache`` when there (see the module doc); the network is loaded only if
    some image is not cached. Returns counts: ``{"images": n, "computed": k, "cached": n - k, "source": ...}``.
    """
    from sketch3d.sketchydepth.sketchycoco import square

    cfg = LabellerSettings.from_params(settings)
    images, weights = Path(images), Path(weights)
    rows = _image_rows(images)
    ids = list(rows["triplet_id"])
    scenes = _scene_sources(images, ids)
    side = _set_side(images, rows["image"].iloc[0]) if scenes is not None and ids else None
    if not weights.is_file():
        midas.load_midas(weights, cfg.encoder, cfg.features)  # raises the what / where / how message
    transform = "depth8" if side is None else f"depth8-square{side}"  # scene images: the map is cropped and resized
    store = FeatureCache(Path(cache), cache_key(cfg, weights), transform) if cache is not None else None
    files = [images / rel for rel in rows["image"]] if scenes is None else scenes
    maps: list[np.ndarray | None] = [None] * len(ids)
    todo: dict[tuple[int, int], list[tuple[int, str, np.ndarray]]] = {}
    for i, path in enumerate(files):
        raw = path.read_bytes()
        key = hash_bytes(raw)
        hit = store.get(key) if store is not None else None
        if hit is not None:
            maps[i] = hit
            continue
        img = _decode(raw, path)
        todo.setdefault(img.shape[:2], []).append((i, key, img))
    computed = sum(len(v) for v in todo.values())
    if computed:
        model = midas.load_midas(weights, cfg.encoder, cfg.features, device)
        for size in sorted(todo):
            group = todo[size]
            for start in range(0, len(group), cfg.batch_size):
                chunk = group[start:start + cfg.batch_size]
                depth8 = midas.to_uint8(midas.predict_depth(model, np.stack([c[2] for c in chunk]), cfg.net_size))
                for (i, key, _), m in zip(chunk, depth8):
                    if side is not None:  # 8 bits over the whole map (MiDaS's writer), then the partial images' crop
                        m = np.asarray(square(Image.fromarray(m, "L"), side), np.uint8)
                    maps[i] = m
                    if store is not None:
                        store.put(key, m)
    sizes = {m.shape for m in maps}
    if len(sizes) > 1:
        raise TripletError(f"{images}: images of several sizes {sorted(sizes)}; a triplet set's images share one size")
    write_depths(out, ids, np.stack(maps) if maps else np.zeros((0, 0, 0), np.uint8))
    counts = {"images": len(ids), "computed": computed, "cached": len(ids) - computed,
              "source": "image column" if scenes is None else "scene images (scenes.csv), cropped and resized"}
    log.info("label_depth %s: %s", images, json.dumps(counts))
    return counts
