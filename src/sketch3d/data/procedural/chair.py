"""The chair builder: seat, legs, back and arms as a list of mesh parts from a chair parameter dict."""
from __future__ import annotations

import numpy as np
import trimesh
from trimesh import creation

from sketch3d.data.procedural.parts import _SECTIONS, _beam, _box, _rot_x, _sphere


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
