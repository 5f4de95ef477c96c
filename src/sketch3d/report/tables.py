"""Tables of our results beside the thesis's: CSV (long) and Markdown (wide)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from sketch3d import DEMO_NOTICE
from sketch3d.atomic import atomic_path, write_text
from sketch3d.report.reference import thesis_table, thesis_value
from sketch3d.retrieval.methods import get_method

TABLE_4_8_TITLE = (
    "Table 4.8 (rows Baseline, OBB): instance-level sketch-based 3D shape retrieval on the test set"
)


def compare_with_thesis(metric_files: list[Path], table: str) -> pd.DataFrame:
    """One row per (method, category, metric): thesis value, ours, ours - thesis."""
    ref = thesis_table(table)
    rows = []
    for path in metric_files:
        m = json.loads(Path(path).read_text())
        method = get_method(m["method"])
        for metric in sorted(k for k in m if k.startswith("acc@")):
            thesis = thesis_value(ref, method.thesis_row, m["category"], metric) if method.thesis_row else None
            ours = float(m[metric])
            rows.append(
                {
                    "table": table,
                    "method": method.label,
                    "category": m["category"],
                    "metric": metric,
                    "thesis": thesis,
                    "ours": round(ours, 2),
                    "difference": None if thesis is None else round(ours - thesis, 2),
                    "n_queries": m["n_queries"],
                    "n_shapes": m["n_shapes"],
                    "chance@1": m["chance@1"],
                    "profile": m["profile"],
                    "note": DEMO_NOTICE if m["profile"] == "demo" else "",
                }
            )
    if not rows:
        raise ValueError("no metrics given: nothing to tabulate")
    return pd.DataFrame(rows)


def to_markdown(df: pd.DataFrame, title: str) -> str:
    """Wide Markdown: one row per method, columns 'category acc@k: ours (thesis, diff)'."""
    def cell(r: pd.Series) -> str:
        if pd.isna(r["thesis"]):
            return f"{r['ours']:.2f} (thesis: none)"
        return f"{r['ours']:.2f} ({r['thesis']:.2f}, {r['difference']:+.2f})"

    wide = df.assign(cell=df.apply(cell, axis=1), column=df["category"] + " " + df["metric"])
    order = list(dict.fromkeys(df["method"]))
    pivot = wide.pivot(index="method", columns="column", values="cell").reindex(order)
    lines = [f"# {title}", ""]
    profile = df["profile"].iloc[0]
    if profile == "demo":
        lines += [f"> **{DEMO_NOTICE}**", ""]
    lines += [
        f"Profile: `{profile}`. Cells: ours (thesis, ours - thesis), in percent.",
        "Queries / gallery shapes per category: "
        + ", ".join(
            f"{c}: {int(g['n_queries'].iloc[0])} / {int(g['n_shapes'].iloc[0])} (chance acc@1 {g['chance@1'].iloc[0]:.2f})"
            for c, g in df.groupby("category", sort=False)
        ),
        "",
        pivot.reset_index().to_markdown(index=False),
        "",
    ]
    return "\n".join(lines)


def to_metrics(df: pd.DataFrame) -> dict:
    """Our numbers nested as method -> category -> metric, for `dvc metrics show/diff`."""
    out: dict = {}
    for r in df.itertuples():
        out.setdefault(r.method, {}).setdefault(r.category, {})[r.metric] = r.ours
    if df["profile"].iloc[0] == "demo":
        out["notice"] = DEMO_NOTICE
    return out


def write_comparison(
    metric_files: list[Path], table: str, title: str, out_csv: Path, out_md: Path, out_json: Path | None = None
) -> pd.DataFrame:
    df = compare_with_thesis(metric_files, table)
    with atomic_path(out_csv) as tmp:
        df.to_csv(tmp, index=False)
    write_text(out_md, to_markdown(df, title))
    if out_json is not None:
        write_text(out_json, json.dumps(to_metrics(df), indent=2) + "\n")
    return df
