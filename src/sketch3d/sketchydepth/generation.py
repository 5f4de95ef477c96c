"""Test-split outputs of a trained GAN (thesis 3.4.3-3.4.4) and depth sketching (3.4.6).

At test time pix2pix keeps its networks in train mode unless ``--eval`` is given, and the thesis kept
that default (A.1.6: dropout is kept active at test time, following pix2pix): dropout stays on
and BatchNorm normalises with the statistics of the test batch, which is one image (pix2pix's test
batch size). ``sketchydepth.gan.test_eval: true`` switches to eval mode (running statistics, no
dropout) instead. Dropout draws from a torch RNG seeded from ``seed``, so outputs are reproducible; the
images are generated one at a time in the triplet set's order, so each depends only on the seed
and its position.

A.1.6's "conditioning perturbation" (Ge et al. 2020, [57] of the thesis), "implemented as small translations
on the objects of the input sketch": :func:`translate_objects` moves each object of a partial image by its own
seeded random shift of at most ``sketchydepth.perturbation.max_shift`` of the side, in x and y. An *object* is a
connected group of pixels that are not the sketch's paper (any channel below ``paper``): a foreground object
with the strokes it touches, a tree's outline, the horizon. The triplet sets hold no per-object annotation, so
this is our reading of "objects" on the partial image; strokes that touch move together. Where an object leaves,
the paper shows; objects are laid back largest first, so that small ones stay on top. Fig. A.1 (right) shows
``copies`` translated inputs of each example and their images; ``generate: true`` makes the test images of
``generate`` from one translated copy of each input (off by default: Table 3.1 uses the inputs as they are).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import torch
from torch import nn

from sketch3d.sketchydepth.networks import ModelSpec, build_networks, model_spec
from sketch3d.sketchydepth.training import rng_devices, generate_one, to_tensor, to_uint8
from sketch3d.sketchydepth.triplets import read_triplets, write_depths, write_triplets


def load_generators(checkpoint: Path, device: str, model: str | None = None) -> tuple[str, ModelSpec, dict[str, nn.Module], dict]:
    """The generators of a ``final.pt`` written by train_gan: (model, spec, networks on ``device``, metadata)."""
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"{checkpoint}: no trained GAN there; run train_gan first")
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or "generators" not in state:
        raise ValueError(f"{checkpoint} is not a train_gan final.pt (no generators); pass out/final.pt of train_gan")
    if model is not None and state["model"] != model:
        raise ValueError(f"{checkpoint} holds model {state['model']!r}, not {model!r}; pass that model's final.pt")
    spec = model_spec(state["model"])
    nets = build_networks(state["model"], state["size"], state["ngf"], 1, dropout=state["dropout"], discriminators=False)
    for name, m in nets.items():
        m.load_state_dict(state["generators"][name])
        m.to(device)
    meta = {k: v for k, v in state.items() if k != "generators"}
    return state["model"], spec, nets, meta


def perturbation_settings(settings: Mapping) -> dict:
    """``sketchydepth.perturbation`` (A.1.6), checked: max_shift in [0, 0.5), copies >= 1, paper 1..255,
    generate a bool."""
    try:
        cfg = dict(settings["sketchydepth"]["perturbation"])
        max_shift, copies, paper = float(cfg["max_shift"]), int(cfg["copies"]), int(cfg["paper"])
        on = cfg["generate"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"settings lack or mistype sketchydepth.perturbation ({exc!r}): needs max_shift, copies, "
                         "paper, generate") from None
    if not 0.0 <= max_shift < 0.5 or copies < 1 or not 1 <= paper <= 255 or not isinstance(on, bool):
        raise ValueError(f"sketchydepth.perturbation {cfg}: max_shift in [0, 0.5), copies >= 1, paper in 1..255, "
                         "generate true/false")
    return {"max_shift": max_shift, "copies": copies, "paper": paper, "generate": on}


def translate_objects(partial: np.ndarray, rng: np.random.Generator, max_shift: float,
                      paper: int = 250) -> np.ndarray:
    """A.1.6's conditioning perturbation of one partial image (uint8 [S, S, 3]): each object (8-connected group
    of non-paper pixels) moved by integer (dy, dx), each uniform in [-m, m] with m = round(max_shift * S), on
    white paper; objects laid largest first. Shifts are drawn for the objects in label order (row-major first
    pixel), so the same ``rng`` state gives the same image."""
    from scipy.ndimage import label

    if partial.dtype != np.uint8 or partial.ndim != 3 or partial.shape[2] != 3:
        raise ValueError(f"translate_objects: expected uint8 [S, S, 3], got {partial.dtype} {list(partial.shape)}")
    h, w = partial.shape[:2]
    m = int(round(max_shift * min(h, w)))
    ink = (partial < paper).any(axis=-1)
    labels, count = label(ink, structure=np.ones((3, 3), bool))
    shifts = rng.integers(-m, m + 1, size=(count, 2)) if count else np.zeros((0, 2), int)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    out = np.full_like(partial, 255)
    for k in np.argsort(-sizes, kind="stable"):
        rows, cols = np.nonzero(labels == k + 1)
        r, c = rows + shifts[k, 0], cols + shifts[k, 1]
        keep = (r >= 0) & (r < h) & (c >= 0) & (c < w)
        out[r[keep], c[keep]] = partial[rows[keep], cols[keep]]
    return out


def perturbed_inputs(partial: np.ndarray, seed: int, index: int, copies: int, max_shift: float,
                     paper: int) -> np.ndarray:
    """``copies`` translated versions (uint8 [copies, S, S, 3]) of the partial image at ``index`` of a set,
    seeded by (seed, index): the same example always gets the same copies."""
    rng = np.random.default_rng([seed, 61, index])
    return np.stack([translate_objects(partial, rng, max_shift, paper) for _ in range(copies)])


def _test_settings(settings: Mapping) -> tuple[int, bool]:
    try:
        return int(settings["seed"]), bool(settings["sketchydepth"]["gan"]["test_eval"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"settings lack {exc}: generation needs seed and sketchydepth.gan.test_eval") from None


def _run(spec: ModelSpec, nets: Mapping[str, nn.Module], partial: np.ndarray, depth: np.ndarray | None, seed: int,
         eval_mode: bool, device: str) -> tuple[np.ndarray | None, np.ndarray]:
    """uint8 (depth [N, S, S] or None, image [N, S, S, 3]), one example at a time, seeded."""
    images, depths = [], []
    for m in nets.values():
        m.train(not eval_mode)
    with torch.random.fork_rng(devices=rng_devices(device)):
        torch.manual_seed(seed)
        for i in range(len(partial)):
            p = to_tensor(partial[i:i + 1]).to(device)
            d = to_tensor(depth[i:i + 1]).to(device) if depth is not None else None
            d_gen, img = generate_one(spec, nets, p, d)
            images.append(to_uint8(img))
            if d_gen is not None:
                depths.append(to_uint8(d_gen))
    return (np.concatenate(depths) if depths else None), np.concatenate(images)


def generate(model: str, checkpoint: Path, triplets: Path, out_images: Path, out_depth: Path | None,
             settings: Mapping, device: str) -> int:
    """Run ``model``'s generators (``checkpoint``: train_gan's final.pt) on the partial images of the
    triplet set ``triplets``; write a triplet set (partial = the input, image = i_gen) to ``out_images``
    and, for a depth model, a depth set of d_gen ([-1, 1] -> 0..255) to ``out_depth``. Returns the count."""
    seed, eval_mode = _test_settings(settings)
    spec = model_spec(model)
    if spec.depth and out_depth is None:
        raise ValueError(f"generate: {model} generates depth maps; give the depth set's folder (--out-depth)")
    if not spec.depth and out_depth is not None:
        raise ValueError(f"generate: {model} generates no depth map; leave out --out-depth")
    _, spec, nets, meta = load_generators(checkpoint, device, model)
    data = read_triplets(triplets)
    if len(data) and data.partial.shape[1] != meta["size"]:
        raise ValueError(f"generate: {triplets} holds {data.partial.shape[1]} px images, the GAN was trained on "
                         f"{meta['size']} px; prepare the test split at the training size")
    inputs = data.partial
    perturb = perturbation_settings(settings) if "perturbation" in settings.get("sketchydepth", {}) else None
    if perturb is not None and perturb["generate"] and len(data):
        inputs = np.stack([perturbed_inputs(p, seed, i, 1, perturb["max_shift"], perturb["paper"])[0]
                           for i, p in enumerate(data.partial)])
    depth, images = _run(spec, nets, inputs, None, seed, eval_mode, device)
    write_triplets(out_images, data.ids, data.kinds, inputs, images)
    if out_depth is not None:
        write_depths(out_depth, data.ids, depth)
    return len(data)


def images_from_partial(checkpoint: Path, partial: np.ndarray, settings: Mapping, device: str) -> np.ndarray:
    """A trained model's images (uint8 [N, S, S, 3]) for partial images uint8 [N, S, S, 3] (Fig. A.1). Each
    image is generated with the same dropout draw (the RNG is re-seeded per image), so that images of translated
    copies of one input differ by the translation alone, not by dropout's test-time noise."""
    seed, eval_mode = _test_settings(settings)
    _, spec, nets, meta = load_generators(checkpoint, device)
    s = meta["size"]
    if partial.dtype != np.uint8 or partial.ndim != 4 or partial.shape[1:] != (s, s, 3):
        raise ValueError(f"images_from_partial: expected uint8 [N, {s}, {s}, 3], got {partial.dtype} "
                         f"{list(partial.shape)}")
    return np.concatenate([_run(spec, nets, partial[i:i + 1], None, seed, eval_mode, device)[1]
                           for i in range(len(partial))])


def image_from_depth(checkpoint: Path, partial: np.ndarray, depth: np.ndarray, settings: Mapping,
                     device: str) -> np.ndarray:
    """Depth sketching (3.4.6): G_i alone on partial image(s) (uint8 [S, S, 3] or [N, S, S, 3]) and a
    user-edited depth map (uint8 [S, S] or [N, S, S], 255 nearest). The generated image(s), uint8,
    as many as given."""
    seed, eval_mode = _test_settings(settings)
    model, spec, nets, meta = load_generators(checkpoint, device)
    if not spec.depth:
        raise ValueError(f"image_from_depth: {checkpoint} holds {model!r}, whose G_i takes no depth; "
                         "use a sketchydepth or no_joint final.pt")
    single = partial.ndim == 3
    p = partial[None] if single else partial
    d = depth[None] if single else depth
    s = meta["size"]
    if p.dtype != np.uint8 or d.dtype != np.uint8 or p.shape[1:] != (s, s, 3) or d.shape != p.shape[:3]:
        raise ValueError(f"image_from_depth: expected uint8 partial [N, {s}, {s}, 3] and depth [N, {s}, {s}] "
                         f"(or one of each), got {p.dtype} {list(p.shape)} and {d.dtype} {list(d.shape)}")
    _, images = _run(spec, nets, p, d, seed, eval_mode, device)
    return images[0] if single else images
