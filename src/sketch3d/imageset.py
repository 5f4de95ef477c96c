"""A folder of PNG images with an ``index.csv``: how renders and sketch rasters are stored.

Paths inside the index are relative to the folder, so a folder can be built in a
temporary place and renamed, copied or shared without breaking.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

INDEX = "index.csv"
COLUMNS = ["image_id", "shape_id", "azimuth", "path"]


class ImageSetError(ValueError):
    pass


def write_index(folder: Path, index: pd.DataFrame) -> None:
    """Write ``index`` (paths absolute or relative to the cwd) with paths relative to ``folder``."""
    folder = Path(folder)
    out = index[COLUMNS].copy()
    out["path"] = [os.path.relpath(Path(p).resolve(), folder.resolve()) for p in index["path"]]
    out.to_csv(folder / INDEX, index=False)


def read_index(folder: str | os.PathLike) -> pd.DataFrame:
    """Index of an image folder with absolute paths; errors name the folder and the missing piece."""
    folder = Path(folder)
    path = folder / INDEX
    if not path.exists():
        raise ImageSetError(f"{folder} is not an image set: {INDEX} missing (re-run the rule that makes it)")
    df = pd.read_csv(path, dtype={"image_id": str, "shape_id": str})
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ImageSetError(f"{path} lacks columns {missing}")
    df["path"] = [str((folder / p).resolve()) for p in df["path"]]
    absent = [p for p in df["path"] if not Path(p).exists()]
    if absent:
        raise ImageSetError(f"{path}: {len(absent)} listed image(s) missing, e.g. {absent[:3]}")
    return df


def by_shape(index: pd.DataFrame, what: str) -> tuple[pd.DataFrame, list[str], int]:
    """Rows of a rendered gallery's index ordered by shape (sorted ids: the tie rule's order), then view
    (azimuth), with the shapes and their number of views; every shape must have the same views. ``what``
    names the gallery in the error."""
    counts = index.groupby("shape_id").size()
    if counts.nunique() != 1:
        raise ImageSetError(f"{what}: shapes have different numbers of views {sorted(set(counts))}; "
                            "re-render the gallery")
    ordered = index.sort_values(["shape_id", "azimuth"], kind="stable")
    return ordered, sorted(counts.index.astype(str)), int(counts.iloc[0])
