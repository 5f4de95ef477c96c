"""The chapter's data form: a folder of {partial image, scene image} pairs, and a folder of depth maps.

A *triplet set* (``<folder>/index.csv`` + PNGs) holds, per example, the partial image i_p (foreground
objects pasted onto the background sketch) and the scene image i_real, both RGB, square, same side:
``index.csv`` columns ``triplet_id, kind, partial, image`` with ``kind`` ``fb`` (foreground and
background) or ``bo`` (background only; thesis 3.4.3's FID split), paths relative to the folder.

A triplet set of a data split may also name, in ``<folder>/scenes.csv`` (columns ``triplet_id, scene``), the
original scene image each scene image was cropped and resized from (a relative path is relative to the folder):
the depth labels are computed from those (thesis 3.4.2; ``labeller.label_depth``).

A *depth set* (``<folder>/index.csv`` + PNGs) holds one 8-bit single-channel map per triplet id:
columns ``triplet_id, depth``. Depth maps are relative inverse depth as MiDaS gives it, scaled per
image to 0..255: 255 is the nearest point. A depth set is made apart from its triplet set (the
labelling rule, or a generator) and joined by id when read.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from sketch3d.atomic import atomic_dir

INDEX = "index.csv"
TRIPLET_COLUMNS = ["triplet_id", "kind", "partial", "image"]
DEPTH_COLUMNS = ["triplet_id", "depth"]
KINDS = ("fb", "bo")
SCENE_SOURCES = "scenes.csv"  # a data split's original scene images: triplet_id, scene


class TripletError(ValueError):
    """A triplet or depth folder that cannot be read as one."""


@dataclass(frozen=True)
class Triplets:
    """In memory: ids [N], kinds [N], partial and image uint8 [N, S, S, 3], depth uint8 [N, S, S] or None."""

    ids: list[str]
    kinds: list[str]
    partial: np.ndarray
    image: np.ndarray
    depth: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)


def _check_rgb(name: str, a: np.ndarray, n: int) -> None:
    if a.dtype != np.uint8 or a.ndim != 4 or a.shape[0] != n or a.shape[3] != 3 or a.shape[1] != a.shape[2]:
        raise TripletError(f"{name}: expected uint8 [{n}, S, S, 3], got {a.dtype} {list(a.shape)}")


def write_triplets(folder: str | os.PathLike, ids: list[str], kinds: list[str], partial: np.ndarray,
                   image: np.ndarray) -> None:
    """Write a triplet set (atomically: the folder appears complete or not at all)."""
    n = len(ids)
    if len(set(ids)) != n:
        raise TripletError("write_triplets: triplet ids must be unique")
    bad = sorted(set(kinds) - set(KINDS))
    if len(kinds) != n or bad:
        raise TripletError(f"write_triplets: one kind per id, each in {KINDS}; got {bad or len(kinds)}")
    _check_rgb("partial", partial, n)
    _check_rgb("image", image, n)
    with atomic_dir(folder) as tmp:
        (tmp / "partial").mkdir()
        (tmp / "image").mkdir()
        rows = []
        for i, tid in enumerate(ids):
            Image.fromarray(partial[i]).save(tmp / "partial" / f"{tid}.png")
            Image.fromarray(image[i]).save(tmp / "image" / f"{tid}.png")
            rows.append((tid, kinds[i], f"partial/{tid}.png", f"image/{tid}.png"))
        pd.DataFrame(rows, columns=TRIPLET_COLUMNS).to_csv(tmp / INDEX, index=False)


def write_scene_sources(folder: str | os.PathLike, ids: list[str], scenes: list[str]) -> None:
    """``folder/scenes.csv``: per triplet id, the original scene image its depth label is computed from (a relative
    path is relative to ``folder``). Written into a triplet set that is being made (inside its atomic folder)."""
    pd.DataFrame({"triplet_id": ids, "scene": scenes}).to_csv(Path(folder) / SCENE_SOURCES, index=False)


def write_depths(folder: str | os.PathLike, ids: list[str], depth: np.ndarray) -> None:
    """Write a depth set: ``depth`` uint8 [N, S, S], one map per id."""
    if depth.dtype != np.uint8 or depth.ndim != 3 or depth.shape[0] != len(ids):
        raise TripletError(f"write_depths: expected uint8 [{len(ids)}, S, S], got {depth.dtype} {list(depth.shape)}")
    with atomic_dir(folder) as tmp:
        rows = []
        for i, tid in enumerate(ids):
            Image.fromarray(depth[i]).save(tmp / f"{tid}.png")
            rows.append((tid, f"{tid}.png"))
        pd.DataFrame(rows, columns=DEPTH_COLUMNS).to_csv(tmp / INDEX, index=False)


def _index(folder: Path, columns: list[str]) -> pd.DataFrame:
    path = folder / INDEX
    if not path.is_file():
        raise TripletError(f"{folder} is not a triplet or depth set: {INDEX} missing "
                           "(re-run the rule that makes it)")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise TripletError(f"{path} lacks columns {missing}")
    return df


def _read_png(path: Path, mode: str) -> np.ndarray:
    if not path.is_file():
        raise TripletError(f"{path} is listed in its folder's {INDEX} but missing (re-run the rule that makes it)")
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert(mode))
    except OSError as e:
        raise TripletError(f"{path} is not a readable PNG ({e}); re-run the rule that makes it") from e


def read_depths(folder: str | os.PathLike, ids: list[str] | None = None) -> tuple[list[str], np.ndarray]:
    """ids and uint8 [N, S, S] of a depth set, in ``ids``' order when given (each must be present)."""
    folder = Path(folder)
    df = _index(folder, DEPTH_COLUMNS)
    where = dict(zip(df["triplet_id"], df["depth"]))
    if ids is None:
        ids = list(df["triplet_id"])
    absent = [t for t in ids if t not in where]
    if absent:
        raise TripletError(f"{folder}: no depth map for {len(absent)} triplet(s), e.g. {absent[:3]}; "
                           "label the same split the triplets come from")
    maps = [_read_png(folder / where[t], "L") for t in ids]
    return list(ids), np.stack(maps) if maps else np.zeros((0, 0, 0), np.uint8)


def read_triplets(folder: str | os.PathLike, depth: str | os.PathLike | None = None) -> Triplets:
    """A triplet set, with the depth maps of ``depth`` (a depth set) joined by id when given."""
    folder = Path(folder)
    df = _index(folder, TRIPLET_COLUMNS)
    bad = sorted(set(df["kind"]) - set(KINDS))
    if bad:
        raise TripletError(f"{folder / INDEX}: unknown kind(s) {bad}; expected {KINDS}")
    ids = list(df["triplet_id"])
    partial = np.stack([_read_png(folder / p, "RGB") for p in df["partial"]]) if ids else np.zeros((0, 0, 0, 3), np.uint8)
    image = np.stack([_read_png(folder / p, "RGB") for p in df["image"]]) if ids else np.zeros((0, 0, 0, 3), np.uint8)
    if partial.shape != image.shape:
        raise TripletError(f"{folder}: partial images {list(partial.shape[1:])} and scene images "
                           f"{list(image.shape[1:])} differ in size")
    maps = None
    if depth is not None:
        _, maps = read_depths(depth, ids)
        if maps.shape[1:] != partial.shape[1:3]:
            raise TripletError(f"{depth}: depth maps are {list(maps.shape[1:])}, the triplets of {folder} "
                               f"{list(partial.shape[1:3])}; label them at the triplets' size")
    return Triplets(ids, list(df["kind"]), partial, image, maps)
