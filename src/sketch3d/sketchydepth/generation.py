"""Test-split outputs of a trained GAN (thesis 3.4.3-3.4.4) and depth sketching (3.4.6).

At test time pix2pix keeps its networks in train mode unless ``--eval`` is given, and the thesis kept
that default (A.1.6: dropout is kept active at test time, following pix2pix): dropout stays on
and BatchNorm normalises with the statistics of the test batch, which is one image (pix2pix's test
batch size). ``sketchydepth.gan.test_eval: true`` switches to eval mode (running statistics, no
dropout) instead. Dropout draws from a torch RNG seeded from ``seed``, so outputs are reproducible; the
images are generated one at a time in the triplet set's order, so each depends only on the seed
and its position.
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
    depth, images = _run(spec, nets, data.partial, None, seed, eval_mode, device)
    write_triplets(out_images, data.ids, data.kinds, data.partial, images)
    if out_depth is not None:
        write_depths(out_depth, data.ids, depth)
    return len(data)


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
