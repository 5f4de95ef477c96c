"""Stage 'retrieval_table': the chapter's method x category tables (4.8, B.2), ours beside the thesis's.

Which rows a table has, and which thesis row each is compared with, is
``retrieval.methods.TABLES`` / ``Method.thesis_rows``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from sketch3d.report.comparison import Result, compare_with_thesis, write_comparison
from sketch3d.retrieval.methods import get_method, get_table


def _results(metric_files: list[Path], number: str) -> list[Result]:
    out = []
    for path in metric_files:
        m = json.loads(Path(path).read_text())
        method = get_method(m["method"])
        out.append(Result(
            label=method.label,
            thesis_row=method.thesis_row(number),
            group=m["category"],
            profile=m["profile"],
            metrics={k: v for k, v in m.items() if k.startswith("acc@")},
            context={"n_queries": m["n_queries"], "n_shapes": m["n_shapes"], "chance@1": m["chance@1"],
                     "split_source": m.get("split_source", "unknown")},
        ))
    return out


def _sizes(df: pd.DataFrame) -> list[str]:
    groups = list(df.groupby("category", sort=False))
    return [
        "Queries / gallery shapes per category: " + ", ".join(
            f"{c}: {int(g['n_queries'].iloc[0])} / {int(g['n_shapes'].iloc[0])} (chance acc@1 {g['chance@1'].iloc[0]:.2f})"
            for c, g in groups),
        "Split: " + ", ".join(f"{c}: {'; '.join(sorted(set(g['split_source'])))}" for c, g in groups),
    ]


def retrieval_table(number: str, metric_files: list[Path], out_csv: Path, out_md: Path,
                    out_json: Path | None = None, thesis: str | os.PathLike | None = None) -> pd.DataFrame:
    """Thesis table ``number`` from per-(method, category) metric files, ours beside the thesis's
    (``thesis``: the thesis table's file; default the package's copy)."""
    table = get_table(number)
    results = _results(metric_files, table.number)
    unknown = sorted({r.label for r in results} - {get_method(m).label for m in table.methods})
    if unknown:
        raise ValueError(f"table {table.number}: metric files of methods it does not show: {unknown}")
    df = compare_with_thesis(results, table.number, thesis)
    write_comparison(df, table.title, out_csv, out_md, out_json, context=_sizes(df))
    return df
