"""How much a table's numbers move by chance: over seeds, and across CPU kinds, cell by cell.

A table's DVC metrics JSON (``method -> group -> metric -> value``, :func:`report.comparison.to_metrics`) from the
profile's own run (the *reference*) is set beside the same table from runs that differ in one thing only:

- **seeds**: the profile with another top-level ``seed`` (``snakemake --config seed=1 variant=seed1``; every random
  choice follows it: data, initialisations, batches). The seeds' own spread of a cell is the sample standard
  deviation over the reference and these runs (ddof 1), with their range.
- **CPU kinds**: the profile's own seed on another kind of CPU (or this one made to behave as another, e.g. oneDNN
  and MKL capped at AVX2). Their difference from the reference is what the machine alone moves.

For each cell it says whether it *lies within the seeds' spread*: the CPU kinds' largest difference, and where the
thesis prints the cell, ours minus the thesis's, are within ``k`` standard deviations of the seeds (``k`` = 2 by
default: a difference the seeds alone would give about one time in twenty under a normal spread). A cell outside
it moved more than chance moves it. With fewer than 3 runs of seeds, no spread is estimated and nothing is marked.

Written by hand: the arithmetic is a mean and a standard deviation; what no library does is to line up the cells
of nested metrics files and say which are missing.
"""
from __future__ import annotations

import json
import math
import os
import re
import statistics
from dataclasses import dataclass
from pathlib import Path

Cell = tuple[str, str, str]  # (method, group, metric)

K_SIGMA = 2.0
MIN_SEED_RUNS = 3  # the reference and two more seeds: the fewest that estimate a standard deviation at all


class VariationInputError(ValueError):
    """A metrics file that cannot be lined up with the others."""


def flat_metrics(path: str | os.PathLike) -> dict[Cell, float]:
    """The numeric cells of a table's metrics JSON; its ``notice`` and any non-number are left out. A number one
    level up (Tables 4.1 and 4.2's ``choice``: the box side, the fraction) is the cell ``(method, "", key)``."""
    p = Path(path)
    try:
        nested = json.loads(p.read_text())
    except FileNotFoundError:
        raise VariationInputError(f"{p}: no such metrics file; run the table's target first") from None
    except json.JSONDecodeError as exc:
        raise VariationInputError(f"{p}: not JSON ({exc}); rerun the table's job") from None
    out: dict[Cell, float] = {}
    if not isinstance(nested, dict):
        raise VariationInputError(f"{p}: expected method -> group -> metric -> number")
    for method, groups in nested.items():
        if not isinstance(groups, dict):
            continue  # the notice
        for group, metrics in groups.items():
            if _number(metrics):
                out[(method, "", group)] = float(metrics)
            if not isinstance(metrics, dict):
                continue
            for metric, value in metrics.items():
                if _number(value):
                    out[(method, group, metric)] = float(value)
    if not out:
        raise VariationInputError(f"{p}: holds no numbers")
    return out


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


def _row_pattern(method: str) -> str:
    return _NUMBER.sub("#", method)


def lined_up(reference: dict[Cell, float], other: dict[Cell, float]) -> dict[Cell, float]:
    """``other``'s cells under the reference's row names where a row's name differs between the runs in its numbers
    only: Tables 4.1 and 4.2 name rows after the run's own choice ("Best: 78.6% (176x176)", "Rot. (best both)
    31.5"), which another seed chooses otherwise. Rows are matched only where the names with their numbers masked
    are unique in both runs; anything else is left as it is (and refused by the caller when it differs)."""
    ref_rows, other_rows = {m for m, _, _ in reference}, {m for m, _, _ in other}
    if ref_rows == other_rows:
        return other
    ref_by, other_by = {_row_pattern(m): m for m in ref_rows}, {_row_pattern(m): m for m in other_rows}
    if len(ref_by) != len(ref_rows) or len(other_by) != len(other_rows):
        return other
    rename = {m: ref_by[k] for k, m in other_by.items() if k in ref_by}
    return {(rename.get(m, m), g, x): v for (m, g, x), v in other.items()}


@dataclass(frozen=True)
class CellVariation:
    method: str
    group: str
    metric: str
    ours: float
    seed_runs: int
    seed_std: float | None
    seed_min: float
    seed_max: float
    cpu_diff: float | None        # the CPU kinds' difference from ours of largest size (signed), None without any
    thesis: float | None
    cpu_within: bool | None       # |cpu_diff| <= k * seed_std; None where either is missing
    thesis_within: bool | None    # |ours - thesis| <= k * seed_std; None where either is missing

    def row(self) -> dict:
        return dict(self.__dict__)


def _same_cells(reference: dict[Cell, float], other: dict[Cell, float], name: str) -> None:
    missing, extra = sorted(set(reference) - set(other)), sorted(set(other) - set(reference))
    if missing or extra:
        raise VariationInputError(
            f"{name} does not hold the reference's cells: missing {missing[:3]}, extra {extra[:3]}; both runs must "
            "come from the same code and params but the seed (or the CPU)")


def cell_variation(reference: str | os.PathLike, seeds: list[str | os.PathLike] = (),
                   cpus: list[str | os.PathLike] = (), thesis: dict[Cell, float] | None = None,
                   k: float = K_SIGMA) -> list[CellVariation]:
    """Every cell of ``reference`` with its seeds' spread, its CPU kinds' difference and the two marks."""
    ref = flat_metrics(reference)
    seed_runs = [lined_up(ref, flat_metrics(p)) for p in seeds]
    cpu_runs = [lined_up(ref, flat_metrics(p)) for p in cpus]
    for p, run in [*zip(seeds, seed_runs), *zip(cpus, cpu_runs)]:
        _same_cells(ref, run, str(p))
    out = []
    for cell, ours in ref.items():
        values = [ours, *(r[cell] for r in seed_runs)]
        finite = [v for v in values if math.isfinite(v)]
        std = statistics.stdev(finite) if len(finite) >= MIN_SEED_RUNS else None
        diffs = [r[cell] - ours for r in cpu_runs]
        cpu_diff = max(diffs, key=abs) if diffs else None
        t = (thesis or {}).get(cell)
        out.append(CellVariation(
            *cell, ours=ours, seed_runs=len(finite), seed_std=std,
            seed_min=min(finite) if finite else math.nan, seed_max=max(finite) if finite else math.nan,
            cpu_diff=cpu_diff, thesis=t,
            cpu_within=None if std is None or cpu_diff is None else abs(cpu_diff) <= k * std,
            thesis_within=None if std is None or t is None else abs(ours - t) <= k * std,
        ))
    return out


def summary(cells: list[CellVariation]) -> dict:
    """The table's line of the README: the largest seed std and CPU difference over its cells, and the marks."""
    stds = [c.seed_std for c in cells if c.seed_std is not None]
    diffs = [abs(c.cpu_diff) for c in cells if c.cpu_diff is not None]
    return {
        "cells": len(cells),
        "seed_runs": max((c.seed_runs for c in cells), default=0),
        "max_seed_std": max(stds) if stds else None,
        "median_seed_std": statistics.median(stds) if stds else None,
        "max_cpu_diff": max(diffs) if diffs else None,
        "cpu_cells_differing": sum(d != 0 for d in diffs),
        "cpu_cells_outside_seed_spread": sum(c.cpu_within is False for c in cells),
        "thesis_cells_within_seed_spread": sum(c.thesis_within is True for c in cells),
        "thesis_cells_compared": sum(c.thesis_within is not None for c in cells),
    }


def _fmt(v: float | None, d: int = 4) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{d}g}"


def _mark(flag: bool | None) -> str:
    return "" if flag is None else ("within" if flag else "**outside**")


def to_markdown(table: str, cells: list[CellVariation], seeds: list[str], cpus: list[str], k: float,
                notice: str = "") -> str:
    s = summary(cells)
    lines = [f"# Table {table}: how much its numbers move by chance", ""]
    if notice:
        lines += [f"> **{notice}**", ""]
    lines += [
        f"Seeds' spread: the standard deviation of each cell over {s['seed_runs']} runs (this profile's seed and "
        f"{len(seeds)} more: {', '.join(seeds) or 'none'}). CPU kinds: {', '.join(cpus) or 'none measured'}. A "
        f"difference lies *within* the seeds' spread when it is at most {k:g} standard deviations.",
        "",
        f"Largest seed std: {_fmt(s['max_seed_std'])} (median {_fmt(s['median_seed_std'])}); "
        + (f"largest CPU-kind difference: {_fmt(s['max_cpu_diff'])} in {s['cpu_cells_differing']} cell(s), "
           f"{s['cpu_cells_outside_seed_spread']} outside the seeds' spread; " if cpus else "no CPU kind measured; ")
        + (f"ours - thesis within the seeds' spread in {s['thesis_cells_within_seed_spread']} of "
           f"{s['thesis_cells_compared']} cell(s)." if s['thesis_cells_compared'] else "the thesis prints no cell of it."),
        "",
        "| method | group | metric | ours | seed std | seed range | CPU-kind diff | vs seeds | thesis | ours - thesis |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        diff = None if c.thesis is None else c.ours - c.thesis
        lines.append(
            f"| {c.method} | {c.group} | {c.metric} | {_fmt(c.ours)} | {_fmt(c.seed_std)} | "
            f"{_fmt(c.seed_min)} - {_fmt(c.seed_max)} | {_fmt(c.cpu_diff)} | {_mark(c.cpu_within)} | "
            f"{_fmt(c.thesis)} | {_fmt(diff)} {_mark(c.thesis_within)} |")
    return "\n".join(lines) + "\n"


def thesis_cells(table_csv: str | os.PathLike) -> dict[Cell, float]:
    """The thesis's value of each cell, from the table's comparison CSV (:func:`report.comparison.compare_with_thesis`)."""
    import pandas as pd

    df = pd.read_csv(table_csv)
    if "thesis" not in df.columns or df["thesis"].isna().all():
        return {}  # a table the thesis does not print (the reconstruction scores): no cell to set beside it
    need = {"method", "category", "metric", "thesis"}
    if not need <= set(df.columns):
        raise VariationInputError(f"{table_csv}: lacks the columns {sorted(need - set(df.columns))} of a table CSV")
    df = df.dropna(subset=["thesis"])
    return {(str(r.method), str(r.category), str(r.metric)): float(r.thesis) for r in df.itertuples()}


def run_name(path: str | os.PathLike) -> str:
    """``demo-seed1`` for ``results/demo-seed1/tables/table_3_1.json``: the results folder a run wrote."""
    p = Path(path)
    return p.parent.parent.name if p.parent.name == "tables" else p.stem


def write_variation(table: str, reference: str | os.PathLike, seeds: list, cpus: list, out_csv: Path, out_md: Path,
                    table_csv: str | os.PathLike | None = None, k: float = K_SIGMA, notice: str = "") -> list[CellVariation]:
    """The cells' variation as CSV (one row a cell) and Markdown (the report's page), each written atomically."""
    import csv
    import io

    from sketch3d.atomic import write_text

    cells = cell_variation(reference, seeds, cpus, thesis_cells(table_csv) if table_csv else None, k)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(cells[0].row()), lineterminator="\n")
    writer.writeheader()
    for c in cells:
        writer.writerow({key: ("" if v is None else v) for key, v in c.row().items()})
    write_text(out_csv, buf.getvalue())
    write_text(out_md, to_markdown(table, cells, [run_name(p) for p in seeds], [run_name(p) for p in cpus], k,
                                   notice))
    return cells
