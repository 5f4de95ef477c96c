"""Centre a line drawing and scale it into a square box (thesis ch. 4.2 preprocessing).

Part of the shared feature stage (every embedded image goes through it, ``features.transforms``); retrieval's
pixel matcher uses it too.

The object (the bounding box of pixels darker than ``threshold``) is cropped,
scaled uniformly so that its longer side equals ``box`` pixels, and pasted in
the centre of a white ``size`` x ``size`` canvas. Baseline box 170, optimal 129.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["fit_to_box", "fit_to_box_tensor", "centre_object", "load_image", "read_grey", "to_grey", "ink_bbox"]


def to_grey(image: Image.Image) -> Image.Image:
    """Convert to 8-bit grey, compositing any transparency onto white."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return image if image.mode == "L" else image.convert("L")


def ink_bbox(grey: np.ndarray, threshold: int = 200) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom), right/bottom exclusive, of pixels < threshold; None if none."""
    ink = grey < threshold
    rows = np.flatnonzero(ink.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(ink.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def fit_to_box(image: Image.Image, box: int, size: int = 224, threshold: int = 200) -> Image.Image:
    """Return a ``size`` x ``size`` mode-"L" image with the drawing centred, longer side = ``box``."""
    if not 1 <= box <= size:
        raise ValueError(f"fit_to_box: box={box} must be between 1 and size={size} (retrieval.*_box in params.yaml)")
    if not 0 < threshold <= 255:
        raise ValueError(f"fit_to_box: threshold={threshold} must be in 1..255")
    grey = to_grey(image)
    bbox = ink_bbox(np.asarray(grey), threshold)
    if bbox is None:
        raise ValueError(
            f"fit_to_box: blank image of size {grey.size}: no pixel darker than threshold={threshold}; "
            "expected black lines on white"
        )
    left, top, right, bottom = bbox
    w, h = right - left, bottom - top
    scale = box / max(w, h)
    new_w = max(1, min(box, round(w * scale)))
    new_h = max(1, min(box, round(h * scale)))
    obj = grey.crop(bbox)
    if (new_w, new_h) != (w, h):
        obj = obj.resize((new_w, new_h), Image.Resampling.LANCZOS)
    canvas = Image.new("L", (size, size), 255)
    canvas.paste(obj, ((size - new_w) // 2, (size - new_h) // 2))
    return canvas


def fit_to_box_tensor(image, box: float, size: int | None = None, threshold: int = 200, mask=None):
    """:func:`fit_to_box` on a torch image, differentiable w.r.t. its values: [H, W] float in [0, 1] (white 1)
    -> [size, size] (default H) with the object's bounding box centred and its longer side ``box`` px.

    The object is the pixels darker than ``threshold`` (of 255, as :func:`fit_to_box`), or ``mask`` ([H, W] bool:
    e.g. a shaded rendering's silhouette, whose lit faces may be as light as the page). The box is found without
    gradient; the image is then resampled by ``grid_sample`` (bilinear; white outside), so gradients reach the
    pixel values (the eq. 4.7 rendering's) but not the box. The same geometry as :func:`fit_to_box` without its
    whole-pixel rounding (the box's centre maps to the canvas centre, the scale is exact). No host
    synchronisation: the box stays a device tensor, so this runs on any device (``meta`` included). A blank image
    (no object pixel) is returned resized to ``size``, unframed.
    """
    import torch
    import torch.nn.functional as F

    if image.ndim != 2:
        raise ValueError(f"fit_to_box_tensor: expected an image [H, W], got shape {tuple(image.shape)}")
    H, W = image.shape
    size = int(size or H)
    if not 0 < box <= size:
        raise ValueError(f"fit_to_box_tensor: box={box} must be in (0, size={size}]")
    dev, dt = image.device, image.dtype
    with torch.no_grad():
        ink = (image < threshold / 255.0) if mask is None else mask.to(device=dev, dtype=torch.bool)
        rows, cols = ink.any(dim=1), ink.any(dim=0)
        ir = torch.arange(H, device=dev, dtype=dt)
        ic = torch.arange(W, device=dev, dtype=dt)
        big = float(max(H, W) + 1)
        top = torch.where(rows, ir, torch.full_like(ir, big)).amin()
        bottom = torch.where(rows, ir, torch.full_like(ir, -big)).amax() + 1
        left = torch.where(cols, ic, torch.full_like(ic, big)).amin()
        right = torch.where(cols, ic, torch.full_like(ic, -big)).amax() + 1
        found = rows.any()
        side = torch.maximum(right - left, bottom - top).clamp(min=1.0)
        # input px per output px, and the input point the canvas centre shows; blank: the plain resize
        scale_x = torch.where(found, side / box, torch.full_like(side, W / size))
        scale_y = torch.where(found, side / box, torch.full_like(side, H / size))
        cx = torch.where(found, (left + right) / 2, torch.full_like(side, W / 2))
        cy = torch.where(found, (top + bottom) / 2, torch.full_like(side, H / 2))
        u = torch.arange(size, device=dev, dtype=dt) + 0.5 - size / 2  # output pixel centres from the centre
        x_in = cx + u * scale_x  # input pixel coordinates (pixel j spans [j, j + 1])
        y_in = cy + u * scale_y
        gx = (2 * x_in / W - 1)[None, :].expand(size, size)  # grid_sample, align_corners=False
        gy = (2 * y_in / H - 1)[:, None].expand(size, size)
        grid = torch.stack([gx, gy], dim=-1)[None]
    out = F.grid_sample((image - 1.0)[None, None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out[0, 0] + 1.0


def centre_object(image: Image.Image, size: int = 224, threshold: int = 200) -> Image.Image:
    """A ``size`` x ``size`` image with the drawing moved (not scaled) to the centre: its bounding box is placed
    where :func:`fit_to_box` places a box of the same size (Table B.2's "Baseline w/ centering" renderings)."""
    grey = to_grey(image)
    if grey.size != (size, size):
        raise ValueError(f"centre_object: the image is {grey.size[0]}x{grey.size[1]}; centring without scaling "
                         f"needs a {size}x{size} image (a rendering)")
    bbox = ink_bbox(np.asarray(grey), threshold)
    if bbox is None:
        raise ValueError(f"centre_object: blank image: no pixel darker than threshold={threshold}; "
                         "expected black lines on white")
    left, top, right, bottom = bbox
    canvas = Image.new("L", (size, size), 255)
    canvas.paste(grey.crop(bbox), ((size - (right - left)) // 2, (size - (bottom - top)) // 2))
    return canvas


def read_grey(path: str | os.PathLike) -> Image.Image:
    """Read ``path`` with Pillow as grey ("L"); an unreadable file raises ValueError naming it."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            return to_grey(im)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ValueError(f"cannot read image {path}: {exc}") from exc


def load_image(path: str | os.PathLike, box: int | None, size: int = 224) -> Image.Image:
    """Read ``path`` with Pillow as grey ("L"), fitted to ``box`` (None: must already be ``size`` square)."""
    grey = read_grey(path)
    if box is None:
        if grey.size != (size, size):
            raise ValueError(f"image {path} is {grey.size[0]}x{grey.size[1]}; without a box it must be {size}x{size}")
        return grey
    try:
        return fit_to_box(grey, box, size=size)
    except ValueError as exc:
        raise ValueError(f"image {path}: {exc}") from exc
