"""What the learned mask trains on (thesis 4.2.3.3, app. B.5): the training chairs and the per-batch augmentation.

**The training set.** The thesis trains on "4475 ShapeNet chair models", line renderings at five views (0, 30, 45,
75, 90), and says nothing more about how they were chosen. No rule we could derive from the published counts gives
4475: ShapeNetCore v2's chair synset (03001627) holds 6778 models; minus AmateurSketch's validation (200) and test
(201) chairs it leaves 6377; ShapeNet's own 70/10/20 split gives about 4745 training chairs (and its training
chairs minus AmateurSketch's would be fewer still, by an overlap we cannot compute offline). The set is therefore a *seeded random draw* of ``retrieval.masks.train_set.shapes``
(4475) models from the **eligible** chairs: every model of the category in the user's ShapeNetCore v2 copy that has
a mesh, minus every shape of AmateurSketch's validation and test splits (those select the checkpoint and score the
tables: training on their renderings would leak them). The draw uses ``numpy.random.default_rng([seed, 11])`` on
the sorted ids, so the same copy and seed give the same set. AmateurSketch's own training chairs stay eligible:
they are ShapeNet chairs like the others (the thesis's set is not AmateurSketch's training split, which is far
smaller than 4475).

If the copy has fewer eligible chairs than asked, the step stops with an error naming the count found and the fix
(check the copy, or set ``retrieval.masks.train_set.shapes`` to the count, or ``null`` for all): a partial
ShapeNet copy is most likely a mistake, and training silently on fewer shapes would change Table 4.7 unnoticed.
Setting the count is then an explicit choice that the params, the set's JSON and the mask's info JSON record.
The demo applies the same rule to its generated shapes: its eligible chairs are its 30 generated training chairs.

**The augmentation** (B.5): every image of every batch gets a fresh random affine transform: translation by a
random number of whole pixels in [-10%, +10%] of the image on x and y, rotation in [-10, +10] degrees (rounded to
0.1 degree), and the box side changed by a random amount in [-10%, +10%] of the image (around the OBB box,
``retrieval.obb_box``). "We augment images in every batch with a random affine transformation": one transform per
image, drawn afresh each batch, as a data loader's random-affine transform does; the features of the transformed
images are computed in the training step (the CLIP backbone is frozen, only the mask trains).
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sketch3d.atomic import atomic_path
from sketch3d.features.transforms import Transform

log = logging.getLogger(__name__)

IMAGE_SIZE = 224
THESIS_TRAIN_SHAPES = 4475  # thesis 4.2.3.3
EXCLUDED_SPLITS = ("val", "test")


class TrainingSetError(ValueError):
    """The mask's training set cannot be built as asked."""


# ----------------------------------------------------------------------------- the training set


def select_training_shapes(candidates: list[str], excluded: set[str] | list[str], count: int | None, seed: int,
                           where: str = "the shapes") -> tuple[list[str], dict]:
    """The training shapes (sorted) and a summary: ``candidates`` minus ``excluded``, then, when ``count`` is
    given, a seeded draw of ``count`` of them (all of them when ``count`` is their number). Fewer eligible
    shapes than ``count`` raise :class:`TrainingSetError` naming ``where``, the numbers and the fix."""
    all_ids = sorted(set(candidates))
    excluded = set(excluded)
    eligible = [s for s in all_ids if s not in excluded]
    if count is not None and (isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 2):
        raise TrainingSetError(f"retrieval.masks.train_set.shapes must be an integer >= 2 or null (all), got {count!r}")
    if count is not None and len(eligible) < count:
        raise TrainingSetError(
            f"{where}: {len(eligible)} eligible shapes ({len(all_ids)} found, {len(all_ids) - len(eligible)} of them in "
            f"AmateurSketch's validation/test splits), fewer than retrieval.masks.train_set.shapes={count} "
            f"(the thesis trains on {THESIS_TRAIN_SHAPES} ShapeNet chairs; ShapeNetCore v2's chair synset 03001627 "
            "holds 6778 models). Fix: complete your ShapeNetCore v2 copy, or, to train on fewer shapes on purpose, "
            f"set retrieval.masks.train_set.shapes to {len(eligible)} (or null: all eligible shapes) in params.yaml; "
            "the count is recorded in the training set's JSON and in every mask's info JSON.")
    if count is None or count == len(eligible):
        chosen = eligible
    else:
        rng = np.random.default_rng([int(seed), 11])
        chosen = sorted(eligible[i] for i in rng.choice(len(eligible), size=int(count), replace=False))
    summary = {
        "rule": "every model of the category with a mesh, minus AmateurSketch's validation and test shapes; "
                "a seeded random draw of `shapes` of them (thesis 4.2.3.3 gives only the count)",
        "found": len(all_ids),
        "excluded_val_test": len(all_ids) - len(eligible),
        "eligible": len(eligible),
        "asked": None if count is None else int(count),
        "chosen": len(chosen),
        "thesis": THESIS_TRAIN_SHAPES,
        "differs_from_thesis": len(chosen) != THESIS_TRAIN_SHAPES,
    }
    return chosen, summary


def _shapenet_ids(root: Path, category: str) -> list[str]:
    """Model ids of ``category`` in a ShapeNetCore v2 copy that have ``models/model_normalized.obj``."""
    from sketch3d.data.shapenet import ShapeNetError, _fix, mesh_path, synset

    folder = Path(root) / synset(category)
    if not folder.is_dir():
        raise ShapeNetError(f"ShapeNet synset folder {folder} does not exist (the mask's training set is drawn from "
                            f"it). {_fix(Path(root), category)}")
    return sorted(d.name for d in folder.iterdir() if d.is_dir() and mesh_path(root, category, d.name).is_file())


def mask_train_set(params: dict, shapes_csv: Path, out_csv: Path, out_json: Path, base: str | os.PathLike = ".") -> dict:
    """Write the mask's training shapes (a shapes manifest, split ``train``) and the set's summary JSON.

    paper: drawn from the ShapeNetCore v2 copy at ``data.shapenet_root``; demo: from the generated shapes of
    ``shapes_csv``. Both exclude the validation and test shapes of ``shapes_csv``."""
    from sketch3d.data.manifest import SHAPE_COLUMNS, read_shapes, resolve, write_manifest
    from sketch3d.data.shapenet import index_shapenet

    t = params["retrieval"]["masks"]["train_set"]
    category, count = t["category"], t["shapes"]
    shapes = read_shapes(shapes_csv)
    mine = shapes[shapes["category"] == category]
    excluded = set(mine.loc[mine["split"].isin(EXCLUDED_SPLITS), "shape_id"])
    if params["profile"] == "paper":
        root = resolve(params["data"]["shapenet_root"], base)
        chosen, summary = select_training_shapes(_shapenet_ids(root, category), excluded, count, params["seed"],
                                                 f"ShapeNetCore v2 at {root} ({category})")
        rows = index_shapenet(root, category, chosen, {s: "train" for s in chosen})
        summary["source"] = f"ShapeNetCore v2 at {root}"
    else:
        chosen, summary = select_training_shapes(mine["shape_id"].tolist(), excluded, count, params["seed"],
                                                 f"{shapes_csv} ({category})")
        rows = mine.set_index("shape_id").loc[chosen].reset_index()
        rows["split"] = "train"
        summary["source"] = f"the demo's generated shapes ({shapes_csv})"
    summary["category"] = category
    if summary["differs_from_thesis"]:
        log.warning("mask training set: %d %s shapes, not the thesis's %d (%s)", summary["chosen"], category,
                    THESIS_TRAIN_SHAPES, summary["source"])
    write_manifest(rows[SHAPE_COLUMNS], out_csv, "shapes")
    with atomic_path(out_json) as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    return summary


# ----------------------------------------------------------------------------- the per-batch augmentation


@dataclass(frozen=True)
class Augment:
    """B.5's random affine augmentation (``retrieval.masks.augment``) around the box ``box`` (px)."""

    box: int
    translate: float = 0.1
    rotate: float = 10.0
    scale: float = 0.1
    size: int = IMAGE_SIZE

    def __post_init__(self) -> None:
        for name in ("translate", "scale"):
            v = getattr(self, name)
            if not 0 <= v < 0.5:
                raise ValueError(f"retrieval.masks.augment.{name} must be in [0, 0.5) of the image, got {v}")
        if not 0 <= self.rotate <= 180:
            raise ValueError(f"retrieval.masks.augment.rotate must be in [0, 180] degrees, got {self.rotate}")
        if not 8 <= self.box <= self.size:
            raise ValueError(f"the augmentation's box must be in [8, {self.size}] px, got {self.box} (retrieval.obb_box)")

    @classmethod
    def from_params(cls, params: dict) -> "Augment":
        a = params["retrieval"]["masks"]["augment"]
        return cls(int(params["retrieval"]["obb_box"]), float(a["translate"]), float(a["rotate"]), float(a["scale"]))

    def draw(self, rng: np.random.Generator, n: int) -> list[Transform]:
        """``n`` independent random transforms (whole pixels; rotation to 0.1 degree), drawn from ``rng``."""
        u = rng.uniform(-1.0, 1.0, size=(n, 4))
        out = []
        for ds, dx, dy, dr in u:
            box = int(np.clip(round(self.box + ds * self.scale * self.size), 8, self.size))
            tx, ty = (int(round(v * self.translate * self.size)) for v in (dx, dy))
            out.append(Transform(box, tx, ty, round(float(dr * self.rotate), 1)))
        return out


@dataclass(frozen=True)
class Batch:
    """One training batch: B distinct shapes, two distinct views each, and one transform per image
    (``transforms[:B]`` for the first views, ``transforms[B:]`` for the second)."""

    shapes: np.ndarray
    v1: np.ndarray
    v2: np.ndarray
    transforms: tuple[Transform, ...] | None


def draw_batch(rng: np.random.Generator, n_shapes: int, n_views: int, batch_size: int,
               augment: Augment | None) -> Batch:
    """B distinct shapes, two distinct views each, and a fresh transform per image (none without ``augment``)."""
    shapes = rng.choice(n_shapes, size=batch_size, replace=False)
    v1 = rng.integers(0, n_views, size=batch_size)
    v2 = (v1 + rng.integers(1, n_views, size=batch_size)) % n_views  # a different view of the same shape
    transforms = tuple(augment.draw(rng, 2 * batch_size)) if augment is not None else None
    return Batch(shapes, v1, v2, transforms)
