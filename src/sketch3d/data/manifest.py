"""The two tables every data source is read into: shapes and sketches.

Both profiles (procedural demo shapes, or ShapeNet + AmateurSketch) produce the
same two CSV files, so everything downstream runs one code path.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from sketch3d.atomic import atomic_path
from sketch3d.names import SPLITS

SHAPE_COLUMNS = ["shape_id", "category", "split", "mesh_path", "up_axis", "source"]
SKETCH_COLUMNS = ["sketch_id", "shape_id", "category", "split", "azimuth", "path", "source"]


class ManifestError(ValueError):
    pass


def _check(df: pd.DataFrame, columns: list[str], what: str, path: str | os.PathLike) -> pd.DataFrame:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ManifestError(f"{what} manifest {path} lacks columns {missing}; expected {columns}")
    bad = sorted(set(df["split"]) - set(SPLITS))
    if bad:
        raise ManifestError(f"{what} manifest {path}: unknown split(s) {bad}; allowed {list(SPLITS)}")
    key = columns[0]
    dup = df[key][df[key].duplicated()].tolist()
    if dup:
        raise ManifestError(f"{what} manifest {path}: duplicate {key} {dup[:5]}")
    return df[columns + [c for c in df.columns if c not in columns]]


def read_shapes(path: str | os.PathLike) -> pd.DataFrame:
    df = pd.read_csv(path, dtype={"shape_id": str})
    return _check(df, SHAPE_COLUMNS, "shapes", path)


def read_sketches(path: str | os.PathLike) -> pd.DataFrame:
    df = pd.read_csv(path, dtype={"sketch_id": str, "shape_id": str})
    return _check(df, SKETCH_COLUMNS, "sketches", path)


def write_manifest(df: pd.DataFrame, path: str | os.PathLike, kind: str) -> None:
    columns = SHAPE_COLUMNS if kind == "shapes" else SKETCH_COLUMNS
    df = _check(df, columns, kind, path)
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def select(df: pd.DataFrame, category: str, split: str) -> pd.DataFrame:
    out = df[(df["category"] == category) & (df["split"] == split)]
    return out.sort_values(out.columns[0]).reset_index(drop=True)


def resolve(path: str, base: str | os.PathLike = ".") -> Path:
    p = Path(path)
    return p if p.is_absolute() else Path(base) / p
