"""Depth-based image effects (thesis 3.4.5, A.1.1-A.1.3): bokeh, light, fog, hue, grayscale, cartoon.

Every effect is applied per pixel with an amount ``a = strength * w`` where the weight ``w`` in [0, 1] comes from
the pixel's depth. 3.4.5: "it is possible to choose the depth value where the effect will start to affect the
image, the direction of the effect [...] and the maximum intensity of the effect": ``start``, ``direction`` and
``strength`` below.

- the depth map follows the chapter's convention, relative inverse depth with 1 (255 in an 8-bit map) the
  nearest point and 0 the farthest; :func:`load_depth` reads it into [0, 1];
- ``start`` and ``direction`` are read on the *distance* ``t = 1 - depth`` (0 = nearest, 1 = farthest):
  ``direction="far"`` grows the effect from ``t = start`` to full at the farthest pixel,
  ``w = clip((t - start) / (1 - start), 0, 1)``, i.e. it acts where the map is *dark*;
  ``direction="near"`` grows it from ``t = start`` to full at the nearest pixel,
  ``w = clip((start - t) / start, 0, 1)``, i.e. it acts where the map is *bright*.
  The thesis does not say how the intensity grows between the start and the end of the range; linear is ours.

The effects as the thesis defines them (our reading of each sentence next to it):

- ``bokeh`` -- 3.4.5: "a blur filter whose intensity increases with the estimated depth of the central pixel, in
  particular the weight of the central pixel is scaled accordingly". Read: a k x k averaging (box) window around
  each pixel p in which the neighbours keep weight 1 and the central pixel's weight is scaled by the depth of p;
  the window is normalised. With amount ``a`` in [0, 1] the central weight is ``c = 1 + k^2 (1 - a) / a``
  (``a = 0``: c infinite, the pixel unchanged; ``a = 1``: c = 1, the plain box blur), which is the same as
  ``(1 - a) * I(p) + a * box_k(I)(p)``: every pixel is blurred by its own depth only (the central pixel's), not
  by its neighbours'. ``strength`` is the largest ``a`` (1: the full box blur at the farthest pixels); the
  window side ``k`` is not given by the thesis: :func:`bokeh_window` takes 5% of the image side, odd (7 px at
  128). A.1.3: "a fixed depth value to determine where the blur filter starts [...] Bokeh progressively
  increases image blur as the depth gets higher": ``start`` 0.5, ``direction="far"``, kept for every example and
  for MiDaS's maps alike (Fig. A.4).
- ``light``, ``hue``, ``grayscale`` -- 3.4.5: "transforming the image to the HSV color-space and scaling a
  specific channel of pixels according to depth value": the channel is multiplied by a depth-driven factor.
  ``light``: V x (1 + a) (negative strength darkens; A.1.3: "Light variation decreases brightness of closer
  pixels", hence ``direction="near"``, strength -0.6); ``hue``: H x (1 + a), wrapped to [0, 1) (hue is an angle);
  ``grayscale``: S x (1 - a) (A.1.2: "near pixels almost unaltered while at increasing distances pixels
  progressively lose colour").
- ``fog``, ``cartoon`` -- 3.4.5: "using an overlay image of the desired effect, i.e. a fog image and a cartooned
  version of the input image. The output image is produced as a weighted average of the input image and the
  overlay image where the weight varies according to the depth value at every pixel": ``(1 - a) I + a O``.
  The fog image: a user's own file (``overlay``, resized to the image), or :func:`fog_overlay`, a seeded cloud
  texture (fractal value noise around a light grey) -- the thesis does not publish its fog image. A.1.3: "the
  fog effect renders more foggy the pixels exhibiting larger depths": ``direction="far"``. The cartoon overlay:
  :func:`cartoon` (A.1.2), strongest near.

Named variants kept from earlier versions of this module (not the thesis's definitions; useful for comparison):

- ``bokeh_gaussian``: a Gaussian blur whose sigma is ``strength * w`` pixels (a per-pixel blend of a stack of
  blurred copies): blur that grows without bound with distance, rather than a window's share;
- ``fog_flat``: the weighted average with a flat colour (``fog_colour``) instead of a fog image;
- ``hue_rotate``: HSV hue rotated by ``strength * w`` turns (a shift of every colour alike; scaling H leaves
  reds, H near 0, almost unchanged).

Images are uint8 RGB [H, W, 3]; effects return uint8 RGB of the same size.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DIRECTIONS = ("near", "far")


class DepthInputError(ValueError):
    """A depth map or image that cannot be used for an effect."""


@dataclass(frozen=True)
class Defaults:
    start: float
    direction: str
    strength: float


# The thesis's effects first (3.4.5, A.1.2, A.1.3; readings in the module docstring), then the named variants.
# Defaults: bokeh from a mid-depth threshold on, the whole window at the farthest pixels (A.1.3); light darkening
# the near pixels (A.1.3); fog, hue shift and colour loss growing with distance; cartoon strongest near (A.1.2).
EFFECTS: dict[str, Defaults] = {
    "bokeh": Defaults(start=0.5, direction="far", strength=1.0),   # strength: the largest share of the window
    "light": Defaults(start=0.0, direction="near", strength=-0.6),  # V x (1 + a)
    "fog": Defaults(start=0.2, direction="far", strength=0.8),      # (1 - a) I + a fog image
    "hue": Defaults(start=0.0, direction="far", strength=0.5),      # H x (1 + a), wrapped
    "grayscale": Defaults(start=0.0, direction="far", strength=1.0),  # S x (1 - a)
    "cartoon": Defaults(start=1.0, direction="near", strength=1.0),  # (1 - a) I + a cartoon(I)
    # variants (not the thesis's definitions)
    "bokeh_gaussian": Defaults(start=0.5, direction="far", strength=4.0),  # strength: the largest sigma, px
    "fog_flat": Defaults(start=0.2, direction="far", strength=0.8),
    "hue_rotate": Defaults(start=0.0, direction="far", strength=0.5),  # strength: turns of the colour wheel
}
THESIS_EFFECTS = ("bokeh", "light", "fog", "hue", "grayscale", "cartoon")
FOG_COLOUR = (225, 228, 232)  # the fog's mean colour: a light, slightly bluish grey (ours)
FOG_SEED = 0                  # the generated fog image's seed when none is given
BOKEH_WINDOW = 0.05           # bokeh's window side, a fraction of the image side (ours; the thesis gives none)


# ----------------------------------------------------------------------------- inputs


def load_depth(path: str | os.PathLike) -> np.ndarray:
    """A depth map as float64 [H, W] in [0, 1] (1 = nearest): an 8-bit or 16-bit single-channel PNG (divided by
    255 or 65535) or a ``.npy`` array (uint8 / uint16 as the PNGs; floats kept if within [0, 1], else scaled
    from their min..max, as MiDaS's raw relative inverse depth)."""
    path = Path(path)
    if not path.is_file():
        raise DepthInputError(f"depth map {path} does not exist")
    if path.suffix.lower() == ".npy":
        try:
            a = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise DepthInputError(f"depth map {path} is not a readable .npy array ({exc})") from exc
        if a.ndim == 3 and a.shape[-1] == 1:
            a = a[..., 0]
        if a.ndim != 2:
            raise DepthInputError(f"depth map {path} has shape {list(a.shape)}; expected one channel [H, W]")
        return _normalise(a, path)
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            mode = im.mode
            if mode not in ("L", "I;16", "I;16B", "I;16L", "I"):
                raise DepthInputError(f"depth map {path} is a {mode} image; expected one channel, 8-bit (L) or "
                                      "16-bit: save the depth as a greyscale PNG")
            a = np.asarray(im)
    except UnidentifiedImageError as exc:
        raise DepthInputError(f"depth map {path} is not an image Pillow can read, nor a .npy file") from exc
    if mode == "L":
        return a.astype(np.float64) / 255.0
    if a.min() < 0 or a.max() > 65535:
        raise DepthInputError(f"depth map {path}: 32-bit values outside 0..65535; save it as a 16-bit PNG or .npy")
    return a.astype(np.float64) / 65535.0


def _normalise(a: np.ndarray, path: Path) -> np.ndarray:
    if a.dtype == np.uint8:
        return a.astype(np.float64) / 255.0
    if a.dtype == np.uint16:
        return a.astype(np.float64) / 65535.0
    if a.dtype == bool or not np.issubdtype(a.dtype, np.number):
        raise DepthInputError(f"depth map {path} holds {a.dtype} values; expected numbers")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise DepthInputError(f"depth map {path} holds NaN or infinite values")
    if a.min() >= 0.0 and a.max() <= 1.0:
        return a
    span = a.max() - a.min()
    return (a - a.min()) / span if span > 0 else np.zeros_like(a)


def load_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as uint8 RGB [H, W, 3]."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise DepthInputError(f"image {path} does not exist")
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except UnidentifiedImageError as exc:
        raise DepthInputError(f"{path} is not an image Pillow can read") from exc


def check_pair(image: np.ndarray, depth: np.ndarray, image_name: str = "the image",
               depth_name: str = "the depth map") -> None:
    """Raise unless ``image`` is uint8 RGB [H, W, 3] and ``depth`` a [H, W] map in [0, 1] of the same size."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise DepthInputError(f"{image_name}: expected uint8 RGB [H, W, 3], got {image.dtype} {list(image.shape)}")
    if depth.ndim != 2:
        raise DepthInputError(f"{depth_name}: expected one channel [H, W], got {list(depth.shape)}")
    if depth.shape != image.shape[:2]:
        (h, w), (dh, dw) = image.shape[:2], depth.shape
        raise DepthInputError(f"{depth_name} is {dw}x{dh} (width x height) but {image_name} is {w}x{h}; "
                              "give a depth map of the image's size")
    if not np.isfinite(depth).all() or depth.min() < 0 or depth.max() > 1:
        raise DepthInputError(f"{depth_name}: values must lie in [0, 1] (use load_depth)")


# ----------------------------------------------------------------------------- weights


def weight(depth: np.ndarray, start: float, direction: str) -> np.ndarray:
    """Per-pixel effect weight in [0, 1] (see the module docstring); ``depth`` in [0, 1], 1 = nearest."""
    if direction not in DIRECTIONS:
        raise DepthInputError(f"direction {direction!r}: use one of {DIRECTIONS}")
    if not 0.0 <= start <= 1.0:
        raise DepthInputError(f"start {start}: a distance in [0, 1] (0 = nearest, 1 = farthest)")
    t = 1.0 - depth
    if direction == "far":
        return (t >= start).astype(np.float64) if start >= 1.0 else np.clip((t - start) / (1.0 - start), 0.0, 1.0)
    return (t <= start).astype(np.float64) if start <= 0.0 else np.clip((start - t) / start, 0.0, 1.0)


def _blend(a: np.ndarray, b: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """Per-pixel weighted average, float in [0, 1]: ``a`` where amount is 0, ``b`` where 1."""
    amount = np.clip(amount, 0.0, 1.0)[..., None]
    return a * (1.0 - amount) + b * amount


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- overlays


def fog_overlay(height: int, width: int, seed: int = FOG_SEED, octaves: int = 5, contrast: float = 0.3,
                colour: tuple[int, int, int] = FOG_COLOUR) -> np.ndarray:
    """A fog image (3.4.5's overlay), uint8 RGB [height, width, 3], the same for the same arguments: fractal value
    noise (``octaves`` seeded random grids of 4, 8, 16, ... cells across, bilinearly enlarged, amplitudes halving)
    scaled to [0, 1], giving the lightness of ``colour`` between ``1 - contrast`` and 1 -- soft clouds."""
    from scipy.ndimage import map_coordinates

    if height < 1 or width < 1:
        raise DepthInputError(f"fog_overlay: size {width}x{height} must be positive")
    rng = np.random.default_rng([int(seed), 0xF06])
    acc = np.zeros((height, width))
    for o in range(octaves):
        cells = 2 ** (o + 2)
        grid = rng.random((cells + 1, cells + 1))
        rows = np.linspace(0, cells, height)[:, None] * np.ones((1, width))
        cols = np.ones((height, 1)) * np.linspace(0, cells, width)[None, :]
        acc += 0.5 ** o * map_coordinates(grid, [rows, cols], order=1, mode="nearest")
    span = acc.max() - acc.min()
    noise = (acc - acc.min()) / span if span > 0 else np.ones_like(acc)
    fog = np.asarray(colour, np.float64)[None, None, :] * (1.0 - contrast + contrast * noise)[..., None]
    return np.clip(np.rint(fog), 0, 255).astype(np.uint8)


def load_overlay(path: str | os.PathLike, height: int, width: int) -> np.ndarray:
    """A user's overlay image (e.g. a fog photograph) as uint8 RGB resized (bilinear) to ``height`` x ``width``."""
    from PIL import Image

    img = load_image(path)
    if img.shape[:2] == (height, width):
        return img
    return np.asarray(Image.fromarray(img).resize((width, height), Image.BILINEAR))


# ----------------------------------------------------------------------------- effects


def bokeh_window(side: int) -> int:
    """Bokeh's window side for an image of ``side`` pixels: ``BOKEH_WINDOW`` of the side, odd, at least 3."""
    return max(3, 2 * int(round(BOKEH_WINDOW * side / 2)) + 1)


def bokeh(rgb: np.ndarray, w: np.ndarray, strength: float, window: int | None = None) -> np.ndarray:
    """The thesis's bokeh (see the module docstring): a ``window`` x ``window`` averaging window whose central
    pixel's weight is scaled by that pixel's depth, i.e. ``(1 - a) I + a box(I)`` with ``a = strength * w``;
    borders mirrored (``d c b a | a b c d``). ``window`` defaults to :func:`bokeh_window` of the shorter side."""
    from scipy.ndimage import uniform_filter

    if not 0.0 <= strength <= 1.0:
        raise DepthInputError(f"bokeh strength {strength}: the largest share of the blur window, in [0, 1] "
                              "(bokeh_gaussian takes a sigma in pixels)")
    k = bokeh_window(min(w.shape)) if window is None else int(window)
    if k < 1 or k % 2 == 0:
        raise DepthInputError(f"bokeh window {k}: an odd number of pixels")
    box = uniform_filter(rgb, size=(k, k, 1), mode="reflect")
    return _blend(rgb, box, strength * w)


def bokeh_gaussian(rgb: np.ndarray, w: np.ndarray, strength: float, levels: int = 9) -> np.ndarray:
    """Variant: blur with sigma ``strength * w`` px: per pixel, linear between the two nearest of ``levels``
    blurred copies."""
    from scipy.ndimage import gaussian_filter

    if strength < 0:
        raise DepthInputError(f"bokeh_gaussian strength {strength}: the largest blur sigma in pixels, >= 0")
    sigmas = np.linspace(0.0, strength, levels)
    stack = np.stack([rgb if s == 0 else gaussian_filter(rgb, sigma=(s, s, 0), mode="reflect") for s in sigmas])
    pos = w * (levels - 1)
    lo = np.clip(np.floor(pos).astype(int), 0, levels - 1)
    hi = np.clip(lo + 1, 0, levels - 1)
    frac = (pos - lo)[..., None]
    rows, cols = np.indices(w.shape)
    return stack[lo, rows, cols] * (1 - frac) + stack[hi, rows, cols] * frac


def _hsv_effect(rgb: np.ndarray, w: np.ndarray, strength: float, channel: str) -> np.ndarray:
    """Scale one HSV channel by the depth-driven factor (3.4.5); ``hue_rotate`` adds to H instead."""
    from skimage.color import hsv2rgb, rgb2hsv

    hsv = rgb2hsv(rgb)
    amount = strength * w
    if channel == "hue":
        hsv[..., 0] = np.mod(hsv[..., 0] * (1.0 + amount), 1.0)
    elif channel == "hue_rotate":
        hsv[..., 0] = np.mod(hsv[..., 0] + amount, 1.0)
    elif channel == "saturation":
        hsv[..., 1] = np.clip(hsv[..., 1] * (1.0 - amount), 0.0, 1.0)
    else:
        hsv[..., 2] = np.clip(hsv[..., 2] * (1.0 + amount), 0.0, 1.0)
    return hsv2rgb(hsv)


def cartoon(image: np.ndarray, median_size: int = 5, block_size: int = 9, offset: float = 0.02,
            sigma_color: float = 0.1, sigma_spatial: float = 2.0) -> np.ndarray:
    """A cartoon version of a uint8 RGB image (A.1.2), float RGB in [0, 1]: greyscale, median blur, adaptive
    threshold (pixels darker than their local mean by ``offset`` are edges), bilateral smoothing of the colours,
    edges painted black."""
    from scipy.ndimage import median_filter
    from skimage.color import rgb2gray
    from skimage.filters import threshold_local
    from skimage.restoration import denoise_bilateral

    rgb = image.astype(np.float64) / 255.0
    grey = median_filter(rgb2gray(rgb), size=median_size, mode="reflect")
    edges = grey < threshold_local(grey, block_size=block_size, method="mean", offset=offset)
    smooth = denoise_bilateral(rgb, sigma_color=sigma_color, sigma_spatial=sigma_spatial, channel_axis=-1)
    smooth[edges] = 0.0
    return smooth


def apply_effect(image: np.ndarray, depth: np.ndarray, effect: str, start: float | None = None,
                 direction: str | None = None, strength: float | None = None,
                 fog_colour: tuple[int, int, int] = FOG_COLOUR, overlay: np.ndarray | None = None,
                 seed: int = FOG_SEED) -> np.ndarray:
    """``effect`` on uint8 RGB ``image`` [H, W, 3] driven by ``depth`` [H, W] in [0, 1] (1 = nearest);
    unset ``start`` / ``direction`` / ``strength`` take :data:`EFFECTS`'s defaults. ``overlay``: fog's image
    (uint8 RGB of the image's size; default :func:`fog_overlay` with ``seed``). Returns uint8 RGB."""
    if effect not in EFFECTS:
        raise DepthInputError(f"unknown effect {effect!r}; choose one of {sorted(EFFECTS)}")
    d = EFFECTS[effect]
    start = d.start if start is None else float(start)
    direction = d.direction if direction is None else direction
    strength = d.strength if strength is None else float(strength)
    check_pair(image, depth)
    w = weight(depth, start, direction)
    rgb = image.astype(np.float64) / 255.0
    if effect == "bokeh":
        out = bokeh(rgb, w, strength)
    elif effect == "bokeh_gaussian":
        out = bokeh_gaussian(rgb, w, strength)
    elif effect == "light":
        out = _hsv_effect(rgb, w, strength, "value")
    elif effect in ("hue", "hue_rotate"):
        out = _hsv_effect(rgb, w, strength, effect)
    elif effect == "grayscale":
        out = _hsv_effect(rgb, w, strength, "saturation")
    elif effect == "fog":
        if overlay is None:
            overlay = fog_overlay(*image.shape[:2], seed=seed)
        elif overlay.dtype != np.uint8 or overlay.shape != image.shape:
            raise DepthInputError(f"fog overlay: expected uint8 RGB {list(image.shape)} (the image's size), got "
                                  f"{overlay.dtype} {list(overlay.shape)}; load it with load_overlay")
        out = _blend(rgb, overlay.astype(np.float64) / 255.0, strength * w)
    elif effect == "fog_flat":
        fog = np.broadcast_to(np.asarray(fog_colour, np.float64) / 255.0, rgb.shape)
        out = _blend(rgb, fog, strength * w)
    else:
        out = _blend(rgb, cartoon(image), strength * w)
    return _to_uint8(out)


def effects(image: str | os.PathLike, depth: str | os.PathLike, effect: str, out: str | os.PathLike,
            start: float | None = None, direction: str | None = None, strength: float | None = None,
            overlay: str | os.PathLike | None = None, seed: int = FOG_SEED) -> Path:
    """``sketch3d effects``: read an image and its depth map, apply ``effect``, write ``out`` (PNG, or what its
    suffix names). ``overlay``: the fog image file (fog only; default: :func:`fog_overlay` with ``seed``)."""
    from PIL import Image

    from sketch3d.atomic import atomic_path

    if effect not in EFFECTS:
        raise DepthInputError(f"unknown effect {effect!r}; choose one of {sorted(EFFECTS)}")
    if overlay is not None and effect != "fog":
        raise DepthInputError(f"--overlay is the fog image; effect {effect!r} takes none")
    img, dep = load_image(image), load_depth(depth)
    check_pair(img, dep, f"image {image}", f"depth map {depth}")
    fog = load_overlay(overlay, *img.shape[:2]) if overlay is not None else None
    result = apply_effect(img, dep, effect, start, direction, strength, overlay=fog, seed=seed)
    with atomic_path(out) as tmp:
        Image.fromarray(result).save(tmp)  # the format follows out's suffix (the temporary keeps it)
    return Path(out)
