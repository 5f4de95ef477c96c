"""Table 5.1: accuracy of the test nets whose embeddings start the latent space optimisation (``initial``) and of the
nets decoded from the optimised embeddings (``optimized``), beside the thesis's (Tiny-ImageNet test set).

Inputs: one ``latent.write_latent`` JSON per column (single-architecture ResNet8; multi-architecture LeNetLike,
VanillaCNN, ResNet8, ResNet32) and the thesis's Table 5.1 (a package file under ``reference/``, an input of the job).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from sketch3d.report.comparison import Result, compare_with_thesis, write_comparison
from sketch3d.netspace.names import MULTI, SINGLE, TABLE_5_1, TABLE_C_1, TABLE_IDS, TABLE_PARAMS  # noqa: F401
from sketch3d.report.reference import thesis_table

NAMES = {"lenetlike": "LeNetLike", "vanillacnn": "VanillaCNN", "resnet8": "ResNet8", "resnet32": "ResNet32"}
GROUPS = {SINGLE: "Single-Architecture", MULTI: "Multi-Architecture"}
METRIC = "accuracy"
# this chapter's tables (found by sketch3d.table_stages; named in netspace.names) and the params.yaml sections their
# jobs read (their DVC stages' params)
TITLE = "Table 5.1: accuracy of the test nets with latent space optimisation (initial vs optimized)"


class TableInputError(ValueError):
    """An LSO result that cannot be tabulated."""


def column(setting: str, architecture: str) -> str:
    """The thesis's column group of a (setting, architecture): e.g. 'Multi-Architecture ResNet8'."""
    if setting not in GROUPS or architecture not in NAMES:
        raise TableInputError(f"table 5.1 has no column for setting {setting!r}, architecture {architecture!r}; "
                              f"settings {sorted(GROUPS)}, architectures {sorted(NAMES)}")
    return f"{GROUPS[setting]} {NAMES[architecture]}"


def _load(path: Path) -> dict:
    try:
        r = json.loads(Path(path).read_text())
        return {k: r[k] for k in ("setting", "architecture", "initial", "optimized", "net", "demo")} | {
            "best_step": r.get("best_step"), "initial_decoded": r.get("initial_decoded"),
            "optimized_architecture": r.get("optimized_architecture")}
    except FileNotFoundError:
        raise TableInputError(f"{path}: no LSO result; run its optimise_latent rule") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise TableInputError(f"{path}: not an optimise_latent result ({exc}); rerun optimise_latent") from None


def netspace_table(results: list[str | os.PathLike], out_csv: Path, out_md: Path, out_json: Path | None = None,
              thesis: str | os.PathLike | None = None, rehearsal: bool = False) -> pd.DataFrame:
    """Tabulate the LSO results (any subset of the five columns); writes CSV, Markdown and the metrics JSON."""
    loaded = [_load(Path(p)) for p in results]
    if not loaded:
        raise TableInputError("table 5.1: no LSO results given")
    profiles = {"demo" if r["demo"] else "paper" for r in loaded}
    if len(profiles) != 1:
        raise TableInputError("table 5.1: results of the demo and the paper profile mixed; rebuild one profile")
    profile = profiles.pop()
    by_column = {}
    for r in loaded:
        col = column(r["setting"], r["architecture"])
        if col in by_column:
            raise TableInputError(f"table 5.1: two results for column {col!r}")
        by_column[col] = r
    # the thesis's two rows name their metric apart (accuracy_initial / _optimized); one name, "accuracy", gives
    # the thesis's layout: rows initial / optimized, a column per setting and architecture
    ref = thesis_table(TABLE_5_1, thesis).assign(metric=METRIC)
    thesis_order = list(dict.fromkeys(ref["category"]))
    order = sorted(by_column, key=lambda c: (thesis_order.index(c) if c in thesis_order else len(thesis_order), c))
    rows = []
    for label in ("initial", "optimized"):
        for col in order:
            r = by_column[col]
            rows.append(Result(label, label, col, profile, {METRIC: r[label]},
                               {"net": r["net"], "best_step": r["best_step"], "initial_decoded": r["initial_decoded"],
                                "decoded_architecture": r["optimized_architecture"]}))
    df = compare_with_thesis(rows, TABLE_5_1, ref)
    context = ["`initial`: the test net whose embedding starts the optimisation (5.4: 'the instances used to obtain "
               "the initial embeddings'); `optimized`: the net decoded from the embedding best on the validation "
               "images (its test accuracy). The CSV's `initial_decoded`: the net decoded from the start embedding.",
               "Thesis: Tiny-ImageNet test set; " + ("demo: the digits' test split." if profile == "demo" else
                                                     "ours: the configured dataset's test split.")]
    write_comparison(df, TITLE, out_csv, out_md, out_json, context, rehearsal=rehearsal)
    return df
