"""Stages 'retrieval_table' (the chapter's method x category tables: 4.8, B.2, ...) and 'grid_table' (Tables 4.1
and 4.2 from their searches), ours beside the thesis's.

Which rows a table has, and which thesis row each is compared with (by name), is ``retrieval.methods``:
``TABLES`` / ``Method.thesis_rows``, and ``retrieval.grid_tables``.
"""
from __future__ import annotations

import json
import logging
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

log = logging.getLogger(__name__)


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
                    rehearsal: bool = False, rank_files: list[Path] | None = None,
                    stat_settings: dict | None = None) -> pd.DataFrame:
    """Thesis table ``number`` from per-(method, category) metric files, ours beside the thesis's
    (``thesis``: the thesis table's file; default the package's copy; ``rehearsal``: the paper rehearsal's).

    ``rank_files`` (the ``.npz`` beside each metric file, in the same order) and ``stat_settings`` (``seed`` and
    ``retrieval.stats``, as the rule's ``--settings``): the numbers beside acc@k (:func:`_statistics`); without
    them the table has none."""
    table = get_table(number)
    metrics = [json.loads(Path(p).read_text()) for p in metric_files]
    unknown = sorted({m["method"] for m in metrics} - set(table.methods))
    if unknown:
        raise ValueError(f"table {table.number}: metric files of methods it does not show: {unknown}")
    results = _results(metric_files, table.number)
    df = compare_with_thesis(results, table.number, thesis)
    appendix, extra = [], {}
    if rank_files is not None:
        if stat_settings is None:
            raise ValueError(f"table {table.number}: the statistics need settings (seed, retrieval.stats)")
        df, appendix, extra = _statistics(table.number, df, metric_files, rank_files, stat_settings)
    for label, groups in _row_settings(metrics).items():
        for category, values in groups.items():
            extra.setdefault(label, {}).setdefault(category, {}).update(values)
    write_comparison(df, table.title, out_csv, out_md, out_json, context=_sizes(df) + _mask_notes(metric_files),
                     rehearsal=rehearsal, appendix=appendix, extra_metrics=extra)
    return df


def _row_settings(metrics: list[dict]) -> dict:
    """Each row's settings (choice, boxes, transforms, views, reduction, mask: ``evaluate.row_settings``), to stand
    beside its numbers in the table's JSON, so that the chain of choices can be checked from the outputs alone."""
    out: dict = {}
    for m in metrics:
        if "settings" in m:
            out.setdefault(row_label(get_method(m["method"]), m), {})[m["category"]] = {"settings": m["settings"]}
    return out


# ------------------------------------------------------------------ beside acc@k: intervals, mAP, MRR, McNemar
STAT_COLUMNS = ("ci_low", "ci_high", "mAP", "MRR", "median_rank", "mcnemar_p", "mcnemar_test",
                "mcnemar_reference", "only_reference", "only_row")


def _p(p: float) -> float:
    return float(f"{p:.4g}")


def _statistics(number: str, df: pd.DataFrame, metric_files: list[Path], rank_files: list[Path],
                settings: dict) -> tuple[pd.DataFrame, list[str], dict]:
    """``df`` with the columns of :data:`STAT_COLUMNS` right after ours and the difference (the thesis's
    comparison first); the Markdown section under the comparison; the numbers for the metrics JSON.
    The intervals and tests: ``retrieval.statistics``."""
    from sketch3d.retrieval.statistics import reference_method, table_statistics

    stats = settings["retrieval"]["stats"]
    metrics = [json.loads(Path(p).read_text()) for p in metric_files]
    labels = [row_label(get_method(m["method"]), m) for m in metrics]
    ref_label = get_method(reference_method(number)[0]).label  # the reference method's row under the main choice
    by_label, ref = table_statistics(number, metrics, [Path(p) for p in rank_files], [Path(p) for p in metric_files],
                                     stats, settings["seed"], get_table(number).split, labels, ref_label)

    def columns(r: pd.Series) -> pd.Series:
        n = by_label[(r["method"], r["category"])]
        ci = n["ci"].get(r["metric"], (None, None))
        test = n.get("mcnemar") if r["metric"] == "acc@1" else None
        is_ref = r["metric"] == "acc@1" and r["method"] == ref_label
        return pd.Series({
            "ci_low": None if ci[0] is None else round(ci[0], 2),
            "ci_high": None if ci[1] is None else round(ci[1], 2),
            "mAP": round(n["mAP"], 2), "MRR": round(n["MRR"], 2), "median_rank": n["median_rank"],
            "mcnemar_p": None if test is None else _p(test.p),
            "mcnemar_test": "reference" if is_ref else None if test is None else test.test,
            "mcnemar_reference": ref_label if r["metric"] == "acc@1" else None,
            "only_reference": None if test is None else test.only_reference,
            "only_row": None if test is None else test.only_row,
        })

    added = df.apply(columns, axis=1)
    cut = max(df.columns.get_loc(c) for c in ("difference", "ours_spread", "thesis_spread") if c in df.columns) + 1
    out = pd.concat([df.iloc[:, :cut], added, df.iloc[:, cut:]], axis=1)

    level = stats["ci_level"]
    pct = f"{100 * level:g}%"
    rows = []
    for (label, category), n in by_label.items():
        test = n.get("mcnemar")
        cells = {"method": label, "category": category}
        cells.update({f"{k} {pct} CI": f"{lo:.2f}-{hi:.2f}" for k, (lo, hi) in n["ci"].items()})
        cells.update({"mAP": f"{n['mAP']:.2f}", "MRR": f"{n['MRR']:.2f}", "median rank": f"{n['median_rank']:g}"})
        cells[f"McNemar p, acc@1 vs {ref_label}"] = (
            "reference" if label == ref_label else "" if test is None else
            f"{_p(test.p):.4g} ({test.test}; +{test.only_row} -{test.only_reference})")
        rows.append(cells)
    appendix = [
        "## Beside acc@k (ours only)", "",
        f"{pct} confidence intervals of acc@k: percentile bootstrap over the queries ({stats['bootstrap']} "
        f"resamples, seed {settings['seed']}, the same resamples for every row of a category). mAP and MRR in "
        "percent: each query has one true shape, so its average precision is 1 / (the true shape's rank) and mAP "
        "equals MRR. Median rank: of the true shape, 1 = first.", "",
        f"McNemar's test of acc@1, each row against the reference row {ref_label} ({ref['why']}), per category: "
        f"the exact binomial test below {stats['mcnemar_exact_below']} discordant queries, else chi-square "
        "with continuity correction; +c -b: the queries this row gets right and the reference wrong, and the "
        "other way round.", "",
        pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True),  # as formatted here
    ]
    extra: dict = {}
    for (label, category), n in by_label.items():
        values = {f"{k}_ci_{end}": round(v, 2) for k, (lo, hi) in n["ci"].items()
                  for end, v in (("low", lo), ("high", hi))}
        values.update({"mAP": round(n["mAP"], 2), "MRR": round(n["MRR"], 2), "median_rank": n["median_rank"]})
        if n.get("mcnemar") is not None:
            values["mcnemar_p@1"] = _p(n["mcnemar"].p)
        extra.setdefault(label, {})[category] = values
    return out, appendix, extra


# ------------------------------------------------------------------ Tables 4.1 and 4.2: the grids
def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


_SEARCH_STAGES = ("random", "refine")


def counted_settings(df: pd.DataFrame) -> pd.Series:
    """True for the rows a grid table's mean +- std counts: each setting once per search and category.

    A search (the box; translations; rotations) is its random stage, then its refine stage, in the CSV's order.
    A setting evaluated again (sizes or translations that round to the same whole pixels, or the refine grid
    holding the first stage's best, or any value of the first stage) is the same evaluation: only its first
    row counts, in the stage that first evaluated it. Rows of other stages (best, combined, ...) all count.
    """
    seen: set = set()
    out = []
    for stage, category, transforms in zip(df["stage"], df["category"], df["transforms"]):
        head, _, last = str(stage).rpartition(" ")
        if last not in _SEARCH_STAGES:
            out.append(True)
            continue
        key = (head, category, transforms)
        out.append(key not in seen)
        seen.add(key)
    return pd.Series(out, index=df.index, dtype=bool)


def _grid_rows(number: str, df: pd.DataFrame, choice: dict) -> list[tuple[str, str, str | None]]:
    """(stage in the grid CSV, our label, thesis row label) for each row of table ``number``, in order; the
    thesis rows by name (``GridTable.thesis_rows``)."""
    thesis = get_grid_table(number).thesis_rows
    counted = df[counted_settings(df)]

    def n_of(stage: str) -> int:
        """Distinct settings the stage's mean +- std counts (:func:`counted_settings`)."""
        part = counted[counted["stage"] == stage]
        return len(part) // max(1, part["category"].nunique())

    if get_grid_table(number).grid == "box":
        lo, hi = choice["random_range"]
        rlo, rhi = choice["refine_range"]
        b = choice["box"]
        return [
            ("random", f"Random {n_of('random')} from: [{_pct(lo)}, {_pct(hi)}]", thesis["random"]),
            ("refine", f"Uniform {n_of('refine')} from: [{_pct(rlo)}, {_pct(rhi)}]", thesis["refine"]),
            ("best", f"Best: {_pct(choice['fraction'])} ({b}x{b})", thesis["best"]),
        ]

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
    counted = df[counted_settings(df)]
    for stage, label, thesis_row in _grid_rows(number, df, summary["choice"]):
        if (df["stage"] == stage).sum() == 0:
            raise ValueError(f"{grid_csv}: no rows of stage {stage!r} (re-run the grid)")
        part = counted[counted["stage"] == stage]
        if part.empty:
            log.warning("%s: every setting of stage %r was evaluated in an earlier stage: no row", grid_csv, stage)
            continue
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
        "Rows with ± are the mean ± standard deviation over the stage's settings (thesis: the same), each "
        "distinct setting counted once: a setting the search had already evaluated (rounded to the same whole "
        "pixels, or already in its random stage) counts in the stage that first evaluated it only.",
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
