"""A "3D photo" zoom clip from an image and its depth map (thesis 3.4.5, Fig. 3.6).

The thesis made its 3D photos with a pre-trained 3D-photo model (Shih et al., "3D Photography using
Context-aware Layered Depth Inpainting", CVPR 2020, its ref. [116]), which inpaints the disoccluded colour and
depth with networks. This module is a plain geometric stand-in, no learned part:

1. the map (relative inverse depth, 1 = nearest) becomes a depth ``z = 1 / (1/far + depth * (1 - 1/far))``,
   from 1 (nearest) to ``far`` (farthest);
2. a pinhole camera at the image centre moves forward along its axis by ``zoom * i / (frames - 1)`` in
   frame ``i`` (in units of the nearest depth, so ``zoom < 1``); a point at depth ``z`` moves away from the
   centre by the factor ``z / (z - shift)``: near pixels grow faster than far ones (parallax);
3. pixels are forward-warped, each split into ``ceil(max factor)``^2 sub-pixels so an enlarged surface leaves no
   cracks; where several land on one output pixel the nearest wins (z-buffer; ties by position, deterministic);
4. disoccluded pixels are filled from the nearest written pixel (``fill="nearest"``) or by biharmonic
   inpainting (``fill="biharmonic"``, scikit-image; slower).

The clip is an animated GIF written by Pillow (no MP4 writer is installed). Pillow merges consecutive
identical frames into one longer frame (the timing is kept), so a clip whose first steps move nothing by a
whole pixel (a far scene, a small zoom) holds fewer than ``frames`` frames.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from sketch3d.sketchydepth.effects import DepthInputError, check_pair

FILLS = ("nearest", "biharmonic")


def depth_to_z(depth: np.ndarray, far: float) -> np.ndarray:
    """Depth along the axis, 1 (map value 1, nearest) to ``far`` (map value 0), linear in inverse depth."""
    if far <= 1.0:
        raise DepthInputError(f"far = {far}: the farthest depth in units of the nearest, > 1")
    return 1.0 / (1.0 / far + depth * (1.0 - 1.0 / far))


def warp(image: np.ndarray, z: np.ndarray, shift: float, fill: str = "nearest") -> np.ndarray:
    """One frame: the view of a camera moved forward by ``shift`` (< min z), uint8 RGB like ``image``."""
    if fill not in FILLS:
        raise DepthInputError(f"fill {fill!r}: use one of {FILLS}")
    h, w = z.shape
    if not 0.0 <= shift < z.min():
        raise DepthInputError(f"camera shift {shift} must be in [0, nearest depth {z.min():.3g})")
    ss = max(1, math.ceil(z.min() / (z.min() - shift) - 1e-9))  # sub-pixels per side: the largest enlargement
    offsets = (np.arange(ss) + 0.5) / ss - 0.5
    ys, xs = np.indices((h, w), dtype=np.float64)
    grid = (h, w, ss, ss)
    sy = np.broadcast_to(ys[:, :, None, None] + offsets[None, None, :, None], grid).reshape(-1)
    sx = np.broadcast_to(xs[:, :, None, None] + offsets[None, None, None, :], grid).reshape(-1)
    src = np.repeat(np.arange(h * w), ss * ss)
    zs = z.reshape(-1)[src]
    scale = zs / (zs - shift)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    ty = np.rint(cy + (sy - cy) * scale).astype(np.int64)
    tx = np.rint(cx + (sx - cx) * scale).astype(np.int64)
    inside = (ty >= 0) & (ty < h) & (tx >= 0) & (tx < w)
    target = (ty * w + tx)[inside]
    depth_after, source = (zs - shift)[inside], src[inside]
    order = np.lexsort((depth_after, target))  # by target, nearest first; stable, so ties keep scan order
    first = np.unique(target[order], return_index=True)[1]
    winners = order[first]
    flat = np.zeros((h * w, 3), dtype=image.dtype)
    written = np.zeros(h * w, dtype=bool)
    flat[target[winners]] = image.reshape(-1, 3)[source[winners]]
    written[target[winners]] = True
    out, hole = flat.reshape(h, w, 3), ~written.reshape(h, w)
    if hole.any():
        out = _fill(out, hole, fill)
    return out


def _fill(frame: np.ndarray, hole: np.ndarray, fill: str) -> np.ndarray:
    if fill == "nearest":
        from scipy.ndimage import distance_transform_edt

        _, (iy, ix) = distance_transform_edt(hole, return_indices=True)
        return frame[iy, ix]
    from skimage.restoration import inpaint_biharmonic

    done = inpaint_biharmonic(frame.astype(np.float64) / 255.0, hole, channel_axis=-1)
    return np.clip(np.rint(done * 255.0), 0, 255).astype(np.uint8)


def zoom_frames(image: np.ndarray, depth: np.ndarray, frames: int = 24, zoom: float = 0.3, far: float = 8.0,
                fill: str = "nearest") -> list[np.ndarray]:
    """``frames`` uint8 RGB frames of a camera moving forward from 0 to ``zoom`` (of the nearest depth)."""
    check_pair(image, depth)
    if frames < 2:
        raise DepthInputError(f"frames = {frames}: a clip needs at least 2")
    if not 0.0 < zoom < 1.0:
        raise DepthInputError(f"zoom = {zoom}: the camera's final forward move in units of the nearest depth, "
                              "in (0, 1)")
    z = depth_to_z(depth, far)
    return [warp(image, z, zoom * i / (frames - 1), fill) for i in range(frames)]


def write_gif(frames: list[np.ndarray], out: str | os.PathLike, duration_ms: int = 80) -> Path:
    """An animated GIF (looping) of uint8 RGB frames, written atomically."""
    from PIL import Image

    from sketch3d.atomic import atomic_path

    out = Path(out)
    if out.suffix.lower() != ".gif":
        raise DepthInputError(f"{out}: the clip is written as an animated GIF (no video writer is installed); "
                              "name the output *.gif")
    images = [Image.fromarray(f) for f in frames]
    with atomic_path(out) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms, loop=0)
    return out


def photo3d(image: str | os.PathLike, depth: str | os.PathLike, out: str | os.PathLike, frames: int = 24,
            zoom: float = 0.3, far: float = 8.0, fill: str = "nearest", duration_ms: int = 80) -> Path:
    """``sketch3d photo3d``: the zoom clip of an image file and its depth map (PNG 8/16-bit or .npy) as a GIF."""
    from sketch3d.sketchydepth.effects import load_depth, load_image

    if Path(out).suffix.lower() != ".gif":
        raise DepthInputError(f"{out}: name the output *.gif (the clip is an animated GIF)")
    img, dep = load_image(image), load_depth(depth)
    check_pair(img, dep, f"image {image}", f"depth map {depth}")
    return write_gif(zoom_frames(img, dep, frames, zoom, far, fill), out, duration_ms)
