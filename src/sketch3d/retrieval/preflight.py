"""The chapter's paper-profile inputs, checked before any job: AmateurSketch's archives of the configured categories
(present and verified, or one of their URLs answering so that `fetch` gets them), the ShapeNetCore v2 meshes, and
the weights of the main network and of every named network (``features.networks``: Tables 4.5, 4.6). The checks
are the shared data and features stages' (:func:`sketch3d.preflight.check_paper_inputs`); nothing is downloaded
here. The learned mask's training set (:mod:`sketch3d.retrieval.mask_data`) is checked by count: a ShapeNet chair
synset with fewer models than ``retrieval.masks.train_set.shapes`` (4475) cannot supply it."""
from __future__ import annotations

import os

from pathlib import Path

from sketch3d.preflight import MissingInput, check_paper_inputs


def missing_inputs(params: dict, base: str | os.PathLike = ".", probe_network: bool = True,
                   timeout: float = 5) -> list[MissingInput]:
    """Every paper-profile input of chapter 4.2 that is missing (``params``: the effective params)."""
    features = params["features"]
    return _mask_training_set(params, base) + check_paper_inputs(params["data"], features_weights=features["weights"], probe_network=probe_network,
                              timeout=timeout, features=features, networks=list(features.get("networks", {})),
                              base=base)


def _mask_training_set(params: dict, base: str | os.PathLike) -> list[MissingInput]:
    """The mask's training set needs ``retrieval.masks.train_set.shapes`` models with a mesh in the category's
    synset, before AmateurSketch's validation and test shapes are taken out (that exact count is checked by the
    ``mask_train_set`` step, which knows the splits). A missing synset is reported by the shared checks."""
    from sketch3d.data.manifest import resolve
    from sketch3d.data.shapenet import synset
    from sketch3d.retrieval.mask_data import THESIS_TRAIN_SHAPES

    t = params.get("retrieval", {}).get("masks", {}).get("train_set")
    if not t or t.get("shapes") is None or "shapenet_root" not in params["data"]:
        return []
    folder = Path(resolve(params["data"]["shapenet_root"], base)) / synset(t["category"])
    if not folder.is_dir():
        return []
    with os.scandir(folder) as it:
        n = sum(1 for e in it if e.is_dir() and (Path(e.path) / "models" / "model_normalized.obj").is_file())
    if n >= t["shapes"]:
        return []
    return [MissingInput(
        f"the learned mask's training set: {t['shapes']} {t['category']} models (thesis: {THESIS_TRAIN_SHAPES}; "
        f"this copy has {n})", str(folder),
        "complete your ShapeNetCore v2 copy (the chair synset holds 6778 models), or set "
        "retrieval.masks.train_set.shapes in params.yaml to the number you mean to train on (null: all of them)")]
