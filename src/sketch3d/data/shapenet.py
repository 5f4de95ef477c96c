"""Index ShapeNetCore v2 meshes (a local copy the user supplies; access is gated).

Layout: ``<root>/<synset>/<model_id>/models/model_normalized.obj``. The meshes are
Y-up with the front towards +Z, as ``sketch3d.geometry.camera`` assumes.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from sketch3d.data.manifest import SHAPE_COLUMNS, SPLITS

SYNSETS: dict[str, str] = {"chair": "03001627", "lamp": "03636649"}
SOURCE = "shapenet"
UP_AXIS = "Y"


class ShapeNetError(FileNotFoundError):
    """The ShapeNetCore copy lacks a synset or meshes the pipeline needs."""


def synset(category: str) -> str:
    """The ShapeNet synset id of ``category``."""
    if category not in SYNSETS:
        raise ValueError(f"unknown ShapeNet category '{category}'; known: {sorted(SYNSETS)}")
    return SYNSETS[category]


def mesh_path(root: str | os.PathLike, category: str, model_id: str) -> Path:
    """``<root>/<synset>/<model_id>/models/model_normalized.obj``."""
    return Path(root) / synset(category) / model_id / "models" / "model_normalized.obj"


def _fix(root: Path, category: str) -> str:
    return (
        f"Fix: extract ShapeNetCore v2 (synset {synset(category)} = {category}) so that meshes lie at "
        f"{root}/{synset(category)}/<model_id>/models/model_normalized.obj, or set profiles.paper.data.shapenet_root in "
        "params.yaml to your copy (ShapeNet is gated: request access at https://shapenet.org)."
    )


def index_shapenet(
    root: str | os.PathLike,
    category: str,
    model_ids: list[str],
    splits: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Rows (columns ``SHAPE_COLUMNS``) for ``model_ids`` of ``category``; every mesh must exist.

    ``splits`` maps model id -> train/val/test; without it the split column is None
    for the caller to fill. Repeated ids are listed once (first occurrence order).
    Missing meshes raise one ShapeNetError giving their number, the first few paths and the fix.
    """
    root = Path(root)
    ids = list(dict.fromkeys(model_ids))
    if not (root / synset(category)).is_dir():
        raise ShapeNetError(f"ShapeNet synset folder {root / synset(category)} does not exist. {_fix(root, category)}")
    paths = [mesh_path(root, category, m) for m in ids]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        shown = "\n  ".join(str(p) for p in missing[:5])
        raise ShapeNetError(
            f"{len(missing)} of {len(ids)} {category} meshes are missing from {root}, e.g.\n  {shown}\n"
            f"{_fix(root, category)} A partial copy must include every shape the sketches refer to."
        )
    split_col = [None] * len(ids)
    if splits is not None:
        lacking = [m for m in ids if m not in splits]
        if lacking:
            raise ValueError(f"index_shapenet: no split given for {len(lacking)} model id(s), e.g. {lacking[:5]}")
        bad = sorted({splits[m] for m in ids} - set(SPLITS))
        if bad:
            raise ValueError(f"index_shapenet: unknown split(s) {bad}; allowed {list(SPLITS)}")
        split_col = [splits[m] for m in ids]
    df = pd.DataFrame(
        {
            "shape_id": ids,
            "category": category,
            "split": split_col,
            "mesh_path": [str(p) for p in paths],
            "up_axis": UP_AXIS,
            "source": SOURCE,
        }
    )
    return df[SHAPE_COLUMNS]
