"""Our numbers beside the thesis's, for any chapter's table: CSV (long), Markdown (wide), DVC metrics JSON.

A chapter turns its results into :class:`Result` records (one per table row and
column group, e.g. method x category) and calls :func:`write_comparison`; the
thesis's values come from the package's reference tables (``report.reference``).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sketch3d import DEMO_NOTICE, REHEARSAL_NOTICE
from sketch3d.atomic import atomic_path, write_text
from sketch3d.report.reference import thesis_spread, thesis_table, thesis_value


@dataclass(frozen=True)
class Result:
    """Our numbers for one row label and one column group (e.g. a category)."""

    label: str                  # our row label
    thesis_row: str | None      # the row of the thesis's table compared with, None where it has none
    group: str                  # column group, e.g. "chair"
    profile: str
    metrics: dict[str, float]   # e.g. {"acc@1": 55.0, "acc@5": 90.8}
    context: dict = field(default_factory=dict)  # extra columns (sizes, provenance), passed through
    spread: dict[str, float] = field(default_factory=dict)  # +- beside a metric (std over settings), if any


def compare_with_thesis(results: list[Result], table: str,
                        reference: str | os.PathLike | pd.DataFrame | None = None, digits: int = 2) -> pd.DataFrame:
    """One row per (label, group, metric): thesis value, ours, ours - thesis, and the context columns.

    ``reference``: the thesis table's file (default: the package's ``reference/table_<n>.csv``), or the
    thesis's numbers already in that long form (values the thesis prints in its text rather than a table).
    ``digits``: decimals kept of ours and of the difference (the thesis prints 2; SSIM needs 4).
    """
    ref = reference if isinstance(reference, pd.DataFrame) else thesis_table(table, reference)
    rows = []
    for r in results:
        for metric in sorted(r.metrics):
            thesis = thesis_value(ref, r.thesis_row, r.group, metric) if r.thesis_row else None
            ours = float(r.metrics[metric])
            spreads = {}
            if r.spread or (r.thesis_row and thesis_spread(ref, r.thesis_row, r.group, metric) is not None):
                t_spread = thesis_spread(ref, r.thesis_row, r.group, metric) if r.thesis_row else None
                o_spread = r.spread.get(metric)
                spreads = {"thesis_spread": t_spread, "ours_spread": None if o_spread is None else round(o_spread, 2)}
            rows.append({
                "table": table,
                "method": r.label,
                "category": r.group,
                "metric": metric,
                "thesis": thesis,
                "ours": round(ours, digits),
                "difference": None if thesis is None else round(ours - thesis, digits),
                **spreads,
                **r.context,
                "profile": r.profile,
                "note": DEMO_NOTICE if r.profile == "demo" else "",
            })
    if not rows:
        raise ValueError("no results given: nothing to tabulate")
    profiles = {r["profile"] for r in rows}
    if len(profiles) > 1:
        raise ValueError(f"results of several profiles {sorted(profiles)} in one table; tabulate each profile apart")
    return pd.DataFrame(rows)


DECIMALS = {"SSIM": 4}  # decimals a metric is printed with (the thesis's own); 2 for the others


def notice(profile: str, rehearsal: bool = False) -> str:
    """The warning a table of ``profile`` carries: the demo's, the rehearsal's, or none (the paper profile's)."""
    return REHEARSAL_NOTICE if rehearsal else DEMO_NOTICE if profile == "demo" else ""


def to_markdown(df: pd.DataFrame, title: str, context: list[str] = (), unit: str = "in percent",
                rehearsal: bool = False, appendix: list[str] = ()) -> str:
    """Wide Markdown: one row per method, columns 'group metric: ours (thesis, diff)'; ``context``: lines under the
    title; ``appendix``: lines after the table (e.g. a table of numbers the thesis has none of)."""
    def pm(value: float, spread, d: int) -> str:
        return f"{value:.{d}f}" if spread is None or pd.isna(spread) else f"{value:.{d}f} ± {spread:.{d}f}"

    def cell(r: pd.Series) -> str:
        d = DECIMALS.get(r["metric"], 2)
        ours = pm(r["ours"], r.get("ours_spread"), d)
        if pd.isna(r["thesis"]):
            return f"{ours} (thesis: none)"
        return f"{ours} ({pm(r['thesis'], r.get('thesis_spread'), d)}, {r['difference']:+.{d}f})"

    wide = df.assign(cell=df.apply(cell, axis=1), column=df["category"] + " " + df["metric"])
    order = list(dict.fromkeys(df["method"]))
    columns = list(dict.fromkeys(wide["column"]))  # as the results list them
    pivot = wide.pivot(index="method", columns="column", values="cell").reindex(index=order, columns=columns)
    lines = [f"# {title}", ""]
    profile = df["profile"].iloc[0]
    if warning := notice(profile, rehearsal):
        lines += [f"> **{warning}**", ""]
    lines += [f"Profile: `{profile}`. Cells: ours (thesis, ours - thesis), {unit}.", *context, "",
              pivot.reset_index().to_markdown(index=False), ""]
    if appendix:
        lines += [*appendix, ""]
    return "\n".join(lines)


def to_metrics(df: pd.DataFrame, rehearsal: bool = False) -> dict:
    """Our numbers nested as method -> category -> metric, for `dvc metrics show/diff`."""
    out: dict = {}
    for r in df.itertuples():
        out.setdefault(r.method, {}).setdefault(r.category, {})[r.metric] = r.ours
    if warning := notice(df["profile"].iloc[0], rehearsal):
        out["notice"] = warning
    return out


def write_comparison(
    df: pd.DataFrame, title: str, out_csv: Path, out_md: Path, out_json: Path | None = None, context: list[str] = (),
    unit: str = "in percent", rehearsal: bool = False, appendix: list[str] = (), extra_metrics: dict | None = None,
) -> None:
    """Write the comparison ``df`` as CSV, Markdown and (optionally) the DVC metrics JSON, each atomically
    (``rehearsal``: the paper rehearsal's table, which says its numbers mean nothing, in every file).
    ``appendix``: Markdown lines after the table; ``extra_metrics``: method -> group -> {name: number} added to
    the JSON beside the compared metrics."""
    if rehearsal:
        df = df.assign(note=REHEARSAL_NOTICE)
    with atomic_path(out_csv) as tmp:
        df.to_csv(tmp, index=False)
    write_text(out_md, to_markdown(df, title, context, unit, rehearsal, appendix))
    if out_json is not None:
        metrics = to_metrics(df, rehearsal)
        for method, groups in (extra_metrics or {}).items():
            for group, values in groups.items():
                metrics.setdefault(method, {}).setdefault(group, {}).update(values)
        write_text(out_json, json.dumps(metrics, indent=2) + "\n")
