"""Table C.1: the zoo's networks, beside the thesis's. Per architecture: its ClassId, its parameter count (the
network as trained, ResNets with batch norm: the thesis's "# Params"), the mean test accuracy of the multi
zoo's training members ("Acc. (SGD)"; ResNet56: the teacher's) and the best test accuracy of the single
zoo's members ("Acc. (Adam)"), as the caption defines them.

Inputs: the member files ``train_member`` wrote (``zoo.read_member``) and the thesis's Table C.1 (a package
file, an input of the job). Ours are compared with the thesis's half of the table for the image set they were
trained on: Tiny-ImageNet for ``tinyimagenet``, CIFAR-10 otherwise (the demo's digits run the CIFAR-10
variants of the networks, so their parameter counts are CIFAR-10's).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from sketch3d import REHEARSAL_NOTICE
from sketch3d.atomic import atomic_path, write_text
from sketch3d.netspace.names import TABLE_C_1
from sketch3d.netspace.zoo import ARCHITECTURE_NAMES, read_member
from sketch3d.report.comparison import Result, compare_with_thesis, notice, to_metrics
from sketch3d.report.reference import thesis_table

THESIS_ROWS = {"lenetlike": "LeNetLike", "vanillacnn": "VanillaCNN", "resnet8": "ResNet8", "resnet32": "ResNet32",
               "resnet56": "ResNet56"}
"""architecture -> its row (``method``) of the thesis's Table C.1."""
THESIS_DATASET = {"digits": "CIFAR-10", "cifar10": "CIFAR-10", "tinyimagenet": "Tiny-ImageNet"}
"""our image set -> the half of Table C.1 it is compared with."""
COUNTS = ("class_id", "params")
"""metrics that are whole numbers: printed as integers with thousands separators (62,006), as the thesis does."""
MISSING = "-"
"""what the Markdown prints where a network has no value (the thesis's dash)."""
TITLE = "Table C.1: the zoo's networks: ClassId, test accuracy (Adam: best single-setting member; SGD: mean of " \
        "the multi-setting training members), parameters"


class ZooTableError(ValueError):
    """Member files that cannot be tabulated together."""


def reference(dataset: str, thesis: str | os.PathLike | None = None) -> pd.DataFrame:
    """The thesis's Table C.1 half for ``dataset`` (CIFAR-10 or Tiny-ImageNet), its category set to it."""
    df = thesis_table(TABLE_C_1, thesis)
    half = df[df["dataset"] == dataset]
    if half.empty:
        raise ZooTableError(f"thesis Table C.1 has no rows of {dataset!r}; datasets: {sorted(set(df['dataset']))}")
    return half.assign(category=dataset)


def summarise(members: list[dict]) -> dict[str, dict]:
    """Per architecture (thesis order): class_id, params, acc_sgd (mean, std, n), acc_adam (best, n)."""
    out: dict[str, dict] = {}
    for arch in ARCHITECTURE_NAMES:
        mine = [m for m in members if m["architecture"] == arch]
        if not mine:
            continue
        row: dict = {"class_id": mine[0]["class_id"], "params": int(mine[0]["params"])}
        if len({int(m["params"]) for m in mine}) != 1:
            raise ZooTableError(f"{arch}: member files disagree on the parameter count; rebuild the zoo")
        sgd = [m["test_accuracy"] for m in mine
               if (m["member"]["setting"] == "multi" and m["member"]["split"] == "train")
               or m["member"]["setting"] == "teacher"]
        adam = [m["test_accuracy"] for m in mine if m["member"]["setting"] == "single"]
        if sgd:
            row["acc_sgd"] = (float(np.mean(sgd)), float(np.std(sgd)) if len(sgd) > 1 else None, len(sgd))
        if adam:
            row["acc_adam"] = (float(np.max(adam)), len(adam))
        out[arch] = row
    return out


def zoo_table(member_files: list[str | os.PathLike], out_csv: Path, out_md: Path, out_json: Path, profile: str,
              thesis: str | os.PathLike | None = None, rehearsal: bool = False) -> pd.DataFrame:
    """Tabulate the zoo's member files; writes CSV, Markdown and the DVC metrics JSON. ``profile``: demo |
    paper (the demo's table carries the demo notice); ``thesis``: the Table C.1 file (default: the package's);
    ``rehearsal``: the paper rehearsal's table (its notice)."""
    if not member_files:
        raise ZooTableError("table C.1: no member files given; pass the train_member outputs")
    members = []
    for path in member_files:
        d = read_member(path)
        d.pop("state_dict")
        members.append(d)
    datasets = list(dict.fromkeys(m["dataset"] for m in members))  # in the order given (netspace.datasets)
    groups = [THESIS_DATASET[d] for d in datasets]
    if len(set(groups)) != len(groups):
        raise ZooTableError(f"table C.1: image sets {datasets} would fill the same half of the thesis's table "
                            f"({groups}); tabulate one of them")
    ref = pd.concat([reference(g, thesis) for g in groups], ignore_index=True)
    results = []
    for ours, group in zip(datasets, groups):
        for arch, row in summarise([m for m in members if m["dataset"] == ours]).items():
            metrics, spread, context = {"params": row["params"]}, {}, {"sgd_members": 0, "adam_members": 0}
            if row["class_id"] is not None:
                metrics["class_id"] = row["class_id"]
            if "acc_sgd" in row:
                metrics["acc_sgd"], std, context["sgd_members"] = row["acc_sgd"]
                if std is not None:
                    spread["acc_sgd"] = std
            if "acc_adam" in row:
                metrics["acc_adam"], context["adam_members"] = row["acc_adam"]
            results.append(Result(THESIS_ROWS[arch], THESIS_ROWS[arch], group, profile, metrics, context, spread))
    df = compare_with_thesis(results, TABLE_C_1, ref)
    context = [
        "Our networks were trained on " + ", ".join(f"`{d}` (beside the thesis's {g} half of Table C.1)"
                                                    for d, g in zip(datasets, groups)) + ".",
        "acc_sgd: mean (± std) test accuracy of the multi zoo's training members (ResNet56: the teacher); "
        "acc_adam: best test accuracy among the single zoo's members; params: the network as trained (ResNets "
        "with batch norm; the zoo holds them folded).",
    ]
    if rehearsal:
        df = df.assign(note=REHEARSAL_NOTICE)
    with atomic_path(out_csv) as tmp:
        df.to_csv(tmp, index=False)
    write_text(out_md, to_markdown(df, TITLE, context, rehearsal))
    write_text(out_json, json.dumps(to_metrics(df, rehearsal), indent=2) + "\n")
    return df


def _number(value, metric: str, sign: bool = False) -> str:
    if metric in COUNTS:
        return f"{int(round(float(value))):+,}" if sign else f"{int(round(float(value))):,}"
    return f"{float(value):+.2f}" if sign else f"{float(value):.2f}"


def _cell(r: pd.Series) -> str:
    ours = _number(r["ours"], r["metric"])
    spread = r.get("ours_spread")
    if spread is not None and not pd.isna(spread):
        ours += f" ± {_number(spread, r['metric'])}"
    if pd.isna(r["thesis"]):
        return f"{ours} (thesis: {MISSING})"
    thesis = _number(r["thesis"], r["metric"])
    t_spread = r.get("thesis_spread")
    if t_spread is not None and not pd.isna(t_spread):
        thesis += f" ± {_number(t_spread, r['metric'])}"
    return f"{ours} ({thesis}, {_number(r['difference'], r['metric'], sign=True)})"


def to_markdown(df: pd.DataFrame, title: str, context: list[str] = (), rehearsal: bool = False) -> str:
    """Table C.1 as wide Markdown, one row per architecture, cells "ours (thesis, ours - thesis)": ClassIds and
    parameter counts as integers (62,006), accuracies with 2 decimals, a missing value as "-" (the thesis's)."""
    wide = df.assign(cell=df.apply(_cell, axis=1), column=df["category"] + " " + df["metric"])
    order = list(dict.fromkeys(df["method"]))
    columns = list(dict.fromkeys(wide["column"]))
    pivot = wide.pivot(index="method", columns="column", values="cell").reindex(index=order, columns=columns)
    lines = [f"# {title}", ""]
    profile = df["profile"].iloc[0]
    if warning := notice(profile, rehearsal):
        lines += [f"> **{warning}**", ""]
    lines += [f"Profile: `{profile}`. Cells: ours (thesis, ours - thesis), accuracies in percent; "
              f"{MISSING}: no value.", *context, "", pivot.fillna(MISSING).reset_index().to_markdown(index=False), ""]
    return "\n".join(lines)
