"""Stage 'table_4_8' (and the chapter's later tables): retrieval metrics beside the thesis's numbers."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from sketch3d.report.comparison import Result, compare_with_thesis, write_comparison
from sketch3d.retrieval.methods import get_method, get_table

# the thesis's tables this module compares with (see sketch3d.codeversion)
PACKAGE_DATA = ("reference/table_4_8.csv",)


def _results(metric_files: list[Path]) -> list[Result]:
    out = []
    for path in metric_files:
        m = json.loads(Path(path).read_text())
        method = get_method(m["method"])
        out.append(Result(
            label=method.label,
            thesis_row=method.thesis_row,
            group=m["category"],
            profile=m["profile"],
            metrics={k: v for k, v in m.items() if k.startswith("acc@")},
            context={"n_queries": m["n_queries"], "n_shapes": m["n_shapes"], "chance@1": m["chance@1"]},
        ))
    return out


def _sizes(df: pd.DataFrame) -> list[str]:
    return ["Queries / gallery shapes per category: " + ", ".join(
        f"{c}: {int(g['n_queries'].iloc[0])} / {int(g['n_shapes'].iloc[0])} (chance acc@1 {g['chance@1'].iloc[0]:.2f})"
        for c, g in df.groupby("category", sort=False))]


def retrieval_table(number: str, metric_files: list[Path], out_csv: Path, out_md: Path,
                    out_json: Path | None = None) -> pd.DataFrame:
    """Thesis table ``number`` from per-(method, category) metric files, ours beside the thesis's."""
    table = get_table(number)
    results = _results(metric_files)
    unknown = sorted({r.label for r in results} - {get_method(m).label for m in table.methods})
    if unknown:
        raise ValueError(f"table {number}: metric files of methods it does not show: {unknown}")
    df = compare_with_thesis(results, number)
    write_comparison(df, table.title, out_csv, out_md, out_json, context=_sizes(df))
    return df


def table_4_8(metric_files: list[Path], out_csv: Path, out_md: Path, out_json: Path | None = None) -> pd.DataFrame:
    """Table 4.8, rows Baseline and OBB (and the pixel matcher as a scale reference)."""
    return retrieval_table("4.8", metric_files, out_csv, out_md, out_json)
