"""A differentiable renderer of signed distance functions: depth, normals, a soft silhouette, and from them
eq. 4.7's images: the shaded image (``lambertian``: Lambertian shading from a fixed light on a white page,
SDFDiff's kind of rendering and the default) and a line drawing that looks like a sketch (``line_drawing``:
black contours and creases on white, an option).

The thesis renders its SDFs with SDFDiff (Jiang et al. 2020, thesis [137]): sphere tracing, with gradients
taken only at the final step. We keep that idea and do it on any differentiable ``sdf_fn`` (not a grid):

1. **Sphere tracing without gradients** (Hart 1996): each pixel's ray starts where it enters the box
   ``[-bound, bound]^3`` and steps by ``step_scale * f(x)`` until ``|f| < eps`` (a hit) or it leaves the box.
   Along the way it records its smallest SDF value (its closest approach to the surface) and, before a hit,
   its smallest local minimum (a pass close by an occluding part in front of the hit).
2. **One differentiable correction at the final points**, the implicit differentiation of IDR (Yariv et al.
   2020, eq. 3) and DVR (Niemeyer et al. 2020): with ``x0`` the (detached) hit on the ray ``o + t d``,
   ``t = t0 - f(x0; theta) / (grad_x f(x0) . d)`` with the denominator detached. Its value is a Newton step
   (more accurate than ``t0``) and its gradient w.r.t. theta is exactly the surface point's first-order motion
   along the ray, so depth and surface points are differentiable w.r.t. the SDF's parameters.
3. **Normals** ``grad_x f(x) / |grad_x f(x)|`` at the corrected point ``x`` by
   ``torch.autograd.grad(..., create_graph=True)`` (a second evaluation on the hits, as IDR does): they are
   differentiable w.r.t. theta, the point's motion included.
4. **Soft silhouette** from the minimum SDF along each ray (as in DIST, Liu et al. 2020, and SDFDiff's
   silhouettes): near the contour, the ray's minimum is refined by a local search (a grid of samples then
   golden-section steps) and re-evaluated with gradients. ``-min f / pixel`` (``pixel``: one pixel's size in the plane through the
   origin, a constant, so its gradient is exactly the ray minimum's, by Danskin's theorem) is, for an
   orthographic view of a locally round part, exactly the image distance (px) from the pixel centre to the
   contour (in perspective, up to the ratio of the part's depth to the camera distance, ~ +-20 %),
   positive inside: the silhouette is ``sigmoid(distance / softness)`` and the silhouette stroke an
   anti-aliased band of ``stroke_width`` px around ``distance = 0``, both moving with sub-pixel gradients.
   Internal occluding contours use the same distance, from the pre-hit local minimum.
5. **Shading** (``lambertian``): max(0, n . l) at the hits, blended with the white page by the soft
   silhouette; differentiable through the normals (step 3) and the silhouette (step 4).
6. **Creases** from the angle between the normals of neighbouring hit pixels (Freestyle's crease rule:
   a crease where the dihedral angle is below ``crease_angle``, i.e. normals differ by more than
   ``180 - crease_angle`` degrees), drawn with the same anti-aliased pen, centred between the two pixels.

Camera: the pipeline's :class:`sketch3d.geometry.camera.View` (so a rendered point lands where
``View.project`` puts it); pixel ``(row i, column j)`` has its centre at ``(u, v) = (j + 0.5, i + 0.5)``.
Points and SDF values are in the mesh frame (shape units). Everything is batched in chunks of ``chunk``
points; the tracing runs under ``torch.no_grad`` and only the final points carry a graph.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from sketch3d.geometry.camera import View

__all__ = ["RENDER_DEFAULTS", "LINE_DEFAULTS", "SHADE_DEFAULTS", "SDFRender", "camera_rays", "render_sdf",
           "line_drawing", "lambertian", "shaded", "render_options", "line_options", "shade_options"]

# Settings (params ``reconstruction.render``) and their defaults; see render_sdf / line_drawing.
RENDER_DEFAULTS = {"steps": 96, "bound": 0.5, "eps": 0.02, "step_scale": 0.9, "softness": 0.5, "chunk": 65536,
                   "refine_samples": 8, "refine_steps": 6, "dtype": "float32"}
LINE_DEFAULTS = {"stroke_width": 1.5, "antialias": 1.0, "crease_angle": 134.43, "crease_softness": 0.5,
                 "lines": ("silhouette", "contour", "crease"), "out_size": None}
# eq. 4.7's default image (``lambertian``). Neither the thesis nor SDFDiff's paper fixes a light for this use; ours:
# a directional light at the camera (camera frame: x right, y up, z towards the camera), no ambient term. Pure
# Lambertian (albedo 1) as SDFDiff's shading; with the light at the eye, n.l falls to 0 at every occluding
# contour, so the object's outline is dark on the white page, as a sketch's lines are, while faces turned
# to the viewer stay light.
SHADE_DEFAULTS = {"light": (0.0, 0.0, 1.0), "ambient": 0.0}
LINE_TYPES = ("silhouette", "contour", "crease")
_DTYPES = {"float32": torch.float32, "float64": torch.float64}
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def _pick(settings: dict | None, defaults: dict, what: str) -> dict:
    settings = dict(settings or {})
    return {k: settings[k] for k in defaults if k in settings}


def render_options(settings: dict | None) -> dict:
    """The keys of a settings dict (params ``reconstruction.render``) that :func:`render_sdf` reads."""
    return _pick(settings, RENDER_DEFAULTS, "render")


def shade_options(settings: dict | None) -> dict:
    """The keys of a settings dict (params ``reconstruction.render``) that :func:`lambertian` reads."""
    return _pick(settings, SHADE_DEFAULTS, "shade")


def line_options(settings: dict | None) -> dict:
    """The keys of a settings dict (params ``reconstruction.render``) that :func:`line_drawing` reads."""
    return _pick(settings, LINE_DEFAULTS, "line")


@dataclass
class SDFRender:
    """One rendered view. Tensors are (H, W[, 3]) with H = W = ``size``; ``hit`` carries no
    graph, the others are differentiable w.r.t. the SDF's parameters (zero where there is no hit).

    hit: bool, the ray reached the surface.
    depth: camera depth of the hit (the ``depth`` of ``View.project``: distance along the view axis), 0 if none.
    points: hit points, mesh frame. normals: unit outward normals at the hits.
    silhouette: soft coverage in [0, 1]. distance: signed image distance (px) from the pixel centre to the
    silhouette's contour, positive inside (+-inf far from it). contour_distance: image distance (px) to the
    nearest internal occluding contour in front of the hit (+inf if none near).
    pixel: size (shape units) of one pixel in the plane through the origin, the unit of the distances.
    """

    view: View
    size: int
    hit: torch.Tensor
    depth: torch.Tensor
    points: torch.Tensor
    normals: torch.Tensor
    silhouette: torch.Tensor
    distance: torch.Tensor
    contour_distance: torch.Tensor
    pixel: float
    softness: float


def camera_rays(view: View, size: int, dtype: torch.dtype = torch.float32, device: str | torch.device | None = None):
    """Rays through the pixel centres of a ``size`` x ``size`` image of ``view``.

    Returns (origins [P, 3], unit directions [P, 3], z_per_t [P], footprint_per_z [P] or scalar), P = size^2
    in row-major pixel order: a point ``o + t d`` has camera depth ``t * z_per_t``; one pixel there spans
    ``depth * footprint_per_z`` shape units (perspective) or ``ortho_scale / size`` (orthographic). The tensors
    are made on ``device`` (None: the CPU) in ``dtype``.
    """
    if int(size) != size or size < 2:
        raise ValueError(f"render size must be an integer >= 2 pixels, got {size!r}")
    right, up, forward = (np.asarray(v, dtype=np.float64) for v in view.basis())
    c = np.arange(size, dtype=np.float64) + 0.5 - size / 2.0
    jj, ii = np.meshgrid(c, c, indexing="xy")  # jj: column offset (x right), ii: row offset (y down)
    x, y = jj.reshape(-1), -ii.reshape(-1)
    pos = np.asarray(view.position, dtype=np.float64)
    if view.projection == "orthographic":
        px = view.ortho_scale / size
        origins = pos[None] + (x * px)[:, None] * right[None] + (y * px)[:, None] * up[None]
        dirs = np.broadcast_to(forward, origins.shape).copy()
        z_per_t = np.ones(len(x))
        fp_per_z = None
        fp_const = px
    else:
        f = view.focal_px(size)
        dirs = forward[None] + (x / f)[:, None] * right[None] + (y / f)[:, None] * up[None]
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        origins = np.broadcast_to(pos, dirs.shape).copy()
        z_per_t = dirs @ forward
        fp_per_z = 1.0 / f
        fp_const = None
    t = lambda a: torch.as_tensor(a, dtype=dtype, device=device if device is not None else "cpu")  # noqa: E731
    return t(origins), t(dirs), t(z_per_t), (fp_per_z, fp_const)


def _evaluate(fn: Callable, pts: torch.Tensor, chunk: int) -> torch.Tensor:
    parts = []
    for s in range(0, len(pts), chunk):
        val = fn(pts[s:s + chunk])
        if not isinstance(val, torch.Tensor) or val.reshape(-1).shape[0] != min(chunk, len(pts) - s):
            raise ValueError("sdf_fn must map a torch tensor of points [N, 3] to a tensor of N SDF values; got "
                             f"{type(val).__name__} {tuple(getattr(val, 'shape', ()))} for {min(chunk, len(pts) - s)} points")
        parts.append(val.reshape(-1).to(pts.dtype))
    return torch.cat(parts) if parts else pts.new_zeros(0)


def _box_interval(o: torch.Tensor, d: torch.Tensor, bound: float):
    safe = torch.where(d.abs() < 1e-12, torch.full_like(d, 1e-12), d)
    t1, t2 = (-bound - o) / safe, (bound - o) / safe
    tnear = torch.minimum(t1, t2).amax(dim=1).clamp(min=0.0)
    tfar = torch.maximum(t1, t2).amin(dim=1)
    return tnear, tfar


def _check_options(opts: dict) -> dict:
    unknown = sorted(set(opts) - set(RENDER_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown render option(s) {unknown}; known: {sorted(RENDER_DEFAULTS)}")
    o = {**RENDER_DEFAULTS, **opts}
    for key in ("steps", "chunk", "refine_samples"):
        if int(o[key]) != o[key] or o[key] < 2:
            raise ValueError(f"render option {key} must be an integer >= 2, got {o[key]!r}")
    if int(o["refine_steps"]) != o["refine_steps"] or o["refine_steps"] < 0:
        raise ValueError(f"render option refine_steps must be an integer >= 0, got {o['refine_steps']!r}")
    for key in ("bound", "eps", "softness"):
        if not (isinstance(o[key], (int, float)) and o[key] > 0):
            raise ValueError(f"render option {key} must be a number > 0, got {o[key]!r}")
    if not (0 < o["step_scale"] <= 1):
        raise ValueError(f"render option step_scale must be in (0, 1], got {o['step_scale']!r}")
    if o["dtype"] not in _DTYPES:
        raise ValueError(f"render option dtype must be one of {sorted(_DTYPES)}, got {o['dtype']!r}")
    return o


def _refine_min(fn, o, d, lo, hi, n_samples: int, n_golden: int, chunk: int):
    """Smallest f on each ray segment [lo, hi]: a grid of samples, then golden-section steps around the best."""
    n = len(lo)
    if n == 0:
        return lo.clone(), lo.clone()
    k = torch.linspace(0.0, 1.0, n_samples, dtype=lo.dtype, device=lo.device)
    ts = lo[:, None] + (hi - lo)[:, None] * k[None]  # [n, S]
    pts = o[:, None, :] + ts[..., None] * d[:, None, :]
    vals = _evaluate(fn, pts.reshape(-1, 3), chunk).reshape(n, n_samples)
    best = vals.argmin(dim=1)
    rows = torch.arange(n, device=lo.device)
    step = (hi - lo) / (n_samples - 1)
    a = (ts[rows, best] - step).maximum(lo)
    b = (ts[rows, best] + step).minimum(hi)
    best_t, best_f = ts[rows, best], vals[rows, best]
    c, e = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
    fc = _evaluate(fn, o + c[:, None] * d, chunk)
    fe = _evaluate(fn, o + e[:, None] * d, chunk)
    for _ in range(n_golden):
        left = fc < fe  # minimum in [a, e]
        b = torch.where(left, e, b)
        a = torch.where(left, a, c)
        new_c = torch.where(left, b - _GOLDEN * (b - a), e)
        new_e = torch.where(left, c, a + _GOLDEN * (b - a))
        new_fc = torch.where(left, fc, fe)
        new_fe = torch.where(left, fc, fe)
        probe = torch.where(left, new_c, new_e)
        fp = _evaluate(fn, o + probe[:, None] * d, chunk)
        c, e = new_c, new_e
        fc = torch.where(left, fp, new_fc)
        fe = torch.where(left, new_fe, fp)
    for tt, ff in ((c, fc), (e, fe)):
        better = ff < best_f
        best_t, best_f = torch.where(better, tt, best_t), torch.where(better, ff, best_f)
    return best_t, best_f


def render_sdf(sdf_fn: Callable[[torch.Tensor], torch.Tensor], view: View, size: int,
               device: str | torch.device | None = None, **opts) -> SDFRender:
    """Render ``sdf_fn`` (points [N, 3] in the mesh frame -> SDF [N], negative inside, differentiable) seen
    from ``view`` at ``size`` x ``size`` pixels.

    Options (params ``reconstruction.render``; defaults in ``RENDER_DEFAULTS``):
      steps: most sphere-tracing steps per ray (96; rays still marching then are hits if within 10 eps).
      bound: half-side (shape units) of the origin-centred box that holds the surface; rays are traced only
        inside it. ShapeNet-normalised shapes fit in 0.5; for a generator, the cube [-1,1]^3's extent in the mesh
        frame (1 / ``CUBE_SCALE`` of ``sketch3d.geometry.sdf``: 0.5, the default).
      eps: hit threshold, in pixels of the hit's footprint (0.02: |f| < 0.02 px).
      step_scale: sphere-tracing step as a fraction of f (0.9; < 1 tolerates SDFs that overestimate distance).
      softness: width (px) of the silhouette's logistic edge (0.5).
      chunk: points per ``sdf_fn`` call (65536): bounds memory.
      refine_samples, refine_steps: the local search for each near-contour ray's minimum SDF: grid samples on
        its window (8), then golden-section steps (6).
      dtype: "float32" or "float64", the points' dtype.

    ``device``: where ``sdf_fn`` computes (a generator's device); every ray, point and buffer is made there
    (None: the CPU).
    """
    o_ = _check_options(opts)
    size = int(size)
    dtype = _DTYPES[o_["dtype"]]
    chunk, bound, soft = int(o_["chunk"]), float(o_["bound"]), float(o_["softness"])
    device = torch.device(device if device is not None else "cpu")
    origins, dirs, z_per_t, (fp_per_z, fp_const) = camera_rays(view, size, dtype, device)
    P = size * size

    # the pen's pixel: one pixel in the plane through the origin (the same in both projections, the
    # orthographic scale being defined by that plane). Distances to contours are measured in it; being a
    # constant, their gradients are exactly those of the ray's minimum SDF (Danskin's theorem).
    pixel = view.ortho_scale / size

    def footprint(t: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        if fp_const is not None:
            return torch.full_like(t, fp_const)
        return (t * z_per_t[idx]).clamp(min=1e-6) * fp_per_z

    tnear, tfar = _box_interval(origins, dirs, bound)
    inf = torch.tensor(float("inf"), dtype=dtype, device=device)
    hit = torch.zeros(P, dtype=torch.bool, device=device)
    t_hit = torch.zeros(P, dtype=dtype, device=device)
    best_f = torch.full((P,), float("inf"), dtype=dtype, device=device)
    best_t = tnear.clone()
    inner_f = torch.full((P,), float("inf"), dtype=dtype, device=device)  # smallest pre-hit local minimum
    inner_t = torch.zeros(P, dtype=dtype, device=device)
    eps_px, scale = float(o_["eps"]), float(o_["step_scale"])

    with torch.no_grad():
        active = torch.nonzero(tfar > tnear, as_tuple=False).reshape(-1)
        t = tnear[active].clone()
        f_prev = torch.full_like(t, float("inf"))
        f_prev2 = torch.full_like(t, float("inf"))
        t_prev = t.clone()
        last_f = torch.full_like(t, float("inf"))
        for _ in range(int(o_["steps"])):
            if len(active) == 0:
                break
            f = _evaluate(sdf_fn, origins[active] + t[:, None] * dirs[active], chunk)
            better = f < best_f[active]
            best_f[active] = torch.where(better, f, best_f[active])
            best_t[active] = torch.where(better, t, best_t[active])
            local_min = (f_prev < f_prev2) & (f_prev <= f) & (f_prev < inner_f[active])
            inner_f[active] = torch.where(local_min, f_prev, inner_f[active])
            inner_t[active] = torch.where(local_min, t_prev, inner_t[active])
            conv = f.abs() < eps_px * footprint(t, active)
            hit[active[conv]] = True
            t_hit[active[conv]] = t[conv]
            t_new = t + scale * f
            keep = ~conv & (t_new <= tfar[active]) & (t_new >= tnear[active] - 1e-6)
            active, t, f_prev2, f_prev, t_prev = active[keep], t_new[keep], f_prev[keep], f[keep], t[keep]
            last_f = f_prev
        if len(active):  # out of steps: close enough counts as a hit
            close = last_f.abs() < 10 * eps_px * footprint(t, active)
            hit[active[close]] = True
            t_hit[active[close]] = t[close]

        # silhouette distance: coarse minimum along each ray (hits: a few samples behind the hit)
        hidx = torch.nonzero(hit, as_tuple=False).reshape(-1)
        fp_hit = footprint(t_hit[hidx], hidx)
        for k in (1.0, 2.0, 4.0, 8.0):
            tk = (t_hit[hidx] + k * fp_hit).minimum(tfar[hidx])
            fk = _evaluate(sdf_fn, origins[hidx] + tk[:, None] * dirs[hidx], chunk)
            better = fk < best_f[hidx]
            best_f[hidx] = torch.where(better, fk, best_f[hidx])
            best_t[hidx] = torch.where(better, tk, best_t[hidx])
        valid = torch.isfinite(best_f)
        dist_coarse = torch.where(valid, -best_f / pixel, -inf)
        band = max(6.0 * soft, 4.0)  # px: beyond it, silhouette and strokes (up to 6 px wide) are saturated
        near = torch.nonzero(valid & (dist_coarse.abs() < band), as_tuple=False).reshape(-1)
        nh = hit[near]
        span = torch.where(nh, 32.0 * footprint(t_hit[near], near), 2.0 * (best_f[near].abs() + pixel))
        lo = torch.where(nh, t_hit[near], best_t[near] - span).maximum(tnear[near])
        hi = torch.where(nh, t_hit[near] + span, best_t[near] + span).minimum(tfar[near])
        rt, rf = _refine_min(sdf_fn, origins[near], dirs[near], lo, hi, int(o_["refine_samples"]),
                             int(o_["refine_steps"]), chunk)
        better = rf < best_f[near]
        best_t[near] = torch.where(better, rt, best_t[near])
        best_f[near] = torch.where(better, rf, best_f[near])
        # internal occluding contours: refine the pre-hit local minimum of hit rays near one
        cnear = torch.nonzero(hit & torch.isfinite(inner_f) & (inner_f / pixel < band), as_tuple=False).reshape(-1)
        cspan = 2.0 * (inner_f[cnear].abs() + pixel)
        clo = (inner_t[cnear] - cspan).maximum(tnear[cnear])
        chi = (inner_t[cnear] + cspan).minimum(t_hit[cnear] - 2.0 * footprint(t_hit[cnear], cnear))
        ok = chi > clo
        cnear, clo, chi = cnear[ok], clo[ok], chi[ok]
        ct, cf = _refine_min(sdf_fn, origins[cnear], dirs[cnear], clo, chi, int(o_["refine_samples"]),
                             int(o_["refine_steps"]), chunk)
        inner_t[cnear] = torch.where(cf < inner_f[cnear], ct, inner_t[cnear])

    # ---- the differentiable part: hits (IDR correction + normals), then the near-contour minima
    want_graph = torch.is_grad_enabled()  # under no_grad (figures) nothing below keeps a graph
    with torch.enable_grad():
        x0 = (origins[hidx] + t_hit[hidx, None] * dirs[hidx]).detach().requires_grad_(True)
        f0 = _evaluate(sdf_fn, x0, chunk)
        if len(hidx):
            (g0,) = torch.autograd.grad(f0.sum(), x0, retain_graph=want_graph)
        else:  # nothing hit
            g0 = torch.zeros_like(x0)
        if not want_graph:
            f0 = f0.detach()
        gnorm = g0.norm(dim=1)
        gd = (g0 * dirs[hidx]).sum(dim=1)
        floor = (0.05 * gnorm).clamp(min=1e-12)  # grazing rays: bound the Newton step
        gd = torch.where(gd.abs() < floor, -floor, gd).detach()
        # IDR: a Newton step along the ray; its gradient w.r.t. theta is the surface point's motion
        th = t_hit[hidx] - f0 / gd
        th = torch.maximum(torch.minimum(th, t_hit[hidx] + fp_hit), t_hit[hidx] - fp_hit)  # one pixel at most
        points_h = origins[hidx] + th[:, None] * dirs[hidx]
        depth_h = th * z_per_t[hidx]
        # normals at the corrected point, through it: d n / d theta includes the point's motion (Hessian term)
        xn = points_h if points_h.requires_grad else points_h.detach().requires_grad_(True)
        fn_ = _evaluate(sdf_fn, xn, chunk)
        if len(hidx):
            (g,) = torch.autograd.grad(fn_.sum(), xn, create_graph=want_graph)
        else:
            g = torch.zeros_like(xn)
        normals_h = g / g.norm(dim=1, keepdim=True).clamp(min=1e-12)
        if not want_graph:
            points_h, depth_h, normals_h = points_h.detach(), depth_h.detach(), normals_h.detach()

    with torch.set_grad_enabled(want_graph):
        fm = _evaluate(sdf_fn, origins[near] + best_t[near, None] * dirs[near], chunk)
        dist_near = -fm / pixel
        fc = _evaluate(sdf_fn, origins[cnear] + inner_t[cnear, None] * dirs[cnear], chunk)
        cdist_near = fc / pixel

    distance = dist_coarse.clamp(min=-1e6, max=1e6).index_copy(0, near, dist_near)
    contour = torch.full((P,), 1e6, dtype=dtype, device=device).index_copy(0, cnear, cdist_near)
    zeros3 = torch.zeros(P, 3, dtype=dtype, device=device)
    S = size
    return SDFRender(
        view=view, size=size, hit=hit.reshape(S, S),
        depth=torch.zeros(P, dtype=dtype, device=device).index_copy(0, hidx, depth_h).reshape(S, S),
        points=zeros3.index_copy(0, hidx, points_h).reshape(S, S, 3),
        normals=zeros3.index_copy(0, hidx, normals_h).reshape(S, S, 3),
        silhouette=torch.sigmoid(distance / soft).reshape(S, S),
        distance=distance.reshape(S, S), contour_distance=contour.reshape(S, S),
        pixel=pixel, softness=soft)


def _pen(dist: torch.Tensor, width: float, aa: float) -> torch.Tensor:
    """Ink of a stroke of ``width`` px at ``dist`` px from its centre line, box-filtered over ``aa`` px."""
    return ((width / 2.0 - dist) / aa + 0.5).clamp(0.0, 1.0)


def _smoothstep(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    s = ((x - lo) / (hi - lo)).clamp(0.0, 1.0)
    return s * s * (3.0 - 2.0 * s)


def _stroke_edges(ex: torch.Tensor, ey: torch.Tensor, width: float, aa: float) -> torch.Tensor:
    """Draw edge strengths located between pixels (ex [H, W-1]: between columns j, j+1; ey [H-1, W]: between
    rows) as anti-aliased strokes: ink(p) = max over edges of strength * pen(distance from p to the edge's
    unit segment)."""
    H, W = ex.shape[0], ey.shape[1]
    R = int(math.ceil(width / 2.0 + aa / 2.0 + 1.0))
    ink = ex.new_zeros(H, W)
    # pixel (i, j) and the x-edge k (between columns k-1 and k, k = 1..W-1, at x = k - 0.5): offsets dk = k - j
    exp = F.pad(ex, (1, 1))  # column k of exp = edge between columns k-1 and k (k = 0..W); zero at the borders
    exp = F.pad(exp, (R, R, R, R))
    eyp = F.pad(F.pad(ey, (0, 0, 1, 1)), (R, R, R, R))
    for di in range(-R, R + 1):
        for dk in range(-R + 1, R + 1):
            # x-edges: dx = |dk - 0.5|, segment along y of half-length 0.5
            dist = math.hypot(abs(dk - 0.5), max(abs(di) - 0.5, 0.0))
            w = min(max((width / 2.0 - dist) / aa + 0.5, 0.0), 1.0)
            if w > 0:
                ink = torch.maximum(ink, w * exp[R + di:R + di + H, R + dk:R + dk + W])
                # y-edges: the same with rows and columns swapped
                ink = torch.maximum(ink, w * eyp[R + dk:R + dk + H, R + di:R + di + W])
    return ink


def line_drawing(render: SDFRender, **opts) -> torch.Tensor:
    """A sketch-like line drawing of a render: [H, W] in [0, 1], white 1 and black lines 0, differentiable
    w.r.t. the SDF's parameters (strokes move with sub-pixel gradients).

    Options (params ``reconstruction.render``; defaults in ``LINE_DEFAULTS``):
      stroke_width: pen width in px of the render (1.5). The gallery's Freestyle lines are 2.2 px at 224 px
        (params render.stroke_width): to match after upsampling to 224, use 2.2 * size / 224.
      antialias: width (px) of the box filter at the strokes' borders (1.0).
      crease_angle: Freestyle's crease threshold, degrees (134.43, params render.crease_angle): neighbouring
        pixels whose normals differ by more than 180 - crease_angle get a crease stroke between them.
      crease_softness: relative width of the ramp around that threshold (0.5: from 0.5x to 1.5x of the
        threshold's 1 - cos); smooth, so that normals' gradients reach the strokes.
      lines: which of "silhouette" (the outer contour), "contour" (internal occluding contours) and "crease".
      out_size: if given, the drawing is resized to out_size x out_size by bilinear interpolation (the CLIP size).
    """
    unknown = sorted(set(opts) - set(LINE_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown line option(s) {unknown}; known: {sorted(LINE_DEFAULTS)}")
    o = {**LINE_DEFAULTS, **opts}
    width, aa = float(o["stroke_width"]), float(o["antialias"])
    if not width > 0 or not aa > 0:
        raise ValueError(f"stroke_width and antialias must be > 0 px, got {width!r}, {aa!r}")
    lines = tuple(o["lines"])
    bad = sorted(set(lines) - set(LINE_TYPES))
    if bad:
        raise ValueError(f"unknown line type(s) {bad}; choose from {LINE_TYPES}")
    ink = torch.zeros_like(render.silhouette)
    if "silhouette" in lines:
        ink = torch.maximum(ink, _pen(render.distance.abs(), width, aa))
    if "contour" in lines:
        ink = torch.maximum(ink, _pen(render.contour_distance.abs(), width, aa))
    if "crease" in lines:
        if not 0 < float(o["crease_angle"]) < 180:
            raise ValueError(f"crease_angle must be in (0, 180) degrees, got {o['crease_angle']!r}")
        c0 = 1.0 - math.cos(math.radians(180.0 - float(o["crease_angle"])))
        cs = float(o["crease_softness"])
        n, h = render.normals, render.hit
        ex = _smoothstep(1.0 - (n[:, :-1] * n[:, 1:]).sum(-1), c0 * (1 - cs), c0 * (1 + cs)) * (h[:, :-1] & h[:, 1:])
        ey = _smoothstep(1.0 - (n[:-1] * n[1:]).sum(-1), c0 * (1 - cs), c0 * (1 + cs)) * (h[:-1] & h[1:])
        ink = torch.maximum(ink, _stroke_edges(ex, ey, width, aa))
    img = 1.0 - ink
    if o["out_size"] is not None:
        out = int(o["out_size"])
        if out != o["out_size"] or out < 1:
            raise ValueError(f"out_size must be a positive integer, got {o['out_size']!r}")
        img = F.interpolate(img[None, None], size=(out, out), mode="bilinear", align_corners=False)[0, 0]
    return img


def lambertian(render: SDFRender, light=SHADE_DEFAULTS["light"], ambient: float = SHADE_DEFAULTS["ambient"],
               out_size: int | None = None) -> torch.Tensor:
    """Eq. 4.7's shaded image: [H, W] in [0, 1], the surface's Lambertian shading on a white page, differentiable
    w.r.t. the SDF's parameters through the normals (taken at the IDR-corrected hits, so their motion with the
    surface counts) and through the soft silhouette (the coverage that blends surface and page).

    pixel = c * (ambient + (1 - ambient) * max(0, n . l)) + (1 - c), with c the soft silhouette, n the unit
    normal at the hit, l the unit direction towards the light. ``light``: that direction in camera coordinates
    (x right, y up, z towards the camera; default the headlight (0, 0, 1), see ``SHADE_DEFAULTS``); ``ambient``
    in [0, 1) (0: pure Lambertian). Pixels of the soft edge that no ray hit have no normal and take the ambient
    grey (0 by default): the outline. ``out_size``: resize (bilinear) to out_size x out_size.
    """
    if len(tuple(light)) != 3 or not math.isfinite(sum(float(v) for v in light)) or not any(float(v) for v in light):
        raise ValueError(f"light must be a non-zero direction (x, y, z) in camera coordinates, got {light!r}")
    if not 0.0 <= float(ambient) < 1.0:
        raise ValueError(f"ambient must be in [0, 1), got {ambient!r}")
    n = render.normals
    right, up, forward = (torch.as_tensor(np.asarray(v, dtype=np.float64), dtype=n.dtype, device=n.device)
                          for v in render.view.basis())
    lx, ly, lz = (float(v) for v in light)
    world = lx * right + ly * up - lz * forward  # camera z points towards the camera: -forward
    world = world / world.norm()
    lam = (n @ world).clamp(min=0.0)
    c = render.silhouette
    img = c * (float(ambient) + (1.0 - float(ambient)) * lam) + (1.0 - c)
    if out_size is not None:
        out = int(out_size)
        if out != out_size or out < 1:
            raise ValueError(f"out_size must be a positive integer, got {out_size!r}")
        img = F.interpolate(img[None, None], size=(out, out), mode="bilinear", align_corners=False)[0, 0]
    return img


def shaded(render: SDFRender, light=(-0.4, 0.5, 0.75), ambient: float = 0.25) -> torch.Tensor:
    """Grey Lambertian shading on white for figures: [H, W] in [0, 1]. ``light``: direction towards the light
    in camera coordinates (x right, y up, z towards the camera)."""
    right, up, forward = (torch.as_tensor(v, dtype=render.normals.dtype, device=render.normals.device)
                          for v in render.view.basis())
    lx, ly, lz = light
    world = lx * right + ly * up - lz * forward
    world = world / world.norm()
    lam = (render.normals @ world).clamp(min=0.0)
    grey = ambient + (1.0 - ambient) * 0.85 * lam
    return render.silhouette * grey + (1.0 - render.silhouette)
