"""The thesis's own numbers, shipped with the package as data (copied from the thesis text)."""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from sketch3d.names import table_stem

if TYPE_CHECKING:  # pandas is imported where a table is read: the workflow's rules import table_file on load
    import pandas as pd


def table_file(table: str) -> Path:
    """The package file of thesis table ``table`` ("4.8"): a rule lists it as an input, so that editing it
    reruns exactly that table."""
    name = f"{table_stem(table)}.csv"
    ref = Path(str(resources.files("sketch3d").joinpath("reference", name)))
    if not ref.is_file():
        raise FileNotFoundError(f"no thesis table {table} in the package (looked for reference/{name})")
    return ref


def thesis_table(table: str, path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Long-format thesis table, e.g. ``thesis_table("4.8")``: method, category, metric, value, ...

    ``path``: read that file instead of the package's copy (a rule passes the file it lists as input).
    """
    import pandas as pd

    ref = Path(path) if path is not None else table_file(table)
    if not ref.is_file():
        raise FileNotFoundError(f"thesis table {table}: {ref} does not exist")
    df = pd.read_csv(ref, dtype={"table": str})
    if not df.empty and set(df["table"]) != {table}:
        raise ValueError(f"{ref} holds table(s) {sorted(set(df['table']))}, not table {table}")
    return df


def thesis_value(df: pd.DataFrame, method: str, category: str, metric: str) -> float | None:
    """The thesis's value of one cell, or None where it prints none."""
    import pandas as pd

    rows = df[(df["method"] == method) & (df["category"] == category) & (df["metric"] == metric)]
    if rows.empty or pd.isna(rows["value"].iloc[0]):
        return None
    return float(rows["value"].iloc[0])


def thesis_spread(df: pd.DataFrame, method: str, category: str, metric: str) -> float | None:
    """The +- the thesis prints beside a value (a std over settings), or None."""
    import pandas as pd

    if "spread" not in df.columns:
        return None
    rows = df[(df["method"] == method) & (df["category"] == category) & (df["metric"] == metric)]
    if rows.empty or pd.isna(rows["spread"].iloc[0]):
        return None
    return float(rows["spread"].iloc[0])
