"""Table 3.1: FID and SSIM of the four models on the test set, beside the thesis's numbers, and the FID over the
foreground-and-background (fb) and background-only (bo) examples beside the values the thesis gives in its text
(3.4.3: baseline 96.70 / 184.73, SketchyDepth 92.91 / 162.24). After these, the columns the thesis does not have
(``image_metrics``): KID (x 1000) and the FID's bootstrap interval per group, and for the models with G_d the depth
quality, against MiDaS's labels of the real test images (``depth ...``) and against MiDaS on the model's own
generated images (``agreement ...``): AbsRel, delta < 1.25 (percent of pixels) and RMSE (percent of the depth range).

Inputs: one ``image_metrics`` JSON per run, the thesis's Table 3.1 (a package file, an input of the job) and
the thesis's scalars (``reference/scalars.csv``). Row 1 of the thesis's table, SketchyCOCO's own published
numbers, has no run of ours: it is shown under the title.

A run is a model on the test set's partial images (``test_inputs``; compared with the thesis's row), or
``<model>@<inputs>``, the same model on other test inputs (a row of its own, not compared: the thesis's rows
used its inference path, EdgeGAN's partial images, 3.3). The ``inputs`` column says which each row used.
"""
from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

import pandas as pd

from sketch3d.report.comparison import Result, compare_with_thesis, write_comparison
from sketch3d.report.reference import thesis_table
from sketch3d.sketchydepth.names import TABLE_ID, TABLE_IDS, TABLE_PARAMS, THESIS_ROWS  # noqa: F401  (table_stages)

PACKAGE_DATA = ("reference/scalars.csv",)  # the fb/bo FIDs of section 3.4.3 (see sketch3d.codeversion)

PUBLISHED_ROW = "SketchyCOCO (original) [62]"
ALL = "test"  # the column group of the whole test set (the thesis's table has no grouping)
# (model, kind) -> the scalar's quantity in reference/scalars.csv
KIND_SCALARS = {
    (model, kind): f"FID {name} subset, {who}"
    for model, who in (("baseline", "baseline (SketchyCOCO replicated)"), ("sketchydepth", "SketchyDepth (ours)"))
    for kind, name in (("fb", "foreground-background (fb)"), ("bo", "background-only (bo)"))
}
# the test inputs' names (sketchydepth.sketchycoco.test_inputs) -> the table's words
INPUTS = {
    "edgegan": "EdgeGAN partial images (SketchyCOCO Others/intermediate product)",
    "ground_truth": "ground-truth partial images (the test image's own foreground pixels)",
}
TITLE = "Table 3.1: scene image generation from sketches (test set): FID (lower is better), SSIM (higher is better)"
THESIS_METRICS = ("FID", "SSIM")  # the thesis's columns: first in the table
KID = "KID x1000"
CI = ("FID CI low", "FID CI high")
# image_metrics' depth sets -> the column prefix; its metrics -> (column suffix, factor)
DEPTH_SETS = {"labels": "depth", "agreement": "agreement"}
DEPTH_COLUMNS = {"AbsRel": ("AbsRel", 1.0), "delta1": ("delta<1.25 %", 100.0), "RMSE": ("RMSE %", 100.0)}
# column order (group, metric) of the table: the thesis's first, then ours
COLUMN_ORDER = [("test", "FID"), ("test", "SSIM"), ("fb", "FID"), ("bo", "FID"),
                *((g, m) for g in ("test", "fb", "bo") for m in (KID, *CI)),
                *(("test", f"{prefix} {col}") for prefix in DEPTH_SETS.values() for col, _ in DEPTH_COLUMNS.values())]


class TableInputError(ValueError):
    """A metrics file that cannot be tabulated."""


def scalars_file() -> Path:
    return Path(str(resources.files("sketch3d").joinpath("reference", "scalars.csv")))


def reference(thesis: str | os.PathLike | None = None, scalars: str | os.PathLike | None = None) -> pd.DataFrame:
    """The thesis's numbers in the long form of its tables: Table 3.1 (group ``test``) and the fb/bo FIDs."""
    table = thesis_table(TABLE_ID, thesis).copy()
    table["category"] = table["category"].fillna(ALL)
    s = pd.read_csv(scalars if scalars is not None else scalars_file(), dtype=str)
    rows = []
    for (model, kind), quantity in KIND_SCALARS.items():
        hit = s[s["quantity"] == quantity]
        if len(hit) != 1:
            raise TableInputError(f"reference/scalars.csv: expected one row '{quantity}', found {len(hit)}")
        rows.append({"table": TABLE_ID, "method": THESIS_ROWS[model], "category": kind, "metric": "FID",
                     "value": float(hit["value"].iloc[0])})
    return pd.concat([table, pd.DataFrame(rows)], ignore_index=True)


def _load(model: str, path: Path) -> dict:
    try:
        m = json.loads(Path(path).read_text())
        return {"fid": m["fid"], "ssim": float(m["ssim"]), "n": m["n"], "demo": bool(m.get("demo")),
                "network": m.get("fid_network", ""), "dims": m.get("fid_dims"), "kid": m.get("kid") or {},
                "interval": m.get("fid_interval") or {}, "depth": m.get("depth") or {},
                "ssim_variant": m.get("ssim_variant", "uniform7"), "kid_settings": m.get("kid_settings"),
                "bootstrap": m.get("bootstrap_settings")}
    except FileNotFoundError:
        raise TableInputError(f"{path}: no metrics of model {model}; run its image_metrics rule") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise TableInputError(f"{path}: not an image_metrics file ({exc}); re-run image_metrics for {model}") from None


def _ssim_line(variant: str) -> str:
    return {"wang2004": "Wang et al. 2004's 11x11 Gaussian window (sigma 1.5), population covariances, RGB",
            "uniform7": "scikit-image's defaults (7x7 uniform window, sample covariances), RGB"}.get(variant, variant)


def _beyond_lines(m: dict) -> list[str]:
    """The lines under the title that explain the columns the thesis does not have."""
    lines = []
    k, b = m.get("kid_settings"), m.get("bootstrap")
    if k:
        lines.append(f"{KID}: KID (Binkowski et al. 2018; unbiased MMD^2, kernel {k['kernel']}) from the FID's "
                     f"activations, mean over {k['subsets']} random subsets of min(group size, {k['subset_size']}) "
                     "images, times 1000.")
    if b:
        lines.append(f"{CI[0]} / {CI[1]}: {100 * b['level']:g}% bootstrap interval of the FID ({b['resamples']} "
                     f"resamples of the group's test pairs, seed {b['seed']}): the resampled FIDs' percentile "
                     "interval, moved so that their mean is the FID (a resample repeats pairs, which raises FID; "
                     "the plain interval and the shift: the metrics JSON's `fid_bootstrap`).")
    lines.append("depth / agreement (models with G_d): the generated depth maps against MiDaS's depth of the real "
                 "test images / of the model's own generated images, each map aligned by least-squares scale and "
                 "shift on 8-bit inverse depth: AbsRel, delta<1.25 (% of pixels), RMSE (% of the depth range); `nan`: "
                 "a model without G_d (no depth maps), or a group of fewer than 2 images.")
    return lines


def _run(key: str, test_inputs: str) -> tuple[str, str]:
    """(model, inputs) of a run key ``<model>`` or ``<model>@<inputs>``."""
    model, _, inputs = key.partition("@")
    return model, inputs or test_inputs


def sketchydepth_table(metrics: dict[str, str | os.PathLike], out_csv: Path, out_md: Path, out_json: Path,
              thesis: str | os.PathLike | None = None, scalars: str | os.PathLike | None = None,
              rehearsal: bool = False, test_inputs: str = "ground_truth") -> pd.DataFrame:
    """Tabulate {run: image_metrics JSON} (a run: ``<model>`` on the test set, whose partial images are
    ``test_inputs``, or ``<model>@<inputs>``); writes CSV, Markdown and the DVC metrics JSON."""
    if test_inputs not in INPUTS:
        raise TableInputError(f"table 3.1: test inputs {test_inputs!r} unknown; known: {sorted(INPUTS)}")
    runs = {key: _run(key, test_inputs) for key in metrics}
    unknown = sorted(k for k, (m, i) in runs.items() if m not in THESIS_ROWS or i not in INPUTS)
    if unknown or not metrics:
        raise TableInputError(f"table 3.1: unknown model(s) {unknown}; known: {sorted(THESIS_ROWS)}, each alone or as "
                              f"<model>@<inputs> with inputs in {sorted(INPUTS)}")
    ref = reference(thesis, scalars)
    loaded = {m: _load(m, Path(p)) for m, p in metrics.items()}
    profiles = {"demo" if v["demo"] else "paper" for v in loaded.values()}
    if len(profiles) != 1:
        raise TableInputError("table 3.1: metrics of the demo and the paper profile mixed; rebuild one profile")
    profile = profiles.pop()
    results = []
    order = [k for inputs in (test_inputs, *INPUTS) for model in THESIS_ROWS  # the test set's runs first,
             for k in loaded if runs[k] == (model, inputs)]                   # each in the thesis's row order
    for key in dict.fromkeys(order):
        model, inputs = runs[key]
        row = THESIS_ROWS[model] if inputs == test_inputs else None  # other inputs: not the thesis's runs
        m = loaded[key]
        n = {k: int(v) for k, v in m["n"].items()}
        for kind in ("all", "fb", "bo"):
            values = {} if kind != "all" else {"SSIM": m["ssim"]}
            if m["fid"].get(kind) is not None:
                values["FID"] = m["fid"][kind]
            if m["kid"].get(kind) is not None:
                values[KID] = 1000.0 * m["kid"][kind]
            if m["interval"].get(kind) is not None:
                values.update(zip(CI, m["interval"][kind]))
            if kind == "all":
                for name, prefix in DEPTH_SETS.items():
                    got = (m["depth"].get(name) or {}).get("all") or {}
                    for metric, (col, factor) in DEPTH_COLUMNS.items():
                        if got.get(metric) is not None:
                            values[f"{prefix} {col}"] = factor * got[metric]
            if values:
                results.append(Result(key, row, ALL if kind == "all" else kind, profile, values,
                                      {"images": n[kind], "inputs": INPUTS[inputs]}))
    df = compare_with_thesis(results, TABLE_ID, ref, digits=4)
    rank = {c: i for i, c in enumerate(COLUMN_ORDER)}  # the thesis's columns first (the wide table's order)
    df = (df.assign(_rank=[rank.get((c, mt), len(rank)) for c, mt in zip(df["category"], df["metric"])])
          .sort_values("_rank", kind="stable").drop(columns="_rank").reset_index(drop=True))
    published = ref[ref["method"] == PUBLISHED_ROW].set_index("metric")["value"]
    any_m = next(iter(loaded.values()))
    context = [
        f"Thesis row 1, SketchyCOCO's published numbers (no run of ours): FID {published['FID']:.2f}, "
        f"SSIM {published['SSIM']:.4f}.",
        "Groups: `test` all test images; `fb` with foreground objects, `bo` background only (FID only; the "
        "thesis gives these in its text, 3.4.3).",
        f"FID network: {any_m['network']} ({any_m['dims']} dims).",
        f"Test inputs (partial images): {INPUTS[test_inputs]}"
        + ("" if profile == "paper" else " (the demo's scenes: their own pixels where a foreground object is)")
        + "; a `<model>@<inputs>` row is the same model on other inputs, not compared with the thesis.",
        f"SSIM: {_ssim_line(any_m['ssim_variant'])}.",
        *_beyond_lines(any_m),
    ]
    write_comparison(df, TITLE, out_csv, out_md, out_json, context, unit="FID and SSIM as computed",
                     rehearsal=rehearsal)
    return df
