"""Simulated amateur sketches of a 3D shape (the demo profile's stand-in for AmateurSketch).

The clean line drawing of a (perturbed) mesh, taken from
:func:`sketch3d.geometry.visible_lines.visible_feature_lines`, is degraded the
way people drawing from memory degrade it: the viewpoint is off, the
proportions are wrong, the whole drawing is warped, strokes wobble, over- and
undershoot, some are forgotten, some are traced twice, and widths vary. The
demo set writes one such sketch per shape and azimuth.
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
from sketch3d.data.sketch import Sketch, save_sketch
from sketch3d.geometry.camera import DEFAULT_LENS_MM, SHAPENET, Orientation, View
# visible_feature_lines is also re-exported from here for existing importers
from sketch3d.geometry.visible_lines import visible_feature_lines


@dataclass
class SimulationSettings:
    """The ``profiles.demo.data.sketch`` section of params.yaml (lengths in canvas pixels unless noted)."""

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
            raise ValueError(f"profiles.demo.data.sketch.canvas must be a positive integer, got {self.canvas!r}")
        for name in ("azimuth_jitter", "elevation_jitter", "proportion_jitter", "warp", "wobble"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"profiles.demo.data.sketch.{name} must be >= 0, got {getattr(self, name)!r}")
        if self.proportion_jitter >= 1:
            raise ValueError(f"profiles.demo.data.sketch.proportion_jitter must be < 1, got {self.proportion_jitter}")
        for name in ("drop_prob", "double_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"profiles.demo.data.sketch.{name} must lie in [0, 1], got {getattr(self, name)!r}")
        if not (self.overshoot[0] <= self.overshoot[1] and self.overshoot[0] > -0.45):
            raise ValueError(
                f"profiles.demo.data.sketch.overshoot must be [low, high] with -0.45 < low <= high, got {self.overshoot}"
            )
        if not 0 < self.width[0] <= self.width[1]:
            raise ValueError(f"profiles.demo.data.sketch.width must be [low, high] with 0 < low <= high, got {self.width}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SimulationSettings":
        """Build from a params.yaml ``profiles.demo.data.sketch`` mapping; unknown keys raise, missing keys keep defaults."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"profiles.demo.data.sketch: unknown key(s) {unknown}; allowed keys are {sorted(known)}")
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
        raise ValueError(f"profiles.demo.data.sketch.{name} must be a pair [low, high], got {value!r}") from None
    return low, high


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
    orientation: Orientation = SHAPENET,
) -> Sketch:
    """An amateur-like sketch of a Y-up ``mesh`` meant to show the view (azimuth, elevation, distance).

    With every jitter and degradation at zero (and width a single value) the
    result is :func:`~sketch3d.geometry.visible_lines.visible_feature_lines` of the nominal view.
    """
    st = settings
    size = int(st.canvas)
    d_az = float(rng.uniform(-st.azimuth_jitter, st.azimuth_jitter))
    d_el = float(rng.uniform(-st.elevation_jitter, st.elevation_jitter))
    scales = 1.0 + rng.uniform(-st.proportion_jitter, st.proportion_jitter, size=3)
    true_view = View(float(azimuth), float(elevation), float(distance), lens_mm, orientation=orientation)
    drawn_view = View(float(azimuth) + d_az, float(elevation) + d_el, float(distance), lens_mm,
                      orientation=orientation)

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
    orientation: Orientation = SHAPENET,
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
                                         sketch_rng(seed, sketch_id), lens_mm=lens_mm, orientation=orientation)
            except ValueError as exc:
                raise ValueError(f"sketch {sketch_id} of mesh {rec.mesh_path}: {exc}") from None
            sketch.meta.update({"sketch_id": sketch_id, "shape_id": str(rec.shape_id), "category": rec.category})
            path = out_dir / str(rec.category) / f"{sketch_id}.json"
            save_sketch(sketch, path)
            rows.append({"sketch_id": sketch_id, "shape_id": str(rec.shape_id), "category": rec.category,
                         "split": rec.split, "azimuth": az, "path": str(path), "source": "simulated"})
    return pd.DataFrame(rows, columns=SKETCH_COLUMNS)
