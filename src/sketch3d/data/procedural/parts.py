"""Mesh-building primitives shared by the chair and lamp builders (boxes, beams, spheres, rods)."""
from __future__ import annotations

from typing import Any

import numpy as np
import trimesh
from trimesh import creation

_SECTIONS = 14  # cylinder wedges: smooth enough at 224 px, cheap to render


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

