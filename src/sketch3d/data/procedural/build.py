"""The entry point: validate a parameter dict, build its parts and normalise the mesh like ShapeNetCore v2."""
from __future__ import annotations

import numpy as np
import trimesh

from sketch3d.data.procedural.chair import _build_chair
from sketch3d.data.procedural.lamp import _build_lamp
from sketch3d.data.procedural.params import validate_params


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

def build_shape(category: str, params: dict) -> trimesh.Trimesh:
    """One ShapeNet-normalised mesh (Y-up, front +Z, unit bbox diagonal) for ``params``.

    Deterministic given ``params``; raises ValueError naming the key for an invalid dict.
    """
    validate_params(category, params)
    p = dict(params)
    parts = _build_chair(p) if category == "chair" else _build_lamp(p)
    mesh = trimesh.util.concatenate(parts)
    return normalise_like_shapenet(mesh)
