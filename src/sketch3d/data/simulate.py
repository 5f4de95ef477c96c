"""Simulated amateur sketches of a 3D shape (the demo profile's stand-in for AmateurSketch).

A clean line drawing (visible silhouette and crease edges, projected with the same
:class:`~sketch3d.geometry.camera.View` as the Blender gallery renders) is degraded
the way people drawing from memory degrade it: the viewpoint is off, the
proportions are wrong, the whole drawing is warped, strokes wobble, over- and
undershoot, some are forgotten, some are traced twice, and widths vary.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import trimesh

from sketch3d.data.manifest import SHAPE_COLUMNS, SKETCH_COLUMNS, resolve
from sketch3d.data.sketch import Sketch, bbox_batches, save_sketch
from sketch3d.geometry.camera import DEFAULT_LENS_MM, View


@dataclass
class SimulationSettings:
    """The ``demo.sketch`` section of params.yaml (lengths in canvas pixels unless noted)."""

    canvas: int = 256
    azimuth_jitter: float = 12.0  # degrees, uniform +-
    elevation_jitter: float = 6.0  # degrees, uniform +-
    proportion_jitter: float = 0.15  # relative scale change per axis, uniform +-
    warp: float = 0.04  # amplitude of the smooth global warp, fraction of the canvas
    wobble: float = 1.2  # px, standard deviation of the low-frequency stroke noise
    overshoot: tuple[float, float] = (-0.12, 0.15)  # relative length change at each stroke end
    drop_prob: float = 0.15
    double_prob: float = 0.12
    width: tuple[float, float] = (1.5, 3.5)  # px, per-stroke width range

    def __post_init__(self) -> None:
        self.overshoot = _pair(self.overshoot, "overshoot")
        self.width = _pair(self.width, "width")
        if not (isinstance(self.canvas, (int, np.integer)) and self.canvas > 0):
            raise ValueError(f"demo.sketch.canvas must be a positive integer, got {self.canvas!r}")
        for name in ("azimuth_jitter", "elevation_jitter", "proportion_jitter", "warp", "wobble"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"demo.sketch.{name} must be >= 0, got {getattr(self, name)!r}")
        if self.proportion_jitter >= 1:
            raise ValueError(f"demo.sketch.proportion_jitter must be < 1, got {self.proportion_jitter}")
        for name in ("drop_prob", "double_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"demo.sketch.{name} must lie in [0, 1], got {getattr(self, name)!r}")
        if not (self.overshoot[0] <= self.overshoot[1] and self.overshoot[0] > -0.45):
            raise ValueError(
                f"demo.sketch.overshoot must be [low, high] with -0.45 < low <= high, got {self.overshoot}"
            )
        if not 0 < self.width[0] <= self.width[1]:
            raise ValueError(f"demo.sketch.width must be [low, high] with 0 < low <= high, got {self.width}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SimulationSettings":
        """Build from a params.yaml ``demo.sketch`` mapping; unknown keys raise, missing keys keep defaults."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"demo.sketch: unknown key(s) {unknown}; allowed keys are {sorted(known)}")
        return cls(**dict(d))

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["overshoot"] = list(self.overshoot)
        out["width"] = list(self.width)
        return out


def _pair(value: Any, name: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"demo.sketch.{name} must be a pair [low, high], got {value!r}") from None
    return low, high


# ----------------------------------------------------------------------------- clean line drawing


def _zbuffer(uv: np.ndarray, depth: np.ndarray, faces: np.ndarray, res: int,
             cell_budget: int = 1_000_000) -> tuple[np.ndarray, np.ndarray]:
    """Depth (inf = empty) and face id (-1) per pixel of a res x res buffer; uv already in buffer pixels."""
    # hand-written: no installed library rasterises triangles with depth (no GL on the CPU machines).
    # Triangles are rasterised in batches over their padded bounding boxes; the nearest candidate
    # per pixel wins (ties: lowest face id), so the result does not depend on batching.
    zbuf = np.full(res * res, np.inf)
    fid = np.full(res * res, -1, dtype=np.int64)
    tri = uv[faces]  # (F, 3, 2)
    inv_z = 1.0 / depth[faces]  # perspective-correct depth: 1/z is linear in screen space
    lo = np.clip(np.ceil(tri.min(axis=1) - 0.5), 0, res).astype(np.int64)
    hi = np.clip(np.floor(tri.max(axis=1) - 0.5) + 1, 0, res).astype(np.int64)
    size = hi - lo
    area = ((tri[:, 1, 0] - tri[:, 0, 0]) * (tri[:, 2, 1] - tri[:, 0, 1])
            - (tri[:, 2, 0] - tri[:, 0, 0]) * (tri[:, 1, 1] - tri[:, 0, 1]))
    ok = (size[:, 0] > 0) & (size[:, 1] > 0) & (np.abs(area) > 1e-12) & np.all(depth[faces] > 0, axis=1)
    live = np.flatnonzero(ok)
    pix_parts, z_parts, f_parts = [], [], []
    for part in bbox_batches(size[live], cell_budget):
        batch = live[part]
        w, h = size[batch].max(axis=0)
        ox = np.arange(w)[None, None, :]
        oy = np.arange(h)[None, :, None]
        x0, y0 = lo[batch, 0][:, None, None], lo[batch, 1][:, None, None]
        px, py = x0 + ox + 0.5, y0 + oy + 0.5
        a, b, c = (tri[batch, k][:, :, None, None] for k in range(3))
        ar = area[batch][:, None, None]
        w0 = ((b[:, 0] - px) * (c[:, 1] - py) - (c[:, 0] - px) * (b[:, 1] - py)) / ar
        w1 = ((c[:, 0] - px) * (a[:, 1] - py) - (a[:, 0] - px) * (c[:, 1] - py)) / ar
        w2 = 1.0 - w0 - w1
        keep = ((w0 >= -1e-9) & (w1 >= -1e-9) & (w2 >= -1e-9)
                & (ox < size[batch, 0][:, None, None]) & (oy < size[batch, 1][:, None, None]))
        iz = inv_z[batch]
        inv = w0 * iz[:, 0, None, None] + w1 * iz[:, 1, None, None] + w2 * iz[:, 2, None, None]
        t_idx, y_idx, x_idx = np.nonzero(keep)
        pix_parts.append((lo[batch, 1][t_idx] + y_idx) * res + lo[batch, 0][t_idx] + x_idx)
        z_parts.append(1.0 / inv[keep])
        f_parts.append(batch[t_idx])
    if pix_parts:
        pix, z, f = np.concatenate(pix_parts), np.concatenate(z_parts), np.concatenate(f_parts)
        srt = np.lexsort((f, z, pix))
        pix, z, f = pix[srt], z[srt], f[srt]
        first = np.concatenate([[True], pix[1:] != pix[:-1]])
        zbuf[pix[first]] = z[first]
        fid[pix[first]] = f[first]
    return zbuf.reshape(res, res), fid.reshape(res, res)


def _depth_slope(uv: np.ndarray, depth: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Per face, how much depth changes over one pixel of ``uv`` (the plane through its corners)."""
    tri, z = uv[faces], depth[faces]
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    dz1, dz2 = z[:, 1] - z[:, 0], z[:, 2] - z[:, 0]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    gx = (dz1 * e2[:, 1] - dz2 * e1[:, 1])
    gy = (dz2 * e1[:, 0] - dz1 * e2[:, 0])
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.hypot(gx, gy) / np.abs(det)
    return np.where(np.isfinite(slope), slope, np.inf)


def _feature_edges(mesh: trimesh.Trimesh, eye: np.ndarray, crease_angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """(E, 2) vertex ids of silhouette, crease and boundary edges, and (E, 2) adjacent face ids (-1: none)."""
    normals = mesh.face_normals
    front = np.einsum("ij,ij->i", normals, eye - mesh.triangles_center) > 0
    adj = mesh.face_adjacency
    silhouette = front[adj[:, 0]] != front[adj[:, 1]]
    crease = mesh.face_adjacency_angles > np.radians(crease_angle_deg)
    keep = silhouette | crease
    edges = [mesh.face_adjacency_edges[keep]]
    faces = [adj[keep]]
    boundary = trimesh.grouping.group_rows(mesh.edges_sorted, require_count=1)
    if len(boundary):
        edges.append(mesh.edges_sorted[boundary])
        faces.append(np.column_stack([mesh.edges_face[boundary], np.full(len(boundary), -1)]))
    return np.concatenate(edges).reshape(-1, 2), np.concatenate(faces).reshape(-1, 2)


def _visible_runs(
    mesh: trimesh.Trimesh, view: View, size: int, edges: np.ndarray, edge_faces: np.ndarray,
    oversample: int, spacing: float, depth_eps: float, min_length: float,
) -> list[tuple[np.ndarray, np.ndarray, bool, bool, int, int]]:
    """Visible pieces of each edge: (start xy, end xy, starts at vertex, ends at vertex, vertex ids)."""
    verts = np.asarray(mesh.vertices, dtype=float)
    uv, depth = view.project(verts, size)
    res = size * oversample
    faces = np.asarray(mesh.faces)
    drawn = np.arange(len(faces))
    if mesh.is_watertight:  # a closed surface hides its back faces behind its front faces: skip them
        eye = view.position
        drawn = np.flatnonzero(np.einsum("ij,ij->i", mesh.face_normals, eye - mesh.triangles_center) > 0)
    zbuf, fid = _zbuffer(uv * oversample, depth, faces[drawn], res)
    fid = np.where(fid >= 0, drawn[np.maximum(fid, 0)], -1)

    a, b = verts[edges[:, 0]], verts[edges[:, 1]]
    length_px = np.linalg.norm(uv[edges[:, 0]] - uv[edges[:, 1]], axis=1)
    n = np.maximum(2, np.ceil(length_px / spacing).astype(int) + 1)
    owner = np.repeat(np.arange(len(edges)), n)
    start = np.concatenate([[0], np.cumsum(n)[:-1]])
    t = (np.arange(owner.size) - start[owner]) / (n[owner] - 1)
    pts = a[owner] + t[:, None] * (b[owner] - a[owner])  # sample in 3D: perspective-correct along the edge
    suv, sdepth = view.project(pts, size)

    jx = np.floor(suv[:, 0] * oversample).astype(int)
    jy = np.floor(suv[:, 1] * oversample).astype(int)
    in_front = sdepth > 0
    inside = (jx >= 0) & (jx < res) & (jy >= 0) & (jy < res) & in_front
    cx, cy = np.clip(jx, 0, res - 1), np.clip(jy, 0, res - 1)
    # A sample is visible when, at one of the 3 x 3 buffer pixels around it, it is not behind the
    # surface shown there, or that surface is one of its own faces. The buffer holds depth at pixel
    # centres, up to ~1.5 px from the sample, so the test allows for the depth slope of the face shown
    # (capped: a face seen edge-on must still hide something); the 3 x 3 window keeps silhouettes
    # whose own face is too thin to cover a pixel centre. Its cost, hidden lines showing up to one
    # buffer pixel past an occluding contour, is removed by ``min_length`` for stubs at corners.
    slope = np.minimum(_depth_slope(uv * oversample, depth, np.asarray(mesh.faces)), 20.0 * depth_eps)
    fa, fb = edge_faces[owner, 0], edge_faces[owner, 1]
    visible = in_front & ~inside  # off the buffer nothing was drawn that could hide it
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            ny, nx = np.clip(cy + dy, 0, res - 1), np.clip(cx + dx, 0, res - 1)
            shown = fid[ny, nx]
            tol = depth_eps + np.where(shown >= 0, 1.5 * slope[np.maximum(shown, 0)], 0.0)
            own = ((shown == fa) & (fa >= 0)) | ((shown == fb) & (fb >= 0))
            visible |= inside & ((sdepth <= zbuf[ny, nx] + tol) | own)

    runs = []
    for e in range(len(edges)):
        vis = visible[start[e]:start[e] + n[e]]
        if not vis.any():
            continue
        padded = np.concatenate([[False], vis, [False]])
        change = np.flatnonzero(padded[1:] != padded[:-1])
        for i, j in zip(change[::2], change[1::2] - 1):
            p, q = suv[start[e] + i], suv[start[e] + j]
            full = i == 0 and j == n[e] - 1
            if not full and np.linalg.norm(q - p) < min_length:
                continue  # slivers where a hidden edge meets a visible corner
            runs.append((p, q, i == 0, j == n[e] - 1, int(edges[e, 0]), int(edges[e, 1])))
    return runs


def _chain(runs: list, max_turn_deg: float) -> list[np.ndarray]:
    """Join pieces that meet at a mesh vertex and continue within ``max_turn_deg`` into polylines."""
    if not runs:
        return []
    # ends at a mesh vertex meet there; ends inside an edge (cut by occlusion) stay free
    ends: dict[int, list[tuple[int, int]]] = {}
    pts = [(r[0], r[1]) for r in runs]
    for k, (_, _, at_a, at_b, va, vb) in enumerate(runs):
        if at_a:
            ends.setdefault(va, []).append((k, 0))
        if at_b:
            ends.setdefault(vb, []).append((k, 1))
    link: dict[tuple[int, int], tuple[int, int]] = {}
    cos_max = math.cos(math.radians(max_turn_deg))
    for members in ends.values():
        if len(members) < 2:
            continue
        cands = []
        for i in range(len(members)):
            for j in range(i + 1, len(members)):
                (ki, ei), (kj, ej) = members[i], members[j]
                if ki == kj:
                    continue
                di = pts[ki][1 - ei] - pts[ki][ei]
                dj = pts[kj][1 - ej] - pts[kj][ej]
                ni, nj = np.linalg.norm(di), np.linalg.norm(dj)
                if ni < 1e-9 or nj < 1e-9:
                    continue
                straight = -float(di @ dj) / (ni * nj)  # cos of the turning angle when going i -> j
                if straight >= cos_max:
                    cands.append((-straight, i, j))
        used: set[int] = set()
        for _, i, j in sorted(cands):
            if i in used or j in used:
                continue
            used.update((i, j))
            link[members[i]] = members[j]
            link[members[j]] = members[i]

    def walk(k: int, entry: int, done: set[int]) -> list[np.ndarray]:
        line = [pts[k][entry]]
        while True:
            done.add(k)
            exit_end = 1 - entry
            line.append(pts[k][exit_end])
            nxt = link.get((k, exit_end))
            if nxt is None or nxt[0] in done:
                return line
            k, entry = nxt

    done: set[int] = set()
    lines = []
    for k in range(len(runs)):  # open chains first, from an unlinked end
        if k in done:
            continue
        for end in (0, 1):
            if (k, end) not in link:
                lines.append(walk(k, end, done))
                break
    for k in range(len(runs)):  # what is left are closed loops
        if k not in done:
            lines.append(walk(k, 0, done))
    return [np.asarray(line, dtype=float) for line in lines]


def visible_feature_lines(
    mesh: trimesh.Trimesh,
    view: View,
    size: int,
    crease_angle_deg: float = 45.0,
    *,
    oversample: int = 2,
    spacing: float = 0.5,
    depth_eps: float | None = None,
    min_length: float = 2.0,
    max_turn_deg: float = 40.0,
) -> list[np.ndarray]:
    """The line drawing of ``mesh`` seen from ``view`` as 2D polylines in pixels of a size x size canvas.

    Lines are silhouette edges (one adjacent face towards the camera, the other
    away), boundary edges and crease edges (angle between the face normals above
    ``crease_angle_deg``; 45 degrees is Freestyle's default crease of 134.43
    degrees between the faces, rounded). Hidden parts are removed with a z-buffer
    at ``oversample`` x the canvas, sampling edges every ``spacing`` px;
    ``depth_eps`` (default 0.5% of the mesh's bounding-box diagonal) is the depth
    tolerance. Pieces that meet at a vertex and turn by less than
    ``max_turn_deg`` are chained into one stroke. Projection is
    :meth:`View.project`, so lines land where the Blender renders draw them.
    """
    if size < 1:
        raise ValueError(f"visible_feature_lines: size must be >= 1, got {size}")
    if len(mesh.faces) == 0:
        raise ValueError("visible_feature_lines: the mesh has no faces")
    eps = 0.005 * float(mesh.scale) if depth_eps is None else float(depth_eps)
    edges, edge_faces = _feature_edges(mesh, view.position, crease_angle_deg)
    if len(edges) == 0:
        return []
    runs = _visible_runs(mesh, view, size, edges, edge_faces, oversample, spacing, eps, min_length)
    return _chain(runs, max_turn_deg)


# ----------------------------------------------------------------------------- degradations


def _arc_length(pts: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])


def _resample(pts: np.ndarray, step: float) -> np.ndarray:
    s = _arc_length(pts)
    if len(pts) < 2 or s[-1] < 1e-9:
        return pts.copy()
    n = max(2, int(np.ceil(s[-1] / step)) + 1)
    t = np.linspace(0.0, s[-1], n)
    return np.column_stack([np.interp(t, s, pts[:, 0]), np.interp(t, s, pts[:, 1])])


def _cut(pts: np.ndarray, s0: float, s1: float) -> np.ndarray:
    """The part of a polyline between arc lengths s0 < s1."""
    s = _arc_length(pts)
    inner = (s > s0) & (s < s1)
    first = [np.interp(s0, s, pts[:, 0]), np.interp(s0, s, pts[:, 1])]
    last = [np.interp(s1, s, pts[:, 0]), np.interp(s1, s, pts[:, 1])]
    return np.vstack([first, pts[inner], last])


def _end_direction(pts: np.ndarray, from_start: bool, reach: float = 6.0) -> np.ndarray:
    """Unit direction leaving the polyline at one end, averaged over ``reach`` px."""
    p = pts if not from_start else pts[::-1]
    s = _arc_length(p)
    back = np.array([np.interp(s[-1] - reach, s, p[:, 0]), np.interp(s[-1] - reach, s, p[:, 1])])
    d = p[-1] - back
    return d / max(np.linalg.norm(d), 1e-12)


def _overshoot(pts: np.ndarray, r_start: float, r_end: float) -> np.ndarray:
    """Lengthen (r > 0) or shorten (r < 0) each end by r times the stroke length."""
    length = _arc_length(pts)[-1]
    if len(pts) < 2 or length < 1e-9 or (r_start == 0 and r_end == 0):
        return pts
    trim0, trim1 = max(0.0, -r_start) * length, max(0.0, -r_end) * length
    out = _cut(pts, trim0, length - trim1) if trim0 > 0 or trim1 > 0 else pts
    if r_start > 0:
        out = np.vstack([pts[0] + _end_direction(pts, True) * r_start * length, out])
    if r_end > 0:
        out = np.vstack([out, pts[-1] + _end_direction(pts, False) * r_end * length])
    return out


def _wobble(pts: np.ndarray, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """Low-frequency sideways noise (three sines of 40-160 px wavelength) with std ``amplitude``."""
    if len(pts) < 2 or amplitude == 0:
        return pts
    s = _arc_length(pts)
    wavelength = rng.uniform(40.0, 160.0, size=3)
    phase = rng.uniform(0.0, 2 * np.pi, size=3)
    offset = amplitude * math.sqrt(2.0 / 3.0) * np.sin(2 * np.pi * s[:, None] / wavelength + phase).sum(axis=1)
    tangent = np.gradient(pts, axis=0)
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-12)
    normal = np.column_stack([-tangent[:, 1], tangent[:, 0]])
    return pts + offset[:, None] * normal


def _warp_field(canvas: int, amplitude: float, rng: np.random.Generator):
    """A smooth random displacement of the canvas: two plane waves per axis of < 1 cycle per canvas."""
    freq = rng.uniform(0.25, 0.9, size=(2, 2)) / canvas  # cycles per px
    angle = rng.uniform(0.0, 2 * np.pi, size=(2, 2))
    phase = rng.uniform(0.0, 2 * np.pi, size=(2, 2))
    weight = amplitude / math.sqrt(2.0)

    def apply(pts: np.ndarray) -> np.ndarray:
        out = pts.copy()
        for axis in range(2):
            for k in range(2):
                proj = pts[:, 0] * np.cos(angle[axis, k]) + pts[:, 1] * np.sin(angle[axis, k])
                out[:, axis] += weight * np.sin(2 * np.pi * freq[axis, k] * proj + phase[axis, k])
        return out

    return apply


def _perturb_mesh(mesh: trimesh.Trimesh, scales: np.ndarray) -> trimesh.Trimesh:
    """Scale each axis about the bounding-box centre, then restore the original bounding-box diagonal."""
    if np.all(scales == 1.0):
        return mesh
    lo, hi = mesh.bounds
    centre = (lo + hi) / 2.0
    v = (np.asarray(mesh.vertices) - centre) * scales
    diag0 = np.linalg.norm(hi - lo)
    diag1 = np.linalg.norm(v.max(axis=0) - v.min(axis=0))
    v = centre + v * (diag0 / max(diag1, 1e-12))
    return trimesh.Trimesh(vertices=v, faces=np.asarray(mesh.faces), process=False)


def simulate_sketch(
    mesh: trimesh.Trimesh,
    azimuth: float,
    elevation: float,
    distance: float,
    settings: SimulationSettings,
    rng: np.random.Generator,
    lens_mm: float = DEFAULT_LENS_MM,
    crease_angle_deg: float = 45.0,
) -> Sketch:
    """An amateur-like sketch of a Y-up ``mesh`` meant to show the view (azimuth, elevation, distance).

    With every jitter and degradation at zero (and width a single value) the
    result is :func:`visible_feature_lines` of the nominal view.
    """
    st = settings
    size = int(st.canvas)
    d_az = float(rng.uniform(-st.azimuth_jitter, st.azimuth_jitter))
    d_el = float(rng.uniform(-st.elevation_jitter, st.elevation_jitter))
    scales = 1.0 + rng.uniform(-st.proportion_jitter, st.proportion_jitter, size=3)
    true_view = View(float(azimuth), float(elevation), float(distance), lens_mm)
    drawn_view = View(float(azimuth) + d_az, float(elevation) + d_el, float(distance), lens_mm)

    lines = visible_feature_lines(_perturb_mesh(mesh, scales), drawn_view, size, crease_angle_deg)
    if not lines:
        raise ValueError(
            f"simulate_sketch: no visible lines of the mesh from azimuth {drawn_view.azimuth:.1f}, "
            f"elevation {drawn_view.elevation:.1f}, distance {distance}: is the mesh in front of the camera?"
        )

    lo, hi = st.overshoot
    noisy = st.wobble > 0 or st.warp > 0
    strokes = []
    for line in lines:
        line = _overshoot(line, float(rng.uniform(lo, hi)), float(rng.uniform(lo, hi)))
        if noisy:
            line = _resample(line, 2.0)
        strokes.append(_wobble(line, st.wobble, rng))

    keep = rng.random(len(strokes)) >= st.drop_prob
    if not keep.any():  # never drop every stroke: keep the longest
        keep[int(np.argmax([_arc_length(s)[-1] for s in strokes]))] = True
    strokes = [s for s, k in zip(strokes, keep) if k]

    doubled = []
    for stroke in strokes:
        doubled.append(stroke)
        if rng.random() < st.double_prob:
            shift = rng.normal(0.0, 1.0, size=2)
            shift *= rng.uniform(1.0, 2.5) / max(np.linalg.norm(shift), 1e-12)
            doubled.append(_wobble(stroke + shift, 0.5 * st.wobble, rng))
    strokes = doubled

    if st.warp > 0:
        warp = _warp_field(size, st.warp * size, rng)
        strokes = [warp(s) for s in strokes]
    widths = [float(w) for w in rng.uniform(st.width[0], st.width[1], size=len(strokes))]

    def view_dict(v: View) -> dict:
        return {"azimuth": v.azimuth, "elevation": v.elevation, "distance": v.distance, "lens_mm": v.lens_mm}

    meta = {
        "source": "simulated",
        "view": view_dict(true_view),
        "drawn_view": view_dict(drawn_view),
        "proportions": [float(s) for s in scales],
        "settings": st.to_dict(),
    }
    return Sketch(strokes=strokes, widths=widths, canvas=(size, size), meta=meta)


# ----------------------------------------------------------------------------- the demo set


def sketch_rng(seed: int, sketch_id: str) -> np.random.Generator:
    """A generator that depends only on (seed, sketch_id): stable across runs, orders and subsets."""
    digest = hashlib.sha256(sketch_id.encode("utf-8")).digest()
    return np.random.default_rng(np.random.SeedSequence([int(seed), int.from_bytes(digest[:16], "little")]))


def sketch_id_for(shape_id: str, azimuth: float) -> str:
    return f"{shape_id}_az{int(round(azimuth)):03d}"


def load_yup_mesh(path: str | os.PathLike, up_axis: str = "Y") -> trimesh.Trimesh:
    """Load a mesh file as one Trimesh in the Y-up frame ("Z" up meshes are rotated like Blender's import)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mesh file {path} does not exist")
    mesh = trimesh.load(path, force="mesh")
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise ValueError(f"mesh file {path} holds no triangles")
    axis = str(up_axis).upper()
    if axis == "Z":  # Blender frame (x, y, z) -> Y-up (x, z, -y), the inverse of camera.yup_to_blender
        v = np.asarray(mesh.vertices)
        mesh = trimesh.Trimesh(vertices=np.column_stack([v[:, 0], v[:, 2], -v[:, 1]]), faces=mesh.faces, process=False)
    elif axis != "Y":
        raise ValueError(f"mesh {path}: up_axis must be 'Y' or 'Z', got {up_axis!r}")
    return mesh


def build_demo_sketches(
    shapes: pd.DataFrame,
    azimuths_by_category: Mapping[str, list[float]],
    elevation: float,
    distance: float,
    settings: SimulationSettings,
    seed: int,
    out_dir: str | os.PathLike,
    *,
    lens_mm: float = DEFAULT_LENS_MM,
    base_dir: str | os.PathLike = ".",
) -> pd.DataFrame:
    """Simulate one sketch per shape and azimuth of its category into ``out_dir/<category>/<sketch_id>.json``.

    ``shapes`` has the columns of ``SHAPE_COLUMNS`` (relative mesh paths resolve
    against ``base_dir``). Returns the sketches table (``SKETCH_COLUMNS``, source
    "simulated"). Each sketch draws from :func:`sketch_rng` (seed, sketch_id).
    """
    missing = [c for c in SHAPE_COLUMNS if c not in shapes.columns]
    if missing:
        raise ValueError(f"build_demo_sketches: shapes table lacks columns {missing}; expected {SHAPE_COLUMNS}")
    unknown = sorted(set(shapes["category"]) - set(azimuths_by_category))
    if unknown:
        raise ValueError(
            f"build_demo_sketches: no sketch azimuths for categories {unknown}; "
            f"add them to render.sketch_azimuths (have {sorted(azimuths_by_category)})"
        )
    out_dir = Path(out_dir)
    rows = []
    for rec in shapes.itertuples(index=False):
        mesh = load_yup_mesh(resolve(rec.mesh_path, base_dir), rec.up_axis)
        for az in azimuths_by_category[rec.category]:
            sketch_id = sketch_id_for(str(rec.shape_id), az)
            try:
                sketch = simulate_sketch(mesh, float(az), elevation, distance, settings,
                                         sketch_rng(seed, sketch_id), lens_mm=lens_mm)
            except ValueError as exc:
                raise ValueError(f"sketch {sketch_id} of mesh {rec.mesh_path}: {exc}") from None
            sketch.meta.update({"sketch_id": sketch_id, "shape_id": str(rec.shape_id), "category": rec.category})
            path = out_dir / str(rec.category) / f"{sketch_id}.json"
            save_sketch(sketch, path)
            rows.append({"sketch_id": sketch_id, "shape_id": str(rec.shape_id), "category": rec.category,
                         "split": rec.split, "azimuth": az, "path": str(path), "source": "simulated"})
    return pd.DataFrame(rows, columns=SKETCH_COLUMNS)
