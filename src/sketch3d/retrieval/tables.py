"""Stages 'retrieval_table' (the chapter's method x category tables: 4.8, B.2, ...) and 'grid_table' (Tables 4.1
and 4.2 from their searches), ours beside the thesis's.

Which rows a table has, and which thesis row each is compared with (by name), is ``retrieval.methods``:
``TABLES`` / ``Method.thesis_rows``, and ``retrieval.grid_tables``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from sketch3d.report.comparison import Result, compare_with_thesis, write_comparison
from sketch3d.retrieval.grid_tables import GRID_TABLES, get_grid_table
from sketch3d.retrieval.methods import TABLES, get_method, get_table

# this chapter's tables (found by sketch3d.table_stages), named in retrieval.methods and retrieval.grid_tables,
# and the params.yaml sections their jobs read (their DVC stages' params)
TABLE_IDS = (*TABLES, *GRID_TABLES)
TABLE_PARAMS = ("seed", "data", "render", "features", "retrieval")


# a row under another choice than the main one (``retrieval.choice``) is labelled with where its box came from
CHOICE_LABELS = {"search": "box and transforms of this run's searches", "thesis": "the thesis's box and transforms"}


def row_label(method, metrics: dict) -> str:
    """A row's label: the method's, and for a row under another choice than the run's main one, which."""
    choice = (metrics.get("settings") or {}).get("choice")
    if choice is None or metrics.get("main_choice", choice) == choice:
        return method.label
    return f"{method.label} [{CHOICE_LABELS[choice]}]"


def _results(metric_files: list[Path], number: str) -> list[Result]:
    out = []
    for path in metric_files:
        m = json.loads(Path(path).read_text())
        method = get_method(m["method"])
        out.append(Result(
            label=row_label(method, m),
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


def _mask_notes(metric_files: list[Path]) -> list[str]:
    """One line per masked row: the mask's selected step, and a flag where the mask ranks as no mask at all
    (its row then equals the unmasked row: a finding, not a result of masking)."""
    notes = []
    for path in metric_files:
        m = json.loads(Path(path).read_text())
        mask = m.get("mask")
        if not mask:
            continue
        text = f"{get_method(m['method']).label} ({m['category']}): {mask.get('mode')} mask of step {mask.get('step')}"
        if mask.get("kept_fraction") is not None:
            text += f", keeps {100 * mask['kept_fraction']:.2f}% of the features"
        if mask.get("identity"):
            text += " -- FLAG: an identity mask, this row equals the unmasked row"
        notes.append(text)
    return ["Learned masks: " + "; ".join(notes)] if notes else []


def retrieval_table(number: str, metric_files: list[Path], out_csv: Path, out_md: Path,
                    out_json: Path | None = None, thesis: str | os.PathLike | None = None,
                    rehearsal: bool = False) -> pd.DataFrame:
    """Thesis table ``number`` from per-(method, category) metric files, ours beside the thesis's
    (``thesis``: the thesis table's file; default the package's copy; ``rehearsal``: the paper rehearsal's)."""
    table = get_table(number)
    metrics = [json.loads(Path(p).read_text()) for p in metric_files]
    unknown = sorted({m["method"] for m in metrics} - set(table.methods))
    if unknown:
        raise ValueError(f"table {table.number}: metric files of methods it does not show: {unknown}")
    results = _results(metric_files, table.number)
    df = compare_with_thesis(results, table.number, thesis)
    write_comparison(df, table.title, out_csv, out_md, out_json, context=_sizes(df) + _mask_notes(metric_files),
                     rehearsal=rehearsal)
    if out_json is not None:
        _add_settings(Path(out_json), metrics)
    return df


def _add_settings(out_json: Path, metrics: list[dict]) -> None:
    """Each row's settings (choice, boxes, transforms, views, reduction, mask: ``evaluate.row_settings``) beside
    its numbers in the table's JSON, so that the chain of choices can be checked from the outputs alone."""
    from sketch3d.atomic import write_text

    table = json.loads(out_json.read_text())
    for m in metrics:
        if "settings" in m:
            row = table.setdefault(row_label(get_method(m["method"]), m), {}).setdefault(m["category"], {})
            row["settings"] = m["settings"]
    write_text(out_json, json.dumps(table, indent=2) + "\n")


# ------------------------------------------------------------------ Tables 4.1 and 4.2: the grids
def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _grid_rows(number: str, df: pd.DataFrame, choice: dict) -> list[tuple[str, str, str | None]]:
    """(stage in the grid CSV, our label, thesis row label) for each row of table ``number``, in order; the
    thesis rows by name (``GridTable.thesis_rows``)."""
    thesis = get_grid_table(number).thesis_rows
    if get_grid_table(number).grid == "box":
        rnd, ref = df[df["stage"] == "random"], df[df["stage"] == "refine"]
        lo, hi = choice["random_range"]
        rlo, rhi = choice["refine_range"]
        b = choice["box"]
        return [
            ("random", f"Random {len(rnd) // rnd['category'].nunique()} from: "
                       f"[{_pct(lo)}, {_pct(hi)}]", thesis["random"]),
            ("refine", f"Uniform {len(ref) // ref['category'].nunique()} from: [{_pct(rlo)}, {_pct(rhi)}]",
             thesis["refine"]),
            ("best", f"Best: {_pct(choice['fraction'])} ({b}x{b})", thesis["best"]),
        ]

    def n_of(stage: str) -> int:
        part = df[df["stage"] == stage]
        return len(part) // part["category"].nunique()

    def setting(stage: str) -> str:
        return df[df["stage"] == stage]["setting"].iloc[0]

    cats = sorted(df["category"].unique())
    rows = [("obb", f"OBB ({choice['box']}x{choice['box']})", thesis["obb"])]
    for kind, name in (("translation", "Transl."), ("rotation", "Rot.")):
        rows += [
            (f"{kind} random", f"{name} random ({n_of(f'{kind} random')})", thesis[f"{kind} random"]),
            (f"{kind} refine", f"{name} uniform ({n_of(f'{kind} refine')}) around the best random",
             thesis[f"{kind} refine"]),
            (f"{kind} best both", f"{name} (best both) {setting(f'{kind} best both')}", thesis[f"{kind} best both"]),
            *((f"{kind} best {c}", f"{name} (best {c}s) {setting(f'{kind} best {c}')}",
               thesis.get(f"{kind} best {c}")) for c in cats),
        ]
    rows += [("combined", f"transl. & rot. {setting('combined')}", thesis["combined"]),
             ("augm4", "Augm. (4 imgs.)", thesis["augm4"])]
    return rows


def grid_table(number: str, grid_csv: Path, grid_json: Path, out_csv: Path, out_md: Path,
               out_json: Path | None = None, thesis: str | os.PathLike | None = None,
               rehearsal: bool = False) -> pd.DataFrame:
    """Table 4.1 or 4.2 from a grid's results (``retrieval.grids``): the mean +- std over each stage's
    settings, and the chosen settings, beside the thesis's."""
    table = get_grid_table(number)
    number = table.number
    df = pd.read_csv(grid_csv)
    summary = json.loads(Path(grid_json).read_text())
    if summary["grid"] != table.grid:
        raise ValueError(f"{grid_json} holds the {summary['grid']!r} grid, not Table {number}'s {table.grid!r}")
    results = []
    for stage, label, thesis_row in _grid_rows(number, df, summary["choice"]):
        part = df[df["stage"] == stage]
        if part.empty:
            raise ValueError(f"{grid_csv}: no rows of stage {stage!r} (re-run the grid)")
        for category, g in part.groupby("category", sort=True):
            n = len(g)
            metrics = {m: float(g[m].mean()) for m in g.columns if m.startswith("acc@")}
            spread = {m: float(g[m].std(ddof=1)) for m in metrics} if n > 1 else {}
            results.append(Result(label, thesis_row, category, summary["profile"], metrics,
                                  context={"settings": n, "n_queries": summary["sizes"][category]["queries"],
                                           "n_shapes": summary["sizes"][category]["shapes"]},
                                  spread=spread))
    out = compare_with_thesis(results, number, thesis)
    e = summary["embeddings"]
    context = [
        "Rows with ± are the mean ± standard deviation over the stage's settings (thesis: the same).",
        "Queries / gallery shapes per category: " + ", ".join(
            f"{c}: {s['queries']} / {s['shapes']}" for c, s in summary["sizes"].items()),
        f"Embeddings: {e['distinct']} distinct (image, transform) pairs against {e['from_scratch']} if every "
        f"evaluated setting were embedded from scratch ({e['saving']}x fewer).",
    ]
    write_comparison(out, table.title, out_csv, out_md, out_json, context=context, rehearsal=rehearsal)
    if out_json is not None:  # what the search chose: the setting the other tables' OBB / Augm. rows use
        from sketch3d.atomic import write_text

        metrics = json.loads(Path(out_json).read_text())
        metrics["choice"] = summary["choice"]
        write_text(out_json, json.dumps(metrics, indent=2) + "\n")
    return out
