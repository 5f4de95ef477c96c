"""The chapter's scene data: generated outdoor scenes (demo) or SketchyCOCO (paper), as triplet sets.

Demo scenes stand in for SketchyCOCO's {partial image, scene image} pairs (thesis 3.3, 3.4.1). A scene is
sky, grass up to a horizon, trees and, in *fb* scenes, foreground objects (houses, balls, animal-like
figures) seen by a pinhole camera ``CAMERA_HEIGHT`` metres above flat ground, looking level: an object
at distance z stands on the ground row ``horizon + f * CAMERA_HEIGHT / z`` and is ``f * height / z``
pixels tall, so farther objects are smaller and higher up. Every pixel has its exact distance (sky:
infinity). The *background sketch* draws what SketchyCOCO's background sketches draw, coarsely: the
horizon, tree outlines, grass ticks, a cloud outline. The *partial image* is the scene's pixels where a
foreground object is visible and the background sketch elsewhere; *bo* scenes have no foreground object,
their partial image is the sketch alone.

``prepare_scenes`` writes ``out/{train,val,test}`` (triplet sets, see ``sketchydepth.triplets``), in the
demo also ``out/labeller`` + ``out/labeller_depth`` (other scenes, with their exact depth as a depth set,
for training the demo's depth labeller), and ``out/manifest.json`` (sizes, kinds, where the data came from).
The paper profile prepares SketchyCOCO instead (``sketchydepth.sketchycoco``).
"""
from __future__ import annotations

import json
import logging
import math
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter
from skimage import draw

from sketch3d import DEMO_NOTICE
from sketch3d.atomic import atomic_dir
from sketch3d.names import SPLITS
from sketch3d.sketchydepth.triplets import write_depths, write_scene_sources, write_triplets

log = logging.getLogger(__name__)

CAMERA_HEIGHT = 1.6  # metres above the ground
FOV_DEG = 60.0  # horizontal field of view of the square image
SHAPES = ("house", "ball", "animal")
DEMO_SPLITS = (*SPLITS, "labeller")
MANIFEST = "manifest.json"


class SceneError(ValueError):
    """Scene parameters that cannot be used as given."""


# ----------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Tree:
    """A background tree: horizontal centre ``x`` (fraction of the width), distance ``z`` and height (m)."""

    x: float
    z: float
    height: float


@dataclass(frozen=True)
class Thing:
    """A foreground object standing on the ground: ``shape`` in SHAPES, size in metres, RGB colour."""

    shape: str
    x: float
    z: float
    width: float
    height: float
    colour: tuple[int, int, int]


@dataclass(frozen=True)
class Layout:
    """What a scene holds: the horizon's row (fraction of the side), trees, foreground objects, palette."""

    horizon: float
    trees: tuple[Tree, ...]
    things: tuple[Thing, ...]
    sky: tuple[tuple[int, int, int], tuple[int, int, int]]  # top, horizon
    grass: tuple[tuple[int, int, int], tuple[int, int, int]]  # far, near
    cloudiness: float


@dataclass(frozen=True)
class Scene:
    """One rendered scene: RGB uint8 [S, S, 3], depth float32 [S, S] (m along the view axis, inf = sky),
    the background sketch and the partial image (uint8 [S, S, 3]), the visible foreground mask, its kind."""

    image: np.ndarray
    depth: np.ndarray
    sketch: np.ndarray
    partial: np.ndarray
    foreground: np.ndarray
    kind: str

    @property
    def inverse_depth(self) -> np.ndarray:
        """1 / depth, 0 for the sky."""
        return (1.0 / self.depth).astype(np.float32)


def focal_px(size: int) -> float:
    """Focal length in pixels of a ``size`` x ``size`` image with FOV_DEG horizontal field of view."""
    return size / (2.0 * math.tan(math.radians(FOV_DEG) / 2.0))


def nearest_visible(size: int, horizon: float) -> float:
    """The distance (m) of the ground seen at the image's bottom edge."""
    return focal_px(size) * CAMERA_HEIGHT / (size * (1.0 - horizon))


def base_row(size: int, horizon: float, z: float) -> float:
    """Image row (pixels, y down) where the ground at distance ``z`` is seen."""
    return size * horizon + focal_px(size) * CAMERA_HEIGHT / z


_SKIES = (((40, 90, 180), (170, 205, 235)), ((95, 105, 125), (190, 192, 198)), ((70, 80, 160), (240, 170, 120)))
_GRASS = (((90, 120, 70), (50, 130, 40)), ((130, 135, 80), (110, 140, 50)), ((70, 100, 75), (30, 95, 35)))
_COLOURS = {
    "house": ((200, 180, 150), (180, 60, 50), (220, 220, 210), (150, 160, 190)),
    "ball": ((220, 40, 40), (240, 200, 30), (40, 90, 220), (240, 120, 20)),
    "animal": ((120, 80, 45), (60, 50, 45), (225, 220, 205), (170, 120, 70)),
}
# distance range (m) and size range (width, height in m) per shape; a ball's height is its width
_SIZES = {"house": ((6.0, 22.0), (2.5, 5.0), (2.5, 4.5)), "ball": ((0.0, 9.0), (0.6, 1.4), None),
          "animal": ((0.0, 14.0), (1.3, 2.4), (1.0, 1.6))}


def _jitter(rng: np.random.Generator, colour, amount: int) -> tuple[int, int, int]:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in colour)


def sample_layout(rng: np.random.Generator, size: int, n_things: int, trees: tuple[int, int],
                  shapes: tuple[str, ...] = SHAPES) -> Layout:
    """A random layout with ``n_things`` foreground objects and trees[0]..trees[1] trees."""
    horizon = float(rng.uniform(0.3, 0.55))
    near = nearest_visible(size, horizon) * 1.15
    tree_list = tuple(Tree(float(rng.uniform(-0.05, 1.05)), float(rng.uniform(10.0, 45.0)), float(rng.uniform(4.0, 9.0)))
                      for _ in range(int(rng.integers(trees[0], trees[1] + 1))))
    things = []
    for _ in range(n_things):
        shape = shapes[int(rng.integers(len(shapes)))]
        (z0, z1), (w0, w1), hr = _SIZES[shape]
        z = float(rng.uniform(max(z0, near), max(z1, near + 1.0)))
        width = float(rng.uniform(w0, w1))
        height = width if hr is None else float(rng.uniform(*hr))
        colour = _jitter(rng, _COLOURS[shape][int(rng.integers(4))], 25)
        things.append(Thing(shape, float(rng.uniform(0.12, 0.88)), z, width, height, colour))
    sky = _SKIES[int(rng.integers(len(_SKIES)))]
    grass = _GRASS[int(rng.integers(len(_GRASS)))]
    return Layout(horizon, tree_list, tuple(things), (_jitter(rng, sky[0], 15), _jitter(rng, sky[1], 15)),
                  (_jitter(rng, grass[0], 15), _jitter(rng, grass[1], 15)), float(rng.uniform(0.0, 1.0)))


# ----------------------------------------------------------------------------- rendering


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma) -> np.ndarray:
    """Low-frequency noise with unit standard deviation."""
    n = gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return n / max(float(n.std()), 1e-6)


def _mask(size: int, rr: np.ndarray, cc: np.ndarray) -> np.ndarray:
    m = np.zeros((size, size), bool)
    keep = (rr >= 0) & (rr < size) & (cc >= 0) & (cc < size)
    m[rr[keep], cc[keep]] = True
    return m


def _ellipse(size: int, r: float, c: float, rr: float, rc: float) -> np.ndarray:
    return _mask(size, *draw.ellipse(r, c, max(rr, 0.5), max(rc, 0.5), shape=(size, size)))


def _rect(size: int, top: float, bottom: float, left: float, right: float) -> np.ndarray:
    m = np.zeros((size, size), bool)
    t, b = max(int(round(top)), 0), min(int(round(bottom)), size)
    lo, hi = max(int(round(left)), 0), min(int(round(right)), size)
    if b <= t and 0 <= int(round(top)) < size:
        b = t + 1
    if hi <= lo and 0 <= int(round(left)) < size:
        hi = lo + 1
    m[t:b, lo:hi] = True
    return m


def _textured(rng: np.random.Generator, size: int, colour, amount: float, sigma: float = 1.0) -> np.ndarray:
    """A [S, S, 3] float colour field: ``colour`` with smooth and per-pixel brightness noise."""
    shade = amount * _smooth_noise(rng, (size, size), sigma) + 0.4 * amount * rng.standard_normal((size, size))
    return np.asarray(colour, np.float64)[None, None, :] + shade[..., None]


def _background(layout: Layout, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sky and grass: float RGB [S, S, 3], depth [S, S], and the cloud cover [S, S] in 0..1."""
    h = size * layout.horizon
    y = np.arange(size) + 0.5
    rows = np.broadcast_to(y[:, None], (size, size))
    top, low = (np.asarray(c, np.float64) for c in layout.sky)
    t = np.clip(rows / max(h, 1.0), 0.0, 1.0)[..., None]
    sky = top * (1 - t) + low * t
    field = _smooth_noise(rng, (size, size), (size / 14, size / 6))
    cloud = np.clip((field - 1.2 + 1.4 * layout.cloudiness) * 1.5, 0.0, 1.0) * (rows < h)
    sky = sky * (1 - cloud[..., None]) + np.array([245.0, 245.0, 248.0]) * cloud[..., None]
    sky += 2.0 * rng.standard_normal((size, size, 1))
    far, near = (np.asarray(c, np.float64) for c in layout.grass)
    g = np.clip((rows - h) / max(size - h, 1.0), 0.0, 1.0)[..., None]
    grass = far * (1 - np.sqrt(g)) + near * np.sqrt(g)
    patches = 14.0 * _smooth_noise(rng, (size, size), size / 12)
    blades = _smooth_noise(rng, (size, size), (1.2, 0.3)) * (4.0 + 14.0 * g[..., 0])
    grass += (patches + blades)[..., None] + 3.0 * rng.standard_normal((size, size, 3))
    ground = rows > h
    rgb = np.where(ground[..., None], grass, sky)
    depth = np.full((size, size), np.inf)
    depth[ground] = focal_px(size) * CAMERA_HEIGHT / (rows[ground] - h)
    return rgb, depth, cloud


def _tree_masks(tree: Tree, size: int, horizon: float) -> tuple[np.ndarray, np.ndarray, tuple[float, ...]]:
    """Crown and trunk masks of a tree, and (crown row, column, row radius, column radius, trunk left,
    trunk right, trunk top, base row) for its outline."""
    f, yb, cx = focal_px(size), base_row(size, horizon, tree.z), tree.x * size
    hp = f * tree.height / tree.z
    cr, rr, rc = yb - 0.62 * hp, 0.36 * hp, 0.26 * hp
    tw = max(0.05 * hp, 0.5)
    crown = _ellipse(size, cr, cx, rr, rc)
    trunk = _rect(size, cr + 0.6 * rr, yb, cx - tw, cx + tw)
    return crown, trunk & ~crown, (cr, cx, rr, rc, cx - tw, cx + tw, cr + 0.8 * rr, yb)


def _thing(thing: Thing, size: int, horizon: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mask [S, S], float RGB [S, S, 3] and depth [S, S] of one foreground object."""
    f, yb, cx = focal_px(size), base_row(size, horizon, thing.z), thing.x * size
    wp, hp = f * thing.width / thing.z, f * thing.height / thing.z
    base = np.asarray(thing.colour, np.float64)
    depth = np.full((size, size), thing.z)
    if thing.shape == "ball":
        r = wp / 2
        mask = _ellipse(size, yb - r, cx, r, r)
        yy, xx = np.mgrid[0:size, 0:size] + 0.5
        d2 = ((yy - (yb - r)) ** 2 + (xx - cx) ** 2) / max(r * r, 1e-9)
        nz = np.sqrt(np.clip(1.0 - d2, 0.0, 1.0))
        nx, ny = (xx - cx) / max(r, 1e-9), (yy - (yb - r)) / max(r, 1e-9)
        light = np.clip(0.55 * nz - 0.5 * nx - 0.6 * ny, 0.0, 1.0)
        rgb = base[None, None, :] * (0.35 + 0.75 * light[..., None]) + 3.0 * rng.standard_normal((size, size, 1))
        depth = thing.z - (thing.width / 2) * nz  # the sphere's surface: its centre is nearest
        return mask, rgb, depth
    if thing.shape == "house":
        body = _rect(size, yb - 0.6 * hp, yb, cx - wp / 2, cx + wp / 2)
        rr, cc = draw.polygon([yb - 0.6 * hp, yb - hp, yb - 0.6 * hp], [cx - 0.58 * wp, cx, cx + 0.58 * wp],
                              shape=(size, size))
        roof = _mask(size, rr, cc) & ~body
        door = _rect(size, yb - 0.32 * hp, yb, cx - 0.08 * wp, cx + 0.08 * wp)
        window = _rect(size, yb - 0.5 * hp, yb - 0.36 * hp, cx + 0.18 * wp, cx + 0.38 * wp)
        rgb = _textured(rng, size, base, 6.0)
        roof_colour = _textured(rng, size, _COLOURS["house"][1], 8.0)
        rgb = np.where(roof[..., None], roof_colour, rgb)
        rgb = np.where(door[..., None], base * 0.35, rgb)
        rgb = np.where(window[..., None], np.array([150.0, 190.0, 225.0]), rgb)
        return body | roof, rgb, depth
    # animal: body, head on a random side, four legs; a spotted coat
    side = 1.0 if rng.random() < 0.5 else -1.0
    body_r = yb - 0.58 * hp
    body = _ellipse(size, body_r, cx, 0.2 * hp, 0.42 * wp)
    head = _ellipse(size, yb - 0.82 * hp, cx + side * 0.5 * wp, 0.15 * hp, 0.13 * wp)
    legs = np.zeros((size, size), bool)
    for off in (-0.3, -0.15, 0.15, 0.3):
        legs |= _rect(size, body_r, yb, cx + off * wp - 0.035 * wp, cx + off * wp + 0.035 * wp)
    spots = _smooth_noise(rng, (size, size), max(size / 32, 0.8)) > 0.9
    rgb = _textured(rng, size, base, 7.0)
    rgb = np.where(spots[..., None], rgb * 0.45 + 110.0, rgb)
    return body | head | legs, rgb, depth


def _stroke(canvas: np.ndarray, points: list[tuple[float, float]], grey: int) -> None:
    """Draw a polyline of (row, column) points onto a uint8 [S, S] canvas (clipped)."""
    size = canvas.shape[0]
    for (r0, c0), (r1, c1) in zip(points[:-1], points[1:]):
        rr, cc = draw.line(int(round(r0)), int(round(c0)), int(round(r1)), int(round(c1)))
        keep = (rr >= 0) & (rr < size) & (cc >= 0) & (cc < size)
        canvas[rr[keep], cc[keep]] = grey


def _outline(canvas: np.ndarray, r: float, c: float, rr: float, rc: float, grey: int) -> None:
    """Draw an ellipse's outline onto a uint8 [S, S] canvas, clipped (skimage wraps negative indices)."""
    size = canvas.shape[0]
    rows, cols = draw.ellipse_perimeter(int(round(r)), int(round(c)), max(int(round(rr)), 1), max(int(round(rc)), 1))
    keep = (rows >= 0) & (rows < size) & (cols >= 0) & (cols < size)
    canvas[rows[keep], cols[keep]] = grey


def _sketch(layout: Layout, size: int, cloud: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The background sketch, grey strokes on white, as uint8 [S, S, 3]."""
    canvas = np.full((size, size), 255, np.uint8)
    grey = int(rng.integers(20, 90))
    h = size * layout.horizon
    xs = np.linspace(-1, size + 1, 9)
    _stroke(canvas, [(h + rng.uniform(-0.7, 0.7), x) for x in xs], grey)
    if cloud.max() > 0.6:  # one outline around the cloud cover's centre
        rows, cols = np.nonzero(cloud > 0.6)
        _outline(canvas, rows.mean(), cols.mean(), size / 20, size / 8, grey)
    for _ in range(int(rng.integers(3, 9))):  # grass ticks: small "v" marks
        r = rng.uniform(h + 3, size - 2)
        c = rng.uniform(2, size - 2)
        s = max(size / 40, 1.0)
        _stroke(canvas, [(r - s, c - s), (r, c), (r - 1.5 * s, c + s)], grey)
    for tree in sorted(layout.trees, key=lambda t: -t.z):  # far to near: a nearer tree hides what is behind
        crown, trunk, (cr, cx, rr_, rc, left, right, ttop, yb) = _tree_masks(tree, size, layout.horizon)
        canvas[crown | trunk] = 255
        _outline(canvas, cr, cx, rr_, rc, grey)
        _stroke(canvas, [(ttop, left), (yb, left)], grey)
        _stroke(canvas, [(ttop, right), (yb, right)], grey)
    return np.repeat(canvas[..., None], 3, axis=2)


def render_scene(layout: Layout, size: int, rng: np.random.Generator) -> Scene:
    """Render ``layout`` at ``size`` x ``size``; ``rng`` draws the textures and the sketch's jitter."""
    if size < 16:
        raise SceneError(f"scene size {size} px is too small to draw; use 16 or more")
    rgb, depth, cloud = _background(layout, size, rng)
    foreground = np.zeros((size, size), bool)
    items = [(t.z, "tree", t) for t in layout.trees] + [(t.z, "thing", t) for t in layout.things]
    for _, what, item in sorted(items, key=lambda e: -e[0]):  # painter's order: far to near
        if what == "tree":
            crown, trunk, _ = _tree_masks(item, size, layout.horizon)
            green = _textured(rng, size, (45, 95, 40), 14.0, sigma=max(size / 48, 0.7))
            bark = _textured(rng, size, (90, 62, 40), 6.0)
            for m, colour in ((crown, green), (trunk, bark)):
                rgb[m] = colour[m]
                depth[m] = item.z
                foreground[m] = False
        else:
            m, colour, d = _thing(item, size, layout.horizon, rng)
            rgb[m], depth[m], foreground[m] = colour[m], d[m], True
    image = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    sketch = _sketch(layout, size, cloud, rng)
    partial = np.where(foreground[..., None], image, sketch)
    return Scene(image, depth.astype(np.float32), sketch, partial, foreground, "fb" if layout.things else "bo")


def relative_inverse_depth(depth: np.ndarray) -> np.ndarray:
    """A depth map as the chapter stores it: inverse depth scaled to 0..255 per image (255 = nearest)."""
    inv = 1.0 / depth.astype(np.float64)
    lo, hi = float(inv.min()), float(inv.max())
    scaled = (inv - lo) / (hi - lo) if hi > lo else np.zeros_like(inv)
    return np.clip(np.rint(scaled * 255.0), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- splits


def _rng(seed: int, split: str, *more: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(split.encode()), *more])


def make_scene(seed: int, split: str, index: int, kind: str, size: int, max_things: int,
               trees: tuple[int, int], shapes: tuple[str, ...] = SHAPES) -> Scene:
    """Scene ``index`` of ``split``: its own generator, so a scene does not depend on the split's length."""
    rng = _rng(seed, split, index)
    for _ in range(100):
        n = int(rng.integers(1, max_things + 1)) if kind == "fb" else 0
        scene = render_scene(sample_layout(rng, size, n, trees, shapes), size, rng)
        if kind == "bo" or scene.foreground.any():  # an fb scene must show an object: redraw if all are hidden
            return scene
    raise SceneError(f"{split} scene {index}: no visible foreground object in 100 layouts; check the scene sizes")


def split_kinds(seed: int, split: str, n: int, bo_fraction: float) -> list[str]:
    """Which of ``n`` scenes are background-only: round(n * bo_fraction) of them, chosen at random."""
    kinds = np.array(["fb"] * n, dtype=object)
    kinds[_rng(seed, split).permutation(n)[: int(round(n * bo_fraction))]] = "bo"
    return list(kinds)


def scene_settings(settings: dict) -> dict:
    """The demo scene parameters, checked: ``sketchydepth.image_size`` and ``sketchydepth.scenes``."""
    try:
        sd = settings["sketchydepth"]
        cfg = dict(sd["scenes"])
        cfg["size"] = sd["image_size"]
        cfg["seed"] = settings["seed"]
    except (KeyError, TypeError) as e:
        raise SceneError(f"params: sketchydepth.{e.args[0]} (or seed) missing; add it to params.yaml") from None
    for key in ("size", "max_things", *DEMO_SPLITS):
        if not isinstance(cfg.get(key), int) or cfg[key] < (1 if key in ("size", "max_things") else 0):
            raise SceneError(f"params: sketchydepth.scenes.{key} must be a non-negative integer, got {cfg.get(key)!r}")
    if not 0.0 <= float(cfg.get("bo_fraction", -1)) <= 1.0:
        raise SceneError(f"params: sketchydepth.scenes.bo_fraction must lie in [0, 1], got {cfg.get('bo_fraction')!r}")
    trees = cfg.get("trees")
    if not (isinstance(trees, (list, tuple)) and len(trees) == 2 and 0 <= trees[0] <= trees[1]):
        raise SceneError(f"params: sketchydepth.scenes.trees must be [min, max] with 0 <= min <= max, got {trees!r}")
    shapes = tuple(cfg.get("shapes") or ())
    bad = sorted(set(shapes) - set(SHAPES))
    if not shapes or bad:
        raise SceneError(f"params: sketchydepth.scenes.shapes must be a non-empty subset of {list(SHAPES)}, got {bad or shapes}")
    cfg["trees"], cfg["shapes"] = (int(trees[0]), int(trees[1])), shapes
    return cfg


def generate_split(cfg: dict, split: str) -> tuple[list[str], list[Scene]]:
    """Ids and scenes of one demo split (``cfg`` from ``scene_settings``)."""
    n = cfg[split]
    kinds = split_kinds(cfg["seed"], split, n, float(cfg["bo_fraction"]))
    scenes = [make_scene(cfg["seed"], split, i, kinds[i], cfg["size"], cfg["max_things"], cfg["trees"], cfg["shapes"])
              for i in range(n)]
    return [f"{split}_{i:05d}" for i in range(n)], scenes


def _write_split(folder: Path, ids: list[str], scenes: list[Scene], size: int) -> None:
    empty = np.zeros((0, size, size, 3), np.uint8)
    write_triplets(folder, ids, [s.kind for s in scenes],
                   np.stack([s.partial for s in scenes]) if scenes else empty,
                   np.stack([s.image for s in scenes]) if scenes else empty)


def _counts(kinds: list[str]) -> dict:
    return {"n": len(kinds), "fb": kinds.count("fb"), "bo": kinds.count("bo")}


def prepare_scenes(settings: dict, out: str | Path, *, base: str | Path = ".", sources: dict | None = None) -> dict:
    """Write the chapter's triplet sets under ``out`` (atomically: all or nothing); return the manifest.

    ``settings``: ``profile``, ``seed`` and the ``sketchydepth`` section. Demo: generated scenes
    (``out/{train,val,test}``, ``out/labeller``, ``out/labeller_depth``). Paper: SketchyCOCO
    (``out/{train,val,test}``), its archives checked before any work; relative paths from ``base``;
    ``sources`` replaces the download registry (tests).
    """
    out = Path(out)
    profile = settings.get("profile")
    if profile == "demo":
        cfg = scene_settings(settings)
        with atomic_dir(out) as tmp:
            manifest = {"profile": "demo", "notice": DEMO_NOTICE, "source": "generated scenes (sketchydepth.scenes)",
                        "image_size": cfg["size"], "splits": {}}
            for split in DEMO_SPLITS:
                ids, scenes = generate_split(cfg, split)
                _write_split(tmp / split, ids, scenes, cfg["size"])
                if split != "labeller":  # the depth labels' source: the scene images as they are (square already)
                    write_scene_sources(tmp / split, ids, [f"image/{i}.png" for i in ids])
                if split == "labeller":
                    depth = np.stack([relative_inverse_depth(s.depth) for s in scenes]) if scenes else \
                        np.zeros((0, cfg["size"], cfg["size"]), np.uint8)
                    write_depths(tmp / "labeller_depth", ids, depth)
                manifest["splits"][split] = _counts([s.kind for s in scenes])
                log.info("prepare_scenes: %s: %d scenes", split, len(scenes))
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        return manifest
    if profile == "paper":
        from sketch3d.sketchydepth import sketchycoco

        roots = sketchycoco.obtain_roots(settings, base=base, sources=sources)  # all archives, or one message
        with atomic_dir(out) as tmp:
            manifest = sketchycoco.prepare_sketchycoco(settings, roots, tmp)
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        return manifest
    raise SceneError(f"params: profile must be 'demo' or 'paper', got {profile!r}")
