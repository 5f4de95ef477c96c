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

from sketch3d.data.procedural.build import build_shape, normalise_like_shapenet
from sketch3d.data.procedural.params import (
    CATEGORIES,
    PARAM_SPECS,
    Choice,
    Range,
    sample_shape_params,
    validate_params,
    vary_shape_params,
)

__all__ = [
    "CATEGORIES",
    "PARAM_SPECS",
    "Choice",
    "Range",
    "build_shape",
    "normalise_like_shapenet",
    "sample_shape_params",
    "validate_params",
    "vary_shape_params",
]
