"""The inversion examples (thesis 4.3.3.1-4.3.3.2): {freehand sketch, SDF} pairs of fixed random chairs.

"We fix 10 random examples from the chair category [...] in pairs of {freehand sketch, SDF}. We select
the 0° azimuth sketches (front view)". ``select_examples`` draws ``examples`` shapes of ``category`` in
``split`` that have a sketch at every azimuth of ``views``, seeded, from the sorted shape ids: the paper
profile's AmateurSketch chairs, the demo's procedural test chairs (the demo has 15; 10 are drawn).

``write_targets`` writes a self-contained folder: ``examples.csv`` (the chosen rows of shapes.csv, with
``example``, their index 0..n-1, first; so the SDF stage can read it as a shapes table) and
``sketches/`` (an image set: copies of the examples' sketch rasters at the ``views`` azimuths, as the
data stage rasterised them). ``examples.csv`` holds every shapes.csv column, so ``sdf_targets --shapes
examples.csv`` computes the grids of just these shapes (the paper's 10 of AmateurSketch's chairs). ``load_target`` joins one example with its SDF grid (``sdf_targets``'s npz)
into an ``inversion.Target``.

Settings (``reconstruction.targets``): ``examples`` (10), ``category`` ("chair"), ``split`` ("test"),
``azimuth`` (0, the sketch view; ``reconstruction.inversion.views`` adds more for the multi-view
extension); ``seed`` (top level) seeds the draw.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from sketch3d.atomic import atomic_dir
from sketch3d.imageset import read_index, write_index

EXAMPLES = "examples.csv"
SKETCHES = "sketches"
TARGET_DEFAULTS = {"examples": 10, "category": "chair", "split": "test", "azimuth": 0}


class TargetError(ValueError):
    """Examples that cannot be chosen or read."""


def target_settings(settings: Mapping) -> dict:
    t = {**TARGET_DEFAULTS, **dict((settings.get("reconstruction") or {}).get("targets") or {})}
    if not isinstance(t["examples"], int) or t["examples"] < 1:
        raise TargetError(f"reconstruction.targets.examples={t['examples']!r} must be a whole number >= 1")
    return t


def views_of(settings: Mapping) -> list[float]:
    """The sketch azimuths an example needs: ``targets.azimuth`` and ``inversion.views``."""
    t = target_settings(settings)
    views = ((settings.get("reconstruction") or {}).get("inversion") or {}).get("views") or [t["azimuth"]]
    return sorted({float(t["azimuth"]), *map(float, views)})


def select_examples(shapes: pd.DataFrame, sketch_index: pd.DataFrame, n: int, seed: int,
                    category: str = "chair", split: str = "test", views: Iterable[float] = (0,)) -> pd.DataFrame:
    """``n`` shapes (rows of ``shapes``) of ``category`` / ``split`` with a sketch at every azimuth of
    ``views`` in ``sketch_index`` (an image-set index: image_id, shape_id, azimuth, path), drawn with
    ``numpy.random.default_rng(seed)`` from the sorted candidate ids and kept in drawn order; column
    ``example`` (0..n-1) first."""
    views = [float(v) for v in views]
    rows = shapes[(shapes["category"] == category) & (shapes["split"] == split)]
    have = sketch_index.assign(azimuth=sketch_index["azimuth"].astype(float))
    ok = set.intersection(*(set(have.loc[have["azimuth"] == v, "shape_id"].astype(str)) for v in views))
    candidates = sorted(set(rows["shape_id"].astype(str)) & ok)
    if len(candidates) < n:
        raise TargetError(f"only {len(candidates)} {category} shape(s) of split {split!r} have sketches at azimuths "
                          f"{views}; reconstruction.targets.examples asks for {n} (lower it, or check the data)")
    rng = np.random.default_rng(seed)
    chosen = [candidates[i] for i in rng.choice(len(candidates), size=n, replace=False)]
    out = rows.set_index(rows["shape_id"].astype(str)).loc[chosen].reset_index(drop=True)
    out.insert(0, "example", np.arange(n))
    return out


def write_targets(shapes_csv: Path, sketches_dir: Path, settings: Mapping, out_dir: Path) -> pd.DataFrame:
    """Choose the examples (``select_examples``) and write ``out_dir`` (see the module doc)."""
    from sketch3d.data.manifest import read_shapes

    t = target_settings(settings)
    views = views_of(settings)
    shapes = read_shapes(shapes_csv)
    index = read_index(sketches_dir)
    examples = select_examples(shapes, index, t["examples"], int(settings.get("seed", 0)), t["category"],
                               t["split"], views)
    index = index.assign(azimuth=index["azimuth"].astype(float))
    keep = index[index["shape_id"].astype(str).isin(set(examples["shape_id"].astype(str)))
                 & index["azimuth"].isin(views)].sort_values(["shape_id", "azimuth", "image_id"])
    with atomic_dir(out_dir) as tmp:
        (tmp / SKETCHES).mkdir()
        rows = []
        for rec in keep.itertuples(index=False):
            dest = tmp / SKETCHES / f"{rec.image_id}.png"
            shutil.copyfile(rec.path, dest)
            rows.append({"image_id": rec.image_id, "shape_id": rec.shape_id, "azimuth": rec.azimuth,
                         "path": str(dest)})
        write_index(tmp / SKETCHES, pd.DataFrame(rows))
        examples.to_csv(tmp / EXAMPLES, index=False)
    return examples


def read_examples(targets_dir: str | os.PathLike) -> pd.DataFrame:
    path = Path(targets_dir) / EXAMPLES
    if not path.is_file():
        raise TargetError(f"{path} does not exist: run reconstruction_targets first")
    df = pd.read_csv(path, dtype={"shape_id": str})
    for col in ("example", "shape_id"):
        if col not in df.columns:
            raise TargetError(f"{path} lacks the column {col!r}; rebuild it with reconstruction_targets")
    return df


def read_sdf_grids(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """shape_id -> SDF grid [R, R, R] (cube units) from ``sdf_targets``'s npz (``sdf_targets.read_sdf_targets``)."""
    from sketch3d.reconstruction.sdf_targets import read_sdf_targets

    data = read_sdf_targets(Path(path))
    return {str(i): g for i, g in zip(data["ids"], data["sdf"])}


def load_target(targets_dir: str | os.PathLike, example: int, sdf_grids: Mapping[str, np.ndarray] | None = None):
    """``inversion.Target`` of ``example`` (its index): the sketches of ``targets_dir`` and, with
    ``sdf_grids`` (``read_sdf_grids``), its SDF grid."""
    from PIL import Image

    from sketch3d.reconstruction.inversion import Target

    examples = read_examples(targets_dir)
    row = examples[examples["example"] == int(example)]
    if row.empty:
        raise TargetError(f"example {example} is not in {Path(targets_dir) / EXAMPLES} "
                          f"(examples: {examples['example'].tolist()})")
    shape_id = str(row["shape_id"].iloc[0])
    index = read_index(Path(targets_dir) / SKETCHES)
    sketches = {}
    for rec in index[index["shape_id"].astype(str) == shape_id].itertuples(index=False):
        with Image.open(rec.path) as im:
            sketches[float(rec.azimuth)] = np.asarray(im.convert("L"))
    sdf = None
    if sdf_grids is not None:
        if shape_id not in sdf_grids:
            raise TargetError(f"example {example} (shape {shape_id}) has no SDF grid in the SDF targets; "
                              "rebuild them from this examples.csv")
        sdf = np.asarray(sdf_grids[shape_id], dtype=np.float32)
    return Target(example=f"{int(example):02d}", shape_id=shape_id, sdf=sdf, sketches=sketches)
