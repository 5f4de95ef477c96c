"""The lamp builder: base, stem, shade and optional second arm as a list of mesh parts from a lamp parameter dict."""
from __future__ import annotations

import numpy as np
import trimesh
from trimesh import creation

from sketch3d.data.procedural.parts import _SECTIONS, _beam, _beam_frame, _box, _polyline, _sphere

_UP = np.array([0.0, 1.0, 0.0])

# Lamp-type proportions: nominal stem length, base radius, stem radius, shade radius.
_LAMP_SCALE = {
    "floor": {"stem": 1.5, "base": 0.18, "rod": 0.014, "shade": 0.2},
    "desk": {"stem": 0.45, "base": 0.10, "rod": 0.011, "shade": 0.10},
}



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
