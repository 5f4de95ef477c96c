"""The thesis's own numbers, shipped with the package as data (copied from the thesis text)."""
from __future__ import annotations

from importlib import resources

import pandas as pd


def thesis_table(table: str) -> pd.DataFrame:
    """Long-format thesis table, e.g. ``thesis_table("4.8")``: method, category, metric, value, ..."""
    name = f"table_{table.replace('.', '_')}.csv"
    ref = resources.files("sketch3d").joinpath("reference", name)
    if not ref.is_file():
        raise FileNotFoundError(f"no thesis table {table} in the package (looked for reference/{name})")
    with ref.open() as fh:
        return pd.read_csv(fh, dtype={"table": str})


def thesis_value(df: pd.DataFrame, method: str, category: str, metric: str) -> float | None:
    rows = df[(df["method"] == method) & (df["category"] == category) & (df["metric"] == metric)]
    if rows.empty or pd.isna(rows["value"].iloc[0]):
        return None
    return float(rows["value"].iloc[0])
