"""Optimisation-based inversion of the SDF generator at the style level (thesis 4.3.2.2, 4.3.3).

``invert(generator, target, supervision, settings, out_dir, ...)`` finds the style vectors ``s``
([1, n_styles, style_dim], the generator's W+) whose shape fits ``target``:

- ``"sdf"``: eq. 4.6, MSE between the generated SDF and the target SDF on the target's grid over
  the generator's cube [-1, 1]^3 (both in cube units);
- ``"clip"``: eq. 4.7, MSE between CLIP ResNet layer-3 features of the target sketch and of a
  differentiable rendering of the generated SDF (``sdf_render``), seen from the sketch's view: by default
  (``reconstruction.render.renderer: shaded``) the thesis's SDFDiff-style shaded image (sphere tracing, IDR's
  differentiable correction at the hit, Lambertian shading from a fixed light, white page); ``lines`` draws
  silhouettes, contours and creases instead;
- ``"clip_argmax"``: the same after reducing both feature maps by ``argmax_factor`` (4 in the thesis);
- ``"clip_lines"``: ``"clip"`` with the line drawing, whatever the renderer setting: the report's second row.

Framing (``frame_box``, ours): chapter 4.2 fits sketches and renderings into one box before CLIP compares
them, because real sketches frame objects otherwise than the renderer; here too, both the sketch and every
rendering are fitted (``features.box.fit_to_box_tensor``: longer side ``frame_box`` px of 224, centred) at
the CLIP input size, the rendering differentiably (its box is found without gradient).

Argmax reduction, our reading. The thesis "appl[ies] an argmax operation to the CLIP embedding of both
[...] reducing the dimensionality of the embedding by a factor of 4 before comparing them". The index of
a maximum has no gradient, and a loss between indices could not guide the styles, so we keep the *value
at the argmax*. Two groupings give a factor of 4 on the layer-3 map [C, H, W]: C/4 groups of 4 consecutive
channels (``argmax_mode: channels``, [C/4, H, W]) or 2x2 spatial windows (``spatial``, [C, H/2, W/2], i.e.
max pooling). The default is channels: the thesis motivates the reduction by chapter 4.2's masking and
weighting of CLIP *features* (a selection among features, not a coarser image), and an argmax "of an
embedding" runs over its feature dimension (a
spatial 2x2 maximum is what the field, and the thesis's own chapter 4.2, would call max pooling), and it
keeps the 14x14 layout that the thesis's retrieval relies on. Both are differentiable almost everywhere
(the gradient reaches the argmax entry).

Everything else follows 4.3.3.2: init = the mean of ``generator.mean_samples`` (1000) sampled style
vectors, Adam (lr 0.005), batch 1, 5000 iterations (sdf) / 1000 (clip, clip_argmax), the best styles
are those of the lowest loss, and the styles are saved every ``snapshot_every`` (25) iterations so a
person can pick one by eye (Figs 4.8, 4.9). Extensions of 4.3.4, all off by default: an L1 term towards
the mean style (``l1_mean``), several sketch views (``views``), augmented comparisons (``augment``).

Iteration ``i`` (0-based) evaluates the loss L_i of the styles s_i, then Adam makes s_{i+1}; losses.csv
lists (i, L_i), the snapshots hold s_i for i % snapshot_every == 0, and best = argmin_i L_i with its s_i.
A run is resumable (``sketch3d.training_loop``): every ``checkpoint_every`` iterations the state (styles, Adam, losses, best,
snapshots, the random generator) is written under ``checkpoint_dir``; a rerun continues from it and ends
exactly where an uninterrupted run would.

Settings (the effective params subset; ``reconstruction.inversion`` unless noted):

- ``lr`` (0.005), ``iterations`` ({sdf: 5000, clip: 1000, clip_argmax: 1000}), ``snapshot_every`` (25),
  ``argmax_factor`` (4): thesis 4.3.3.2-4.3.3.4.
- ``checkpoint_every`` (ours, 50): iterations between resumable checkpoints.
- ``sdf_points`` (ours, 0): 0 = the whole target grid each iteration (eq. 4.6 as written); n > 0 = n
  grid points drawn at random each iteration (a cheaper, unbiased estimate of the same MSE).
- ``clip_size`` (224): side of the images CLIP sees (the rendering is resized to it).
- ``argmax_mode`` (ours, ``channels``): the argmax's grouping, ``channels`` or ``spatial`` (see above).
- ``frame_box`` (ours, 170: chapter 4.2's baseline box, ``retrieval.baseline_box``): fit the sketch and each
  rendering into this box (px of 224) before CLIP; null = as rasterised and rendered (the data stage's camera
  framing, shared by the demo's sketches).
- ``l1_mean`` (0.0): weight of mean |s - s_mean| (4.3.4's regulariser).
- ``views`` ([0]): sketch azimuths compared (4.3.4's multi-view; the thesis uses the front, 0).
- ``augment`` (0): extra comparisons per view, each under one random shift/scale applied to both the
  rendering and the sketch; ``augment_shift`` (0.05, fraction of the image), ``augment_scale`` (0.1).
- ``reconstruction.targets.elevation`` (20) and ``render.camera_distance``, ``render.lens_mm``,
  ``render.front_axis``, ``render.azimuth_sign``: the camera, as the sketches' and the gallery's.
- ``reconstruction.render``: the differentiable renderer's settings (``renderer``, ``size`` and ``sdf_render``'s
  options; the line option's stroke width defaults to ``render.stroke_width`` at ``render.resolution``).
- ``reconstruction.generator.mc_resolution`` (64), ``mc_level`` (0.01), ``mean_samples`` (1000).
- ``seed``: the random draws (mean style, point samples, augmentations).
"""
from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from sketch3d.atomic import atomic_dir
from sketch3d.reconstruction.names import SUPERVISIONS
from sketch3d.report.figure_file import save_figure
from sketch3d.codeversion import code_version
from sketch3d.training_loop import Checkpoint, CheckpointMismatch, TrainingLoop, fingerprint

log = logging.getLogger(__name__)

ARGMAX_MODES = ("channels", "spatial")
INK_THRESHOLD = 200 / 255  # a drawing's ink: darker than features.box's threshold (200 of 255)
FRAME_CANVAS = 224  # px: the canvas frame_box is given on (chapter 4.2's)
CHECKPOINT = "state.pt"
SNAPSHOTS = "snapshots.npz"
LOSSES = "losses.csv"
MESH = "mesh.obj"
SDF_GRID = "sdf.npy"
CURVE = "curve.png"
SUMMARY = "summary.json"

DEFAULTS = {
    "lr": 0.005,
    "iterations": {"sdf": 5000, "clip": 1000, "clip_argmax": 1000, "clip_lines": 1000},
    "snapshot_every": 25,
    "checkpoint_every": 50,
    "argmax_factor": 4,
    "argmax_mode": "channels",
    "l1_mean": 0.0,
    "views": [0],
    "augment": 0,
    "augment_shift": 0.05,
    "augment_scale": 0.1,
    "clip_size": 224,
    "frame_box": 170,
    "sdf_points": 0,
}


class InversionError(ValueError):
    """A target, setting or checkpoint that an inversion cannot use."""


# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class InversionSettings:
    """``reconstruction.inversion`` with defaults filled and checked (see the module doc)."""

    lr: float
    iterations: dict
    snapshot_every: int
    checkpoint_every: int
    argmax_factor: int
    argmax_mode: str
    l1_mean: float
    views: tuple
    augment: int
    augment_shift: float
    augment_scale: float
    clip_size: int
    frame_box: int | None
    sdf_points: int

    @classmethod
    def from_settings(cls, inversion: Mapping | None) -> "InversionSettings":
        s = {**DEFAULTS, **dict(inversion or {})}
        unknown = sorted(set(s) - set(DEFAULTS))
        if unknown:
            raise InversionError(f"reconstruction.inversion: unknown key(s) {unknown}; known: {sorted(DEFAULTS)}")
        its = {**DEFAULTS["iterations"], **dict(s["iterations"])}
        for sup, n in its.items():
            if sup not in SUPERVISIONS or not isinstance(n, int) or n < 1:
                raise InversionError(f"reconstruction.inversion.iterations.{sup}={n!r}: keys must be among "
                                     f"{SUPERVISIONS} and values whole numbers >= 1")
        for key in ("snapshot_every", "checkpoint_every", "argmax_factor", "clip_size"):
            if not isinstance(s[key], int) or s[key] < 1:
                raise InversionError(f"reconstruction.inversion.{key}={s[key]!r} must be a whole number >= 1")
        for key in ("augment", "sdf_points"):
            if not isinstance(s[key], int) or s[key] < 0:
                raise InversionError(f"reconstruction.inversion.{key}={s[key]!r} must be a whole number >= 0")
        if not (isinstance(s["lr"], (int, float)) and s["lr"] > 0):
            raise InversionError(f"reconstruction.inversion.lr={s['lr']!r} must be > 0")
        if not (isinstance(s["l1_mean"], (int, float)) and s["l1_mean"] >= 0):
            raise InversionError(f"reconstruction.inversion.l1_mean={s['l1_mean']!r} must be >= 0")
        views = tuple(s["views"]) if isinstance(s["views"], (list, tuple)) else (s["views"],)
        if not views or not all(isinstance(v, (int, float)) for v in views):
            raise InversionError(f"reconstruction.inversion.views={s['views']!r} must be a list of azimuths (degrees)")
        box = s["frame_box"]
        if box is not None and (not isinstance(box, int) or not 1 <= box <= 224):
            raise InversionError(f"reconstruction.inversion.frame_box={box!r} must be null or a box in 1..224 px")
        if s["argmax_mode"] not in ARGMAX_MODES:
            raise InversionError(f"reconstruction.inversion.argmax_mode={s['argmax_mode']!r} must be one of "
                                 f"{ARGMAX_MODES}")
        return cls(float(s["lr"]), its, s["snapshot_every"], s["checkpoint_every"], s["argmax_factor"],
                   s["argmax_mode"], float(s["l1_mean"]), views, s["augment"], float(s["augment_shift"]), float(s["augment_scale"]),
                   s["clip_size"], box, s["sdf_points"])


def _section(settings: Mapping, *keys: str, default=None):
    value = settings
    for k in keys:
        if not isinstance(value, Mapping) or k not in value:
            return default
        value = value[k]
    return value


def inversion_settings(settings: Mapping) -> InversionSettings:
    """The checked ``reconstruction.inversion`` of an effective-params subset."""
    return InversionSettings.from_settings(_section(settings, "reconstruction", "inversion", default={}))


def view_for(settings: Mapping, azimuth: float):
    """The pipeline's camera (``sketch3d.geometry.camera.View``) at ``azimuth``: elevation
    ``reconstruction.targets.elevation`` (20), distance / lens / orientation from ``render``."""
    from sketch3d.geometry.camera import Orientation, View

    r = _section(settings, "render", default={}) or {}
    elevation = _section(settings, "reconstruction", "targets", "elevation", default=r.get("elevation", 20))
    return View(azimuth=float(azimuth), elevation=float(elevation), distance=float(r.get("camera_distance", 2.5)),
                lens_mm=float(r.get("lens_mm", 50)),
                orientation=Orientation(r.get("front_axis", "+z"), int(r.get("azimuth_sign", 1))))


# ----------------------------------------------------------------------------- targets


@dataclass
class Target:
    """What one example is inverted towards.

    ``sdf``: the target SDF grid [R, R, R] over the generator's cube [-1, 1]^3 in cube units (axis order of
    ``sketch3d.geometry.sdf.sdf_grid``), or None; ``sketches``: azimuth -> grey uint8 [224, 224] sketch
    raster (black lines on white), possibly empty.
    """

    example: str
    shape_id: str = ""
    sdf: np.ndarray | None = None
    sketches: dict = field(default_factory=dict)

    def fingerprint(self) -> str:
        h = hashlib.sha256(json.dumps([self.example, self.shape_id, sorted(map(float, self.sketches))]).encode())
        if self.sdf is not None:
            h.update(np.ascontiguousarray(self.sdf, dtype=np.float32).tobytes())
        for az in sorted(self.sketches):
            h.update(np.ascontiguousarray(self.sketches[az]).tobytes())
        return h.hexdigest()


def _check_target(target: Target, supervision: str, s: InversionSettings) -> None:
    if supervision not in SUPERVISIONS:
        raise InversionError(f"supervision {supervision!r} must be one of {SUPERVISIONS}")
    if supervision == "sdf":
        if target.sdf is None:
            raise InversionError(f"example {target.example}: SDF supervision needs the target's SDF grid "
                                 "(run sdf_targets for its shape)")
        g = np.asarray(target.sdf)
        if g.ndim != 3 or len(set(g.shape)) != 1 or g.shape[0] < 2:
            raise InversionError(f"example {target.example}: the target SDF grid has shape {g.shape}; "
                                 "expected a cube [R, R, R]")
        if not np.isfinite(g).all():
            raise InversionError(f"example {target.example}: the target SDF grid holds NaN or inf values")
        return
    missing = [v for v in s.views if float(v) not in {float(a) for a in target.sketches}]
    if missing:
        raise InversionError(f"example {target.example}: no sketch at azimuth(s) {missing} "
                             f"(has {sorted(map(float, target.sketches))}); set reconstruction.inversion.views to "
                             "azimuths the dataset draws")
    for az, im in target.sketches.items():
        a = np.asarray(im)
        if a.ndim != 2:
            raise InversionError(f"example {target.example}: sketch at azimuth {az} has shape {a.shape}; "
                                 "expected a grey image [H, W]")


# ----------------------------------------------------------------------------- the generator's SDF


def grid_points(resolution: int, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """[R^3, 3] cube coordinates of an R^3 grid over [-1, 1]^3 (corners included), x slowest, z fastest:
    the order of ``sdf_grid`` arrays (``grid[i, j, k]`` at (x_i, y_j, z_k)), on ``device`` in ``dtype``."""
    t = torch.linspace(-1.0, 1.0, resolution, device=device, dtype=dtype)
    return torch.stack(torch.meshgrid(t, t, t, indexing="ij"), dim=-1).reshape(-1, 3)


def mesh_frame_sdf(generator, volume: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """The generated SDF as a function of mesh-frame points [N, 3] -> [N] in mesh units (what
    ``sdf_render.render_sdf`` takes), through ``sketch3d.geometry.sdf``'s fixed frame map; differentiable
    w.r.t. ``volume`` and the points."""
    from sketch3d.geometry.sdf import mesh_to_cube, sdf_cube_to_mesh

    def fn(points: torch.Tensor) -> torch.Tensor:
        return sdf_cube_to_mesh(generator.sdf(volume, mesh_to_cube(points)[None])[0])

    fn.device = volume.device  # where the renderer must make its rays (render_lines reads it)
    return fn


def grid_sdf_fn(grid, device: str | torch.device = "cpu") -> Callable[[torch.Tensor], torch.Tensor]:
    """A stored SDF grid [R, R, R] (cube units, ``grid_points`` order) as a mesh-frame SDF function by
    trilinear interpolation (``grid_sample``) on ``device``; used to render target shapes beside inverted ones."""
    from sketch3d.geometry.sdf import mesh_to_cube, sdf_cube_to_mesh

    vol = torch.as_tensor(np.asarray(grid), dtype=torch.float32, device=device)[None, None]  # [1, 1, X, Y, Z]

    def fn(points: torch.Tensor) -> torch.Tensor:
        c = mesh_to_cube(points.float())
        # grid_sample's (x, y, z) index (W, H, D) = our (k, j, i): flip the coordinate order
        out = F.grid_sample(vol.to(c.device), c.flip(-1).reshape(1, -1, 1, 1, 3), mode="bilinear",
                            padding_mode="border", align_corners=True)
        return sdf_cube_to_mesh(out.reshape(-1))

    fn.device = vol.device
    return fn


# ----------------------------------------------------------------------------- rendering and CLIP


RENDERERS = ("shaded", "lines")


def renderer_for(supervision: str, settings: Mapping) -> str:
    """The image eq. 4.7 compares for ``supervision``: ``clip_lines`` always the line drawing (the comparison
    row); ``clip`` / ``clip_argmax`` ``reconstruction.render.renderer`` (``shaded``, the thesis's SDFDiff-style
    rendering, by default)."""
    if supervision == "clip_lines":
        return "lines"
    r = (_section(settings, "reconstruction", "render", default={}) or {}).get("renderer", "shaded")
    if r not in RENDERERS:
        raise InversionError(f"reconstruction.render.renderer={r!r} must be one of {RENDERERS}")
    return r


def _line_settings(settings: Mapping, size: int) -> dict:
    """``sdf_render.line_drawing``'s options; the stroke width, unless ``reconstruction.render.stroke_width``
    sets one (px of the render), is the gallery's Freestyle width ``render.stroke_width`` (2.2 px) at
    ``render.resolution`` (224 px), scaled to the render's ``size``: the lines then have the gallery's width
    once the drawing is resized to 224."""
    from sketch3d.reconstruction.sdf_render import line_options

    rs = dict(_section(settings, "reconstruction", "render", default={}) or {})
    opts = line_options(rs)
    if "stroke_width" not in opts:
        g = _section(settings, "render", default={}) or {}
        opts["stroke_width"] = float(g.get("stroke_width", 2.2)) * size / float(g.get("resolution", 224))
    return opts


def render_image(sdf_fn: Callable, view, settings: Mapping, renderer: str = "shaded"):
    """Eq. 4.7's differentiable rendering of ``sdf_fn`` from ``view``: (image [H, W] in [0, 1] on white, the
    object's mask [H, W] bool, no graph). ``renderer``: ``shaded`` (``sdf_render.lambertian``; mask: soft
    silhouette > 0.5 or ink-dark pixels) or ``lines`` (``sdf_render.line_drawing``; mask: the ink, as ``features.box`` finds a
    drawing's). ``reconstruction.render``: ``size`` and ``sdf_render``'s render / shade / line options."""
    from sketch3d.reconstruction.sdf_render import lambertian, line_drawing, render_options, render_sdf, shade_options

    if renderer not in RENDERERS:
        raise InversionError(f"renderer {renderer!r} must be one of {RENDERERS}")
    rs = dict(_section(settings, "reconstruction", "render", default={}) or {})
    size = int(rs.get("size", 64))
    device = getattr(sdf_fn, "device", None)  # the SDF's device: the rays are made there
    render = render_sdf(sdf_fn, view, size, device=device, **render_options(rs))
    if renderer == "shaded":
        img = lambertian(render, **shade_options(rs))
        # the object: where the surface covers the pixel (its lit faces may be as light as the page) or where the
        # page is darkened as a drawing's ink is (thin parts, legs, cover less than half a pixel)
        return img, (render.silhouette.detach() > 0.5) | (img.detach() < INK_THRESHOLD)
    img = line_drawing(render, **_line_settings(settings, size))
    return img, img.detach() < INK_THRESHOLD


def render_lines(sdf_fn: Callable, view, settings: Mapping) -> torch.Tensor:
    """Differentiable line drawing [H, W] in [0, 1] (white 1) of ``sdf_fn`` from ``view`` (:func:`render_image`'s
    ``lines``)."""
    return render_image(sdf_fn, view, settings, "lines")[0]


def render_shaded(sdf_fn: Callable, view, settings: Mapping, size: int) -> np.ndarray:
    """Grey shading [size, size] uint8 of ``sdf_fn`` from ``view`` (figures; no gradient needed)."""
    from sketch3d.reconstruction.sdf_render import render_options, render_sdf, shaded

    rs = dict(_section(settings, "reconstruction", "render", default={}) or {})
    img = shaded(render_sdf(sdf_fn, view, int(size), device=getattr(sdf_fn, "device", None), **render_options(rs)))
    return (img.detach().clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8)


def to_clip_batch(image: torch.Tensor, size: int) -> torch.Tensor:
    """[H, W] or [B, H, W] grey in [0, 1] -> CLIP-normalised [B, 3, size, size] (bilinear resize)."""
    from sketch3d.features.backbone import clip_normalize

    x = image if image.ndim == 3 else image[None]
    x = x[:, None].float()
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return clip_normalize(x.expand(-1, 3, -1, -1))


def sketch_tensor(image: np.ndarray) -> torch.Tensor:
    """A grey uint8 sketch raster -> float [H, W] in [0, 1] (white 1)."""
    return torch.from_numpy(np.asarray(image).astype(np.float32) / 255.0)


def frame(image: torch.Tensor, box: int | None, size: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 4.7's framing: ``image`` [H, W] (white 1) fitted by ``features.box.fit_to_box_tensor`` so that its
    object's longer side is ``box`` px of 224 (``reconstruction.inversion.frame_box``), centred, on a
    ``size`` x ``size`` canvas (the CLIP input); differentiable w.r.t. the image (the box carries no gradient).
    ``mask``: the object's pixels (a shaded rendering's silhouette), default the ink. The fit is made on a 224 px
    canvas, then resized to ``size`` (bilinear, antialiased: a downscaled sketch keeps its thin lines). ``box``
    None: only resized to ``size`` (the raster's own framing)."""
    from sketch3d.features.box import fit_to_box_tensor

    if box is not None:  # fitted on chapter 4.2's 224 px canvas (a 224 px sketch barely resampled), then resized
        image = fit_to_box_tensor(image, box, FRAME_CANVAS, mask=mask)
    if image.shape[-1] == size and image.shape[-2] == size:
        return image
    return F.interpolate(image[None, None], size=(size, size), mode="bilinear", align_corners=False,
                         antialias=True)[0, 0]


def clip_spec(settings: Mapping):
    """The ``FeatureSpec`` of the CLIP loss: ``features.backbone`` (RN101; the demo's RN50) at layer3 with
    ``features.weights`` (``openai``; the demo's ``random``, seeded by ``seed``)."""
    from sketch3d.features.backbone import FeatureSpec

    f = settings.get("features") or {}
    return FeatureSpec(backbone=str(f.get("backbone", "RN101")), layer="layer3", weights=str(f.get("weights", "random")),
                       seed=int(settings.get("seed", 0)))


def clip_backbone(settings: Mapping, device: str = "cpu") -> torch.nn.Module:
    """CLIP's image tower cut at layer 3 (``features.backbone.load_backbone``), frozen, in eval mode."""
    from sketch3d.features.backbone import load_backbone

    return load_backbone(clip_spec(settings), device)


def argmax_reduce(features: torch.Tensor, factor: int = 4, mode: str = "channels") -> torch.Tensor:
    """The thesis's "argmax" reduction by ``factor`` (see the module doc): the value at the argmax of each
    group of ``factor`` entries. ``channels`` (default): groups of consecutive channels, [B, C, H, W] ->
    [B, C / factor, H, W]; ``spatial``: square windows of ``factor`` pixels (2x2 for 4), [B, C, H, W] ->
    [B, C, H / 2, W / 2] (max pooling)."""
    b, c, h, w = features.shape
    if mode == "channels":
        if c % factor:
            raise InversionError(f"argmax_reduce: {c} channels are not divisible by argmax_factor={factor}")
        return features.view(b, c // factor, factor, h, w).amax(dim=2)
    if mode == "spatial":
        k = math.isqrt(factor)
        if k * k != factor or h % k or w % k:
            raise InversionError(f"argmax_reduce: spatial windows need a square argmax_factor ({factor}) whose "
                                 f"side divides the {h}x{w} map")
        return F.max_pool2d(features, kernel_size=k, stride=k)
    raise InversionError(f"argmax_reduce: mode {mode!r} must be one of {ARGMAX_MODES}")


def _augment_grid(gen: torch.Generator, n: int, shift: float, scale: float, size: int) -> torch.Tensor:
    """``n`` random shift/scale sampling grids [n, size, size, 2] (one per augmented comparison)."""
    u = torch.rand(n, 3, generator=gen, device="cpu") * 2 - 1  # the CPU generator: the same draws on every device
    s = 1.0 + scale * u[:, 0]
    theta = torch.zeros(n, 2, 3, device="cpu")
    theta[:, 0, 0] = s
    theta[:, 1, 1] = s
    theta[:, :, 2] = 2 * shift * u[:, 1:]
    return F.affine_grid(theta, [n, 1, size, size], align_corners=False)


def _warp(images: torch.Tensor, grids: torch.Tensor) -> torch.Tensor:
    """[H, W] image under each grid -> [n, H, W]; outside the image is white paper (1)."""
    x = images[None, None].expand(len(grids), 1, -1, -1) - 1.0
    return F.grid_sample(x, grids, mode="bilinear", padding_mode="zeros", align_corners=False)[:, 0] + 1.0


# ----------------------------------------------------------------------------- losses


class Objective:
    """The loss of one supervision as a function of the styles (and of the iteration's random draws)."""

    def __init__(self, generator, target: Target, supervision: str, settings: Mapping, s: InversionSettings,
                 mean: torch.Tensor, device: str, clip: torch.nn.Module | None = None) -> None:
        self.generator, self.supervision, self.s, self.mean, self.device = generator, supervision, s, mean, device
        self.clip = clip
        if supervision == "sdf":
            dtype = next(generator.parameters()).dtype  # the generator's: no float32 beside a half model
            grid = torch.as_tensor(np.asarray(target.sdf, dtype=np.float32), device=device, dtype=dtype)
            self.target_sdf = grid.reshape(-1)
            self.points = grid_points(grid.shape[0], device, dtype)
        else:
            if clip is None:
                raise InversionError(f"supervision {supervision!r} needs the CLIP backbone (clip=...)")
            self.views = [view_for(settings, az) for az in s.views]
            self.renderer = renderer_for(supervision, settings)
            sketches = {float(a): im for a, im in target.sketches.items()}
            # the sketches framed once (fit into frame_box at the CLIP size): the renderings are framed alike
            self.sketches = [frame(sketch_tensor(sketches[float(az)]).to(device), s.frame_box, s.clip_size)
                             for az in s.views]
            with torch.no_grad():  # the plain sketches' features never change: compute once
                self.sketch_features = [self.features(to_clip_batch(sk, s.clip_size)) for sk in self.sketches]
        self.settings = settings
        self.blank = 0  # iterations (of this process) whose rendering was a blank page, no gradient

    def features(self, batch: torch.Tensor) -> torch.Tensor:
        f = self.clip(batch)
        if f.ndim != 4:
            raise InversionError(f"the CLIP backbone gives features of shape {tuple(f.shape)}; the CLIP loss "
                                 "needs a layer-3 map [B, C, H, W] (features.layer: layer3)")
        return argmax_reduce(f, self.s.argmax_factor, self.s.argmax_mode) if self.supervision == "clip_argmax" else f

    def __call__(self, styles: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        if self.supervision == "sdf":
            loss = self._sdf_loss(styles, gen)
        else:
            loss = self._clip_loss(styles, gen)
        if self.s.l1_mean:
            loss = loss + self.s.l1_mean * (styles - self.mean).abs().mean()
        return loss

    def _sdf_loss(self, styles: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        points, target = self.points, self.target_sdf
        if self.s.sdf_points and self.s.sdf_points < len(points):
            idx = torch.randint(len(points), (self.s.sdf_points,), generator=gen, device="cpu").to(points.device)
            points, target = points[idx], target[idx]
        volume = self.generator.volume(styles)
        pred = self.generator.sdf(volume, points[None])[0]
        return F.mse_loss(pred, target)

    def render(self, styles: torch.Tensor, view) -> torch.Tensor:
        """The framed rendering CLIP compares with the sketch [clip_size, clip_size]."""
        volume = self.generator.volume(styles)
        image, mask = render_image(mesh_frame_sdf(self.generator, volume), view, self.settings, self.renderer)
        return frame(image, self.s.frame_box, self.s.clip_size, mask)

    def _clip_loss(self, styles: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        volume = self.generator.volume(styles)
        sdf_fn = mesh_frame_sdf(self.generator, volume)
        terms = []
        for view, sketch, sketch_f in zip(self.views, self.sketches, self.sketch_features):
            image, mask = render_image(sdf_fn, view, self.settings, self.renderer)
            drawing = frame(image, self.s.frame_box, self.s.clip_size, mask)
            if not image.requires_grad:
                # nothing near any ray (an empty shape, or one filling the render box): the drawing is a
                # constant page. The loss stays defined (the features of that page against the sketch's)
                # with a zero gradient, so Adam leaves the styles where they are; write_outputs warns.
                self.blank += 1
                if self.blank == 1:
                    log.warning("inversion: the rendering at azimuth %g shows no surface (empty shape, or "
                                "one filling the render box): the CLIP loss has no gradient there", view.azimuth)
                drawing = drawing + 0.0 * styles.sum()
            terms.append(F.mse_loss(self.features(to_clip_batch(drawing, self.s.clip_size)), sketch_f))
            if self.s.augment:
                size = self.s.clip_size
                grids = _augment_grid(gen, self.s.augment, self.s.augment_shift, self.s.augment_scale, size)
                grids = grids.to(drawing.device, drawing.dtype)
                d = F.interpolate(drawing[None, None].float(), size=(size, size), mode="bilinear",
                                  align_corners=False, antialias=True)[0, 0]
                k = F.interpolate(sketch[None, None], size=(size, size), mode="bilinear",
                                  align_corners=False, antialias=True)[0, 0]
                with torch.no_grad():
                    kf = self.features(to_clip_batch(_warp(k, grids), size))
                df = self.features(to_clip_batch(_warp(d, grids), size))
                terms.append(F.mse_loss(df, kf))  # the augmented copies, averaged, count as one comparison
        return torch.stack(terms).mean()


# ----------------------------------------------------------------------------- the optimisation


def _fingerprint(generator, target: Target, supervision: str, settings: Mapping, init: torch.Tensor) -> str:
    weights = [x for name, t in sorted(generator.state_dict().items()) for x in (name, t)]
    return fingerprint({"supervision": supervision, "settings": settings}, target.fingerprint(),
                       init.detach().cpu().numpy().astype(np.float32), *weights)


@dataclass
class InversionResult:
    """Best styles (lowest loss), their loss and iteration; every loss; the snapshots."""

    best_styles: torch.Tensor
    best_loss: float
    best_iteration: int
    losses: list
    snapshot_iterations: list
    snapshot_styles: torch.Tensor
    init_styles: torch.Tensor


def optimise(objective: Callable[[torch.Tensor, torch.Generator], torch.Tensor], init: torch.Tensor,
             iterations: int, lr: float, snapshot_every: int, seed: int, *, checkpoint: Path | None = None,
             checkpoint_every: int = 50, fingerprint: str = "", stop_after: int | None = None,
             progress: Callable[[int, int, float, float], None] | None = None) -> InversionResult | None:
    """Adam on the styles from ``init`` for ``iterations`` steps (see the module doc for the bookkeeping).

    ``checkpoint``: file of the resumable state (None: not resumable); ``stop_after``: stop after this many
    iterations in all, leaving only the checkpoint (tests interrupt a run with it; returns None);
    ``progress(i, n, loss, best)`` after each iteration.
    """
    styles = init.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([styles], lr=lr)
    gen = torch.Generator().manual_seed(int(seed))
    loop = TrainingLoop("inversion", total=iterations, unit="iteration", checkpoint_every=checkpoint_every,
                        checkpoint=Checkpoint(path=checkpoint, fingerprint=fingerprint, code=code_version(__name__)) if checkpoint else None,
                        state={"styles": styles, "optimizer": opt, "rng": gen},
                        values={"losses": [], "best_loss": math.inf, "best_iteration": -1,
                                "best_styles": init.detach().clone(), "snapshot_iterations": [],
                                "snapshot_styles": []})
    try:
        loop.resume()
    except CheckpointMismatch as exc:
        raise InversionError(str(exc)) from exc
    v = loop.values

    def step(i: int) -> None:
        current = styles.detach().clone()
        opt.zero_grad(set_to_none=True)
        loss = objective(styles, gen)
        if not torch.isfinite(loss):
            raise InversionError(f"inversion: the loss became {loss.item()} at iteration {i}; lower "
                                 "reconstruction.inversion.lr or check the target")
        loss.backward()
        opt.step()
        value = float(loss.detach())
        v["losses"].append(value)
        if value < v["best_loss"]:
            v["best_loss"], v["best_iteration"], v["best_styles"] = value, i, current.cpu()
        if i % snapshot_every == 0:
            v["snapshot_iterations"].append(i)
            v["snapshot_styles"].append(current.cpu())
        if progress is not None:
            progress(i + 1, iterations, value, v["best_loss"])

    if not loop.run(step, stop_after=stop_after):
        loop.save()  # interrupted on purpose (stop_after): the state at the last iteration run
        return None
    return InversionResult(v["best_styles"], v["best_loss"], v["best_iteration"], v["losses"],
                           v["snapshot_iterations"],
                           torch.stack(v["snapshot_styles"]) if v["snapshot_styles"] else init[:0].cpu(),
                           init.detach().cpu())


def invert(generator, target: Target, supervision: str, settings: Mapping, out_dir: Path | None,
           checkpoint_dir: Path | None = None, device: str = "cpu", clip: torch.nn.Module | None = None,
           progress: Callable[[int, int, float, float], None] | None = None, *, mean: torch.Tensor | None = None,
           stop_after: int | None = None) -> InversionResult | None:
    """Invert ``generator`` towards ``target`` under ``supervision`` (see the module doc).

    ``mean``: the initial (mean) styles [1, n_styles, style_dim] (None: ``mean_style`` of
    ``reconstruction.generator.mean_samples`` samples, seeded by ``seed``). ``clip``: the layer-3 backbone
    for the CLIP supervisions (``clip_backbone``). ``out_dir`` (None: nothing written): losses.csv,
    snapshots.npz, mesh.obj (best styles, marching cubes), sdf.npy (best styles on the target's grid, or
    the marching-cubes grid), curve.png, summary.json. ``checkpoint_dir``: where the resumable state lives
    (None: not resumable; keep it outside the rule's outputs). ``stop_after``: see :func:`optimise`.
    """
    s = inversion_settings(settings)
    _check_target(target, supervision, s)
    seed = int(settings.get("seed", 0))
    generator = generator.to(device).eval()
    for p in generator.parameters():
        p.requires_grad_(False)
    if mean is None:
        from sketch3d.reconstruction.generator import mean_style

        n = int(_section(settings, "reconstruction", "generator", "mean_samples", default=1000))
        with torch.no_grad():
            mean = mean_style(generator, n=n, seed=seed)
    param = next(generator.parameters())
    mean = mean.detach().to(device=param.device, dtype=param.dtype)
    if mean.ndim != 3 or mean.shape[0] != 1:
        raise InversionError(f"the mean style has shape {tuple(mean.shape)}; expected [1, n_styles, style_dim]")
    objective = Objective(generator, target, supervision, settings, s, mean, device, clip)
    fp = _fingerprint(generator, target, supervision, settings, mean)
    checkpoint = Checkpoint(checkpoint_dir, fp, name=CHECKPOINT, code=code_version(__name__)).path if checkpoint_dir is not None else None
    result = optimise(objective, mean, s.iterations[supervision], s.lr, s.snapshot_every, seed,
                      checkpoint=checkpoint, checkpoint_every=s.checkpoint_every, fingerprint=fp,
                      stop_after=stop_after, progress=progress)
    if result is None or out_dir is None:
        return result
    write_outputs(generator, target, supervision, settings, result, Path(out_dir), device)
    return result


# ----------------------------------------------------------------------------- outputs


def styles_grid_tensor(generator, styles: torch.Tensor, resolution: int, device: str = "cpu",
                       chunk: int = 65536) -> torch.Tensor:
    """The SDF of ``styles`` on the R^3 ``grid_points`` grid, cube units, [R, R, R] on the generator's device
    (no gradient)."""
    with torch.no_grad():
        volume = generator.volume(styles.to(device))
        pts = grid_points(resolution, volume.device, volume.dtype)
        out = [generator.sdf(volume, pts[i:i + chunk][None])[0] for i in range(0, len(pts), chunk)]
    return torch.cat(out).reshape(resolution, resolution, resolution)


def styles_grid(generator, styles: torch.Tensor, resolution: int, device: str = "cpu",
                chunk: int = 65536) -> np.ndarray:
    """:func:`styles_grid_tensor` as float32 numpy [R, R, R]."""
    return styles_grid_tensor(generator, styles, resolution, device, chunk).cpu().numpy().astype(np.float32)


def mesh_of_grid(grid: np.ndarray, level: float):
    """Marching cubes of a cube-frame SDF grid, vertices moved to the mesh frame (a trimesh)."""
    from sketch3d.geometry.meshing import mesh_from_sdf_grid
    from sketch3d.geometry.sdf import cube_to_mesh_mesh

    return cube_to_mesh_mesh(mesh_from_sdf_grid(grid, level, bound=(-1.0, 1.0)))


EMPTY_OBJ = "# sketch3d: the inverted shape has no surface at the marching-cubes level (see summary.json)\n"


def shape_warnings(grid: np.ndarray, level: float) -> list[str]:
    """Why a generated SDF grid (cube units) makes no shape at ``level``: empty, or filling the whole cube."""
    inside = int(np.count_nonzero(np.asarray(grid) < level))
    if inside == 0:
        return [f"empty shape: the SDF is above the level {level:g} everywhere on the {grid.shape[0]}^3 grid "
                "(no surface; the mesh file holds none)"]
    if inside == grid.size:
        return [f"the shape fills the whole cube: the SDF is below the level {level:g} everywhere on the "
                f"{grid.shape[0]}^3 grid (the mesh is the cube's box)"]
    return []


def blank_rendering(generator, styles: torch.Tensor, settings: Mapping, azimuths, device: str = "cpu") -> list:
    """The azimuths at which the line drawing of ``styles`` shows no line at all (no pixel below 0.5)."""
    with torch.no_grad():
        fn = mesh_frame_sdf(generator, generator.volume(styles.to(device)))
        return [float(az) for az in azimuths if float(render_lines(fn, view_for(settings, az), settings).min()) >= 0.5]


def write_outputs(generator, target: Target, supervision: str, settings: Mapping, result: InversionResult,
                  out_dir: Path, device: str = "cpu") -> None:
    """The files of :func:`invert`. A degenerate result (an empty shape, one filling the cube, a blank line
    drawing for a CLIP supervision) is still written, with ``warnings`` in summary.json (``empty``: true
    and a mesh file with no surface for an empty shape), so that the other examples' jobs go on."""
    gs = _section(settings, "reconstruction", "generator", default={}) or {}
    mc_res, level = int(gs.get("mc_resolution", 64)), float(gs.get("mc_level", 0.01))
    grid_res = int(np.asarray(target.sdf).shape[0]) if target.sdf is not None else mc_res
    best = result.best_styles.to(device)
    grid = styles_grid(generator, best, grid_res, device)
    mc_grid = grid if grid_res == mc_res else styles_grid(generator, best, mc_res, device)
    warnings = shape_warnings(mc_grid, level)
    empty = not bool(np.any(mc_grid < level))
    mesh = None if empty else mesh_of_grid(mc_grid, level)
    if supervision != "sdf" and not empty:
        blank = blank_rendering(generator, best, settings, inversion_settings(settings).views, device)
        if blank:
            warnings.append(f"the line drawing of the best shape is blank at azimuth(s) {blank} (the shape is "
                            "outside the render box, or fills it): the CLIP loss saw no lines")
    for w in warnings:
        log.warning("inversion %s (%s): %s", target.example, supervision, w)
    demo = settings.get("profile") == "demo"
    with atomic_dir(out_dir) as tmp:
        with open(tmp / LOSSES, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["iteration", "loss"])
            w.writerows((i, repr(v)) for i, v in enumerate(result.losses))
        np.savez(tmp / SNAPSHOTS, iterations=np.asarray(result.snapshot_iterations, dtype=np.int64),
                 styles=result.snapshot_styles.numpy().astype(np.float32).reshape(-1, *best.shape[1:]),
                 best_iteration=np.int64(result.best_iteration), best_loss=np.float64(result.best_loss),
                 best_styles=result.best_styles.numpy().astype(np.float32),
                 init_styles=result.init_styles.numpy().astype(np.float32))
        np.save(tmp / SDF_GRID, grid)
        if mesh is None:
            (tmp / MESH).write_text(EMPTY_OBJ)
        else:
            mesh.export(tmp / MESH, file_type="obj", include_normals=False)
        plot_curve(tmp / CURVE, result.losses, f"{target.example}: {supervision}", result.best_iteration, demo)
        summary = {"example": target.example, "shape_id": target.shape_id, "supervision": supervision,
                   "iterations": len(result.losses), "best_iteration": result.best_iteration,
                   "best_loss": result.best_loss, "final_loss": result.losses[-1], "grid_resolution": grid_res,
                   "mc_resolution": mc_res, "mc_level": level,
                   "watertight": bool(mesh is not None and mesh.is_watertight), "empty": empty,
                   "warnings": warnings, "demo": demo}
        (tmp / SUMMARY).write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")


def plot_curve(path: Path, losses: list, title: str, best_iteration: int, demo: bool = False) -> None:
    """The loss per iteration (log scale when positive), the best iteration marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    ax.plot(np.arange(len(losses)), losses, lw=1)
    if 0 <= best_iteration < len(losses):
        ax.axvline(best_iteration, color="tab:red", lw=0.8, ls="--", label=f"best: iteration {best_iteration}")
        ax.legend(fontsize=7)
    if min(losses) > 0:
        ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_title(title + (" (demo)" if demo else ""), fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def read_losses(path: Path) -> list[float]:
    with open(path) as f:
        return [float(r["loss"]) for r in csv.DictReader(f)]


def load_snapshots(path: Path) -> dict:
    """An inversion's snapshots.npz as a dict of arrays."""
    path = Path(path)
    if not path.is_file():
        raise InversionError(f"{path} does not exist: run the invert job of this example first")
    with np.load(path) as z:
        return {k: z[k] for k in z.files}
