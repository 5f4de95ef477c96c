"""Procedural chair and lamp meshes that stand in for ShapeNetCore in the demo profile.

Each category has a parameter table (``PARAM_SPECS``): discrete choices (part types,
counts, flags) and continuous sizes. ``sample_shape_params`` draws every parameter
independently (a "fully random" shape); ``vary_shape_params`` perturbs a given shape
slightly (a close neighbour, used by ``sketch3d.data.demo_shapes`` to build families
around prototypes). ``build_shape`` turns a parameter dict into one mesh made of
``trimesh.creation`` primitives (boxes, cylinders, spheres, surfaces of revolution,
convex hulls), concatenated without boolean operations, then normalised as ShapeNetCore
v2 ``model_normalized.obj``: Y-up, front facing +Z (a chair's back is at -Z, its
seat's front edge at +Z), bounding-box centre at the origin, bounding-box diagonal 1.

Parameters are only read where they apply (``leg_splay`` only for splayed legs,
``back_count`` only for slatted or railed backs, ``stem_bend`` only for bent or
arched stems, ...), so two dicts that differ only in an inactive parameter give the
same mesh. All meshes stay under about 3000 faces.

Example (the OBJ written by trimesh reloads with the same vertices)::

    >>> import io, numpy as np, trimesh
    >>> p = sample_shape_params("chair", np.random.default_rng(0))
    >>> m = build_shape("chair", p)
    >>> text = trimesh.exchange.obj.export_obj(m, include_normals=False)
    >>> back = trimesh.load(io.BytesIO(text.encode()), file_type="obj", process=False)
    >>> len(back.vertices) == len(m.vertices)
    True
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import trimesh
from trimesh import creation

CATEGORIES = ("chair", "lamp")

_UP = np.array([0.0, 1.0, 0.0])
_SECTIONS = 14  # cylinder wedges: smooth enough at 224 px, cheap to render


@dataclass(frozen=True)
class Choice:
    """A discrete parameter: one of ``values`` (strings or booleans), drawn with ``weights``;
    a ``major`` one (the object's overall type) is never changed by ``vary_shape_params``."""

    values: tuple
    weights: tuple[float, ...] | None = None
    major: bool = False


@dataclass(frozen=True)
class Range:
    """A continuous (or, with ``integer``, whole-number) parameter in [lo, hi]."""

    lo: float
    hi: float
    integer: bool = False


PARAM_SPECS: dict[str, dict[str, Choice | Range]] = {
    "chair": {
        "seat_shape": Choice(("box", "rounded", "disc"), (0.45, 0.35, 0.2)),
        "seat_width": Range(0.40, 0.62),        # x extent
        "seat_depth": Range(0.38, 0.58),        # z extent
        "seat_height": Range(0.36, 0.52),       # floor to seat top
        "seat_thickness": Range(0.025, 0.10),
        "seat_corner": Range(0.15, 0.9),        # rounded seat: corner radius / half the smaller side
        "leg_type": Choice(("straight", "splayed", "round", "pedestal", "sled"),
                           (0.25, 0.2, 0.2, 0.2, 0.15), major=True),
        "leg_thickness": Range(0.022, 0.06),
        "leg_inset": Range(0.0, 0.25),          # legs moved inwards, fraction of half the smaller side
        "leg_splay": Range(0.06, 0.3),          # splayed legs: outward offset per unit leg length
        "stretcher": Choice((False, True), (0.6, 0.4)),  # H-shaped stretcher between four legs
        "stretcher_height": Range(0.15, 0.5),   # fraction of leg length
        "pedestal_arms": Range(4, 6, integer=True),
        "back_type": Choice(("none", "panel", "slats", "rails"), (0.1, 0.35, 0.3, 0.25), major=True),
        "back_height": Range(0.32, 0.6),
        "back_width": Range(0.7, 1.0),          # fraction of seat width
        "back_thickness": Range(0.02, 0.06),
        "back_tilt": Range(0.0, 20.0),          # degrees, top leaning towards -Z
        "back_count": Range(2, 6, integer=True),  # slats or rails
        "arm_type": Choice(("none", "boxy", "rails"), (0.5, 0.2, 0.3)),
        "arm_height": Range(0.12, 0.26),        # above the seat top (always below the back top)
        "arm_thickness": Range(0.025, 0.08),
    },
    "lamp": {
        "lamp_type": Choice(("floor", "desk"), major=True),
        "base_type": Choice(("disc", "square", "tripod"), (0.45, 0.3, 0.25)),
        "base_size": Range(0.7, 1.3),
        "base_thickness": Range(0.08, 0.35),    # disc/square: height / radius; tripod: apex height
        "stem_type": Choice(("straight", "bent", "arched"), major=True),
        "stem_height": Range(0.7, 1.3),         # times the lamp type's nominal height
        "stem_thickness": Range(0.6, 1.6),
        "stem_joint": Range(0.35, 0.75),        # bent/arched: fraction of the stem below the bend
        "stem_bend": Range(20.0, 75.0),         # bent: upper segment from vertical; arched: 20 + 2x arc
        "stem_heading": Range(-90.0, 90.0),     # degrees, 0 = reaching towards +Z (front), + towards +X
        "shade_type": Choice(("cone", "cylinder", "dome", "inverted_cone", "bulb")),
        "shade_size": Range(0.7, 1.3),
        "shade_height": Range(0.6, 1.6),        # shade height / shade radius
        "shade_tilt": Range(0.0, 40.0),         # degrees from straight down, towards the heading
        "second_arm": Choice((False, True), (0.75, 0.25)),
        "second_arm_height": Range(0.4, 0.9),   # fraction of the vertical stem part
    },
}

# Lamp-type proportions: nominal stem length, base radius, stem radius, shade radius.
_LAMP_SCALE = {
    "floor": {"stem": 1.5, "base": 0.18, "rod": 0.014, "shade": 0.2},
    "desk": {"stem": 0.45, "base": 0.10, "rod": 0.011, "shade": 0.10},
}


# --------------------------------------------------------------------------- parameters
def _check_category(category: str) -> dict[str, Choice | Range]:
    if category not in PARAM_SPECS:
        raise ValueError(f"unknown category {category!r}; expected one of {list(CATEGORIES)}")
    return PARAM_SPECS[category]


def _draw(spec: Choice | Range, rng: np.random.Generator) -> Any:
    if isinstance(spec, Choice):
        p = None if spec.weights is None else np.asarray(spec.weights) / np.sum(spec.weights)
        value = spec.values[int(rng.choice(len(spec.values), p=p))]
        return bool(value) if isinstance(value, (bool, np.bool_)) else str(value)
    if spec.integer:
        return int(rng.integers(int(spec.lo), int(spec.hi) + 1))
    return round(float(rng.uniform(spec.lo, spec.hi)), 4)


def sample_shape_params(category: str, rng: np.random.Generator) -> dict:
    """Draw every parameter of ``category`` independently; the dict is JSON-serialisable."""
    specs = _check_category(category)
    return {name: _draw(spec, rng) for name, spec in specs.items()}


def vary_shape_params(
    category: str, params: dict, rng: np.random.Generator, scale: float = 0.08, swap_prob: float = 0.12
) -> dict:
    """A close neighbour of ``params``: continuous values moved by N(0, scale * range),
    clipped; each non-major discrete value redrawn (whole numbers moved by +-1) with ``swap_prob``."""
    specs = _check_category(category)
    validate_params(category, params)
    out: dict = {}
    for name, spec in specs.items():
        value = params[name]
        if isinstance(spec, Choice):
            swap = rng.random() < swap_prob and not spec.major
            out[name] = _draw(spec, rng) if swap else value
        elif spec.integer:
            step = int(rng.choice([-1, 1])) if rng.random() < swap_prob else 0
            out[name] = int(np.clip(value + step, spec.lo, spec.hi))
        else:
            moved = value + rng.normal(0.0, scale * (spec.hi - spec.lo))
            out[name] = round(float(np.clip(moved, spec.lo, spec.hi)), 4)
    return out


def validate_params(category: str, params: dict) -> None:
    """Raise ValueError naming the key when ``params`` does not fit ``PARAM_SPECS[category]``."""
    specs = _check_category(category)
    if not isinstance(params, dict):
        raise ValueError(f"{category} params must be a dict, got {type(params).__name__}")
    missing = [k for k in specs if k not in params]
    if missing:
        raise ValueError(f"{category} params: missing key(s) {missing}; see PARAM_SPECS[{category!r}]")
    unknown = sorted(k for k in params if k not in specs)
    if unknown:
        raise ValueError(f"{category} params: unknown key(s) {unknown}; allowed {list(specs)}")
    for name, spec in specs.items():
        value = params[name]
        if isinstance(spec, Choice):
            if isinstance(spec.values[0], bool):
                ok = isinstance(value, (bool, np.bool_))
            else:
                ok = isinstance(value, str) and value in spec.values
            if not ok:
                raise ValueError(f"{category} param {name!r} = {value!r}; expected one of {list(spec.values)}")
            continue
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError(f"{category} param {name!r} = {value!r}; expected a number in [{spec.lo}, {spec.hi}]")
        if spec.integer and int(value) != value:
            raise ValueError(f"{category} param {name!r} = {value!r}; expected a whole number")
        if not (spec.lo - 1e-9 <= float(value) <= spec.hi + 1e-9):
            raise ValueError(f"{category} param {name!r} = {value!r} is outside [{spec.lo}, {spec.hi}]")


# --------------------------------------------------------------------------- primitives
def _box(lo: Any, hi: Any) -> trimesh.Trimesh:
    """Axis-aligned box between two corners."""
    return creation.box(bounds=np.array([lo, hi], dtype=float))


def _beam_frame(p0: np.ndarray, p1: np.ndarray) -> np.ndarray:
    """4x4 transform taking local +Z to p0->p1 (centred at the midpoint), local +X kept near world X."""
    # hand-written: trimesh.geometry.align_vectors leaves the roll about the axis arbitrary
    z = (p1 - p0) / np.linalg.norm(p1 - p0)
    ref = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 0.0, 1.0])
    x = ref - (ref @ z) * z
    x /= np.linalg.norm(x)
    tf = np.eye(4)
    tf[:3, 0], tf[:3, 1], tf[:3, 2], tf[:3, 3] = x, np.cross(z, x), z, (p0 + p1) / 2
    return tf


def _beam(p0: Any, p1: Any, thickness: float, round_: bool = False, sections: int = _SECTIONS) -> trimesh.Trimesh:
    """A square (or round) bar of the given thickness from p0 to p1."""
    p0, p1 = np.asarray(p0, dtype=float), np.asarray(p1, dtype=float)
    if round_:
        return creation.cylinder(radius=thickness / 2, segment=np.stack([p0, p1]), sections=sections)
    length = float(np.linalg.norm(p1 - p0))
    return creation.box(extents=[thickness, thickness, length], transform=_beam_frame(p0, p1))


def _sphere(centre: Any, radius: float, count: int = 10) -> trimesh.Trimesh:
    s = creation.uv_sphere(radius=radius, count=[count, count])
    s.apply_translation(np.asarray(centre, dtype=float))
    return s


def _rot_x(deg: float) -> np.ndarray:
    return trimesh.transformations.rotation_matrix(np.radians(deg), [1.0, 0.0, 0.0])


def normalise_like_shapenet(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """A copy of ``mesh`` with its bounding-box centre at the origin and bounding-box diagonal 1
    (ShapeNetCore v2 ``model_normalized``); the axes are left as they are (build Y-up, front +Z)."""
    if len(mesh.vertices) == 0:
        raise ValueError("normalise_like_shapenet: the mesh has no vertices")
    out = mesh.copy()
    lo, hi = out.vertices.min(axis=0), out.vertices.max(axis=0)
    diagonal = float(np.linalg.norm(hi - lo))
    if diagonal <= 0:
        raise ValueError("normalise_like_shapenet: the mesh's bounding box is a single point")
    out.vertices = (out.vertices - (lo + hi) / 2) / diagonal
    return out


# --------------------------------------------------------------------------- chairs
def _chair_seat(p: dict) -> list[trimesh.Trimesh]:
    w, d, h, t = p["seat_width"], p["seat_depth"], p["seat_height"], p["seat_thickness"]
    if p["seat_shape"] == "box":
        return [_box([-w / 2, h - t, -d / 2], [w / 2, h, d / 2])]
    if p["seat_shape"] == "rounded":
        r = p["seat_corner"] * min(w, d) / 2
        posts = [
            creation.cylinder(radius=r, segment=[[sx * (w / 2 - r), h - t, sz * (d / 2 - r)],
                                                 [sx * (w / 2 - r), h, sz * (d / 2 - r)]], sections=10)
            for sx in (-1, 1) for sz in (-1, 1)
        ]
        return [trimesh.util.concatenate(posts).convex_hull]
    disc = creation.cylinder(radius=0.5, segment=[[0, -t / 2, 0], [0, t / 2, 0]], sections=28)
    disc.apply_transform(np.diag([w, 1.0, d, 1.0]))
    disc.apply_translation([0.0, h - t / 2, 0.0])
    return [disc]


def _chair_legs(p: dict) -> list[trimesh.Trimesh]:
    w, d, h, t = p["seat_width"], p["seat_depth"], p["seat_height"], p["seat_thickness"]
    lt, kind = p["leg_thickness"], p["leg_type"]
    top = h - t
    inset = p["leg_inset"] * min(w, d) / 2
    if p["seat_shape"] == "disc":  # keep the legs under an elliptic seat
        lx, lz = 0.68 * w / 2, 0.68 * d / 2
    elif p["seat_shape"] == "rounded":  # ... or inside the rounded corners
        cut = p["seat_corner"] * min(w, d) / 2 * (1 - np.sqrt(0.5))
        lx, lz = w / 2 - cut, d / 2 - cut
    else:
        lx, lz = w / 2, d / 2
    lx, lz = lx - inset - lt / 2, lz - inset - lt / 2
    parts: list[trimesh.Trimesh] = []
    if kind == "pedestal":
        col_r = 0.9 * lt + 0.01
        foot_y, reach = 0.06, 0.55 * max(w, d)
        parts.append(creation.cylinder(radius=col_r, segment=[[0, foot_y, 0], [0, top, 0]], sections=_SECTIONS))
        parts.append(creation.cylinder(radius=0.3 * min(w, d), segment=[[0, top - 0.02, 0], [0, top, 0]],
                                       sections=_SECTIONS))
        n = int(p["pedestal_arms"])
        for i in range(n):
            a = 2 * np.pi * i / n
            end = np.array([reach * np.sin(a), 0.035, reach * np.cos(a)])
            parts.append(_beam([0, foot_y, 0], end, 0.8 * lt + 0.008))
            parts.append(_sphere(end - [0, 0.005, 0], 0.03, count=6))
        return parts
    if kind == "sled":
        for sx in (-1, 1):
            x = sx * lx
            back, front = np.array([x, lt / 2, -lz]), np.array([x, lt / 2, lz])
            parts.append(_beam(back + [0, 0, -lt / 2], front + [0, 0, lt / 2], lt))
            parts.append(_beam(back, [x, top, -lz], lt))
            parts.append(_beam(front, [x, top, lz], lt))
        return parts
    splay = p["leg_splay"] if kind == "splayed" else 0.0
    round_ = kind == "round"
    tops, bottoms = {}, {}
    for sx in (-1, 1):
        for sz in (-1, 1):
            tops[sx, sz] = np.array([sx * lx, top, sz * lz])
            bottoms[sx, sz] = np.array([sx * (lx + splay * top), 0.0, sz * (lz + splay * top)])
            parts.append(_beam(tops[sx, sz], bottoms[sx, sz], lt, round_))
    if p["stretcher"]:
        f = 1.0 - p["stretcher_height"]  # from the top, fraction of the leg
        at = {k: tops[k] + f * (bottoms[k] - tops[k]) for k in tops}
        bar = 0.6 * lt
        for sx in (-1, 1):
            parts.append(_beam(at[sx, -1], at[sx, 1], bar, round_))
        mid = [(at[sx, -1] + at[sx, 1]) / 2 for sx in (-1, 1)]
        parts.append(_beam(mid[0], mid[1], bar, round_))
    return parts


def _chair_back(p: dict) -> list[trimesh.Trimesh]:
    kind = p["back_type"]
    if kind == "none":
        return []
    w, d, h = p["seat_width"], p["seat_depth"], p["seat_height"]
    bw, bh, bt = p["back_width"] * w, p["back_height"], p["back_thickness"]
    edge = 0.8 * d / 2 if p["seat_shape"] == "disc" else d / 2
    parts: list[trimesh.Trimesh] = []
    if kind == "panel":
        parts.append(_box([-bw / 2, 0, -bt / 2], [bw / 2, bh, bt / 2]))
    else:
        pw, n = 1.2 * bt, int(p["back_count"])
        parts.append(_box([-bw / 2, 0, -bt / 2], [-bw / 2 + pw, bh, bt / 2]))  # side posts
        parts.append(_box([bw / 2 - pw, 0, -bt / 2], [bw / 2, bh, bt / 2]))
        inner = bw - 2 * pw
        if kind == "slats":
            rail = max(0.04, 0.15 * bh)
            parts.append(_box([-bw / 2, bh - rail, -bt / 2], [bw / 2, bh, bt / 2]))
            slot = inner / n
            for i in range(n):
                cx = -inner / 2 + slot * (i + 0.5)
                parts.append(_box([cx - 0.225 * slot, 0, -0.3 * bt], [cx + 0.225 * slot, bh - rail, 0.3 * bt]))
        else:  # horizontal rails, the top one flush with the back's top
            rail = min(0.08, 0.45 * 0.75 * bh / max(n - 1, 1))
            for y in np.linspace(bh - rail / 2, 0.25 * bh, n):
                parts.append(_box([-inner / 2 - 1e-4, y - rail / 2, -0.35 * bt],
                                  [inner / 2 + 1e-4, y + rail / 2, 0.35 * bt]))
    # tilt the back about its bottom edge so its top leans towards -Z, then put it at the seat's back
    place = trimesh.transformations.translation_matrix([0.0, h, -edge + bt / 2]) @ _rot_x(-p["back_tilt"])
    back = trimesh.util.concatenate(parts)
    back.apply_transform(place)
    return [back]


def _chair_arms(p: dict) -> list[trimesh.Trimesh]:
    kind = p["arm_type"]
    if kind == "none":
        return []
    w, d, h, t = p["seat_width"], p["seat_depth"], p["seat_height"], p["seat_thickness"]
    ah, at = p["arm_height"], p["arm_thickness"]
    bt = p["back_thickness"] if p["back_type"] != "none" else 0.0
    back_z = -d / 2 + bt - ah * np.tan(np.radians(p["back_tilt"])) * (p["back_type"] != "none")
    parts: list[trimesh.Trimesh] = []
    for sx in (-1, 1):
        if kind == "boxy":
            x0, x1 = sorted([sx * w / 2, sx * (w / 2 - at)])
            parts.append(_box([x0, h - t, -d / 2 + bt], [x1, h + ah, d / 2]))
        else:
            x = sx * (w / 2 - at / 2)
            rail = 0.6 * at
            parts.append(_beam([x, h + ah, back_z], [x, h + ah, 0.45 * d], rail))
            posts = [0.35 * d] if p["back_type"] != "none" else [0.35 * d, back_z + 0.25 * at]
            for z in posts:
                parts.append(_beam([x, h - t / 2, z], [x, h + ah, z], 0.5 * at, round_=True, sections=10))
    return parts


def _build_chair(p: dict) -> list[trimesh.Trimesh]:
    return _chair_seat(p) + _chair_legs(p) + _chair_back(p) + _chair_arms(p)


# --------------------------------------------------------------------------- lamps
def _shade_profile(kind: str, radius: float, height: float) -> np.ndarray:
    """(r, z) outline of a solid shade, z from 0 (where it hangs) along its axis to ``height``."""
    if kind == "dome":
        phi = np.linspace(0.0, np.pi / 2, 7)
        rim = np.stack([radius * np.sin(phi), height * (1 - np.cos(phi))], axis=1)
        return np.vstack([[0.0, 0.0], rim[1:], [0.0, height]])
    r_top, r_bottom = {"cone": (0.08, 1.0), "cylinder": (0.85, 0.85), "inverted_cone": (1.0, 0.35)}[kind]
    return np.array([[0.0, 0.0], [r_top * radius, 0.0], [r_bottom * radius, height], [0.0, height]])


def _lamp_head(kind: str, anchor: np.ndarray, axis: np.ndarray, radius: float, height: float,
               rod: float) -> list[trimesh.Trimesh]:
    """A shade hanging from ``anchor`` along ``axis``, or a bare bulb on a socket."""
    if kind == "bulb":
        bulb_r = 0.45 * radius
        socket_end = anchor + axis * 0.5 * bulb_r
        return [creation.cylinder(radius=1.6 * rod, segment=np.stack([anchor, socket_end]), sections=_SECTIONS),
                _sphere(socket_end + axis * 0.85 * bulb_r, bulb_r, count=12)]
    shade = creation.revolve(_shade_profile(kind, radius, height), sections=24)
    tf = _beam_frame(anchor, anchor + axis)
    tf[:3, 3] = anchor
    shade.apply_transform(tf)
    return [shade]


def _capsule(p0: np.ndarray, p1: np.ndarray, radius: float) -> trimesh.Trimesh:
    """A capsule from p0 to p1: chained, capsules meet without the cap rims Freestyle would draw."""
    length = float(np.linalg.norm(p1 - p0))
    return creation.capsule(height=length, radius=radius, count=[6, 10], transform=_beam_frame(p0, p1))


def _polyline(points: list[np.ndarray], rod: float, joints: bool, smooth: bool = False) -> list[trimesh.Trimesh]:
    """A rod along ``points``: cylinders (with knuckle spheres at ``joints``) or, ``smooth``, capsules."""
    if smooth:
        return [_capsule(a, b, rod) for a, b in zip(points[:-1], points[1:])]
    parts = [creation.cylinder(radius=rod, segment=np.stack([a, b]), sections=10)
             for a, b in zip(points[:-1], points[1:])]
    if joints:
        parts += [_sphere(q, 1.7 * rod, count=8) for q in points[1:-1]]
    return parts


def _build_lamp(p: dict) -> list[trimesh.Trimesh]:
    scale = _LAMP_SCALE[p["lamp_type"]]
    rb = scale["base"] * p["base_size"]
    rod = scale["rod"] * p["stem_thickness"]
    stem = scale["stem"] * p["stem_height"]
    rs = scale["shade"] * p["shade_size"]
    hs = p["shade_height"] * rs
    a = np.radians(p["stem_heading"])
    heading = np.array([np.sin(a), 0.0, np.cos(a)])
    parts: list[trimesh.Trimesh] = []

    # base
    if p["base_type"] == "tripod":
        y0 = rb * (1.0 + 3.0 * p["base_thickness"])
        for i in range(3):
            b = a + np.pi / 3 + 2 * np.pi * i / 3  # one leg behind, two in front-ish
            parts.append(_beam([0, y0, 0], [1.1 * rb * np.sin(b), 0.0, 1.1 * rb * np.cos(b)], 1.6 * rod, True, 10))
    elif p["base_type"] == "square":
        y0 = rb * p["base_thickness"]
        parts.append(_box([-0.85 * rb, 0, -0.85 * rb], [0.85 * rb, y0, 0.85 * rb]))
    else:
        y0 = rb * p["base_thickness"]
        parts.append(creation.cylinder(radius=rb, segment=[[0, 0, 0], [0, y0, 0]], sections=28))
    start = np.array([0.0, y0, 0.0])

    # stem as a polyline
    kind = p["stem_type"]
    vertical = stem if kind == "straight" else stem * p["stem_joint"]
    points = [start, start + _UP * vertical]
    if kind == "bent":
        beta = np.radians(p["stem_bend"])
        points.append(points[-1] + stem * (1 - p["stem_joint"]) * (np.cos(beta) * _UP + np.sin(beta) * heading))
    elif kind == "arched":
        n, total = 7, np.radians(20.0 + 2.0 * p["stem_bend"])
        for k in range(n):
            phi = total * (k + 0.5) / n
            points.append(points[-1] + stem * (1 - p["stem_joint"]) / n * (np.cos(phi) * _UP + np.sin(phi) * heading))
    if kind == "arched":  # the straight part as a cylinder, the arc as chained capsules
        parts += _polyline(points[:2], rod, joints=False) + _polyline(points[1:], rod, joints=False, smooth=True)
    else:
        parts += _polyline(points, rod, joints=kind == "bent")

    # shade on the stem's tip, pointing down and tilted towards the heading
    tilt = np.radians(p["shade_tilt"])
    down = -np.cos(tilt) * _UP + np.sin(tilt) * heading
    tip = points[-1]
    if kind == "straight":
        if p["shade_type"] == "bulb":  # a bare bulb sits on top of a straight stem
            upward = np.cos(tilt) * _UP + np.sin(tilt) * heading
            parts += _lamp_head("bulb", tip, upward, rs, hs, rod)
        else:
            parts += _lamp_head(p["shade_type"], tip - 0.55 * hs * down, down, rs, hs, rod)
    else:
        parts += _lamp_head(p["shade_type"], tip, down, rs, hs, rod)

    # optional second arm: a shorter bent branch reaching the other way, with a smaller head
    if p["second_arm"]:
        root = start + _UP * vertical * p["second_arm_height"]
        reach = 0.35 * stem * (np.cos(np.radians(55)) * _UP - np.sin(np.radians(55)) * heading)
        parts += _polyline([root, root + reach], 0.8 * rod, joints=False)
        down2 = -np.cos(tilt) * _UP - np.sin(tilt) * heading
        parts += _lamp_head(p["shade_type"], root + reach, down2, 0.7 * rs, 0.7 * hs, 0.8 * rod)
    return parts


# --------------------------------------------------------------------------- entry point
def build_shape(category: str, params: dict) -> trimesh.Trimesh:
    """One ShapeNet-normalised mesh (Y-up, front +Z, unit bbox diagonal) for ``params``.

    Deterministic given ``params``; raises ValueError naming the key for an invalid dict.
    """
    validate_params(category, params)
    p = dict(params)
    parts = _build_chair(p) if category == "chair" else _build_lamp(p)
    mesh = trimesh.util.concatenate(parts)
    return normalise_like_shapenet(mesh)
