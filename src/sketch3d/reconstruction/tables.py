"""The reconstruction score table: Chamfer distance and volumetric IoU per example and supervision, and
their means over the examples (``scores.reconstruction_scores``'s CSV).

The thesis (4.3.3) reports no numbers for these experiments, only Figs 4.5-4.9; the table says so, and
carries no thesis column. Outputs: Markdown (wide: one row per example, a Chamfer and an IoU column per
supervision, the mean last), CSV (long), and a DVC metrics JSON (means per supervision).
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from sketch3d import REHEARSAL_NOTICE
from sketch3d.atomic import write_text

TABLE_ID = "reconstruction"  # the chapter's one table (the thesis has none: 4.3.3 shows figures only)
# this chapter's tables (found by sketch3d.table_stages) and the params.yaml sections their jobs read (their DVC
# stages' params)
TABLE_IDS = (TABLE_ID,)
TABLE_PARAMS = ("seed", "render", "features", "reconstruction")
SUPERVISION_TITLES = {"sdf": "SDF", "clip": "CLIP", "clip_argmax": "CLIP argmax"}
NOTE = ("The thesis reports no numbers for its inversions (section 4.3.3 shows Figs 4.5-4.9 only): these are "
        "ours. Chamfer: mean of both directions' nearest-surface distances, mesh units (bounding-box diagonal "
        "1), lower is better; IoU: volumetric IoU of the SDF grids' insides, higher is better. Best styles = "
        "lowest loss. -: the inverted shape is empty (no surface at the level), so it has no Chamfer distance; "
        "the means leave it out.")


class TableError(ValueError):
    pass


def summarise(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation of chamfer and iou per supervision, and the number of examples."""
    g = scores.groupby("supervision", sort=False)
    out = g[["chamfer", "iou"]].agg(["mean", "std"])
    out.columns = [f"{m}_{s}" for m, s in out.columns]
    out["examples"] = g.size()
    return out.reset_index()


def _cell(value, digits: int) -> str:
    """A table cell: the value, or "-" where there is none (an empty inverted shape has no Chamfer distance)."""
    return "-" if pd.isna(value) else f"{float(value):.{digits}f}"


def _number(value) -> float | None:
    """A metrics value for strict JSON: None where there is none."""
    return None if pd.isna(value) else round(float(value), 6)


def reconstruction_table(scores_csv: Path, out_md: Path, out_csv: Path, out_json: Path, demo: bool = False,
                         rehearsal: bool = False) -> pd.DataFrame:
    scores = pd.read_csv(scores_csv, dtype={"example": str, "shape_id": str})
    missing = [c for c in ("example", "supervision", "chamfer", "iou") if c not in scores.columns]
    if missing:
        raise TableError(f"{scores_csv} lacks columns {missing}: rebuild it with reconstruction_scores")
    order = [s for s in SUPERVISION_TITLES if s in set(scores["supervision"])]
    means = summarise(scores)
    # dropna=False: an empty inverted shape has no Chamfer distance (NaN); its column stays, printed as "-"
    wide = scores.pivot_table(index=["example", "shape_id"], columns="supervision", values=["chamfer", "iou"],
                              dropna=False)
    header = ["example", "shape"] + [f"{SUPERVISION_TITLES[s]} {m}" for s in order for m in ("Chamfer", "IoU")]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (example, shape), row in wide.iterrows():
        cells = [str(example), str(shape)]
        for s in order:
            cells += [_cell(row[("chamfer", s)], 4), _cell(row[("iou", s)], 3)]
        lines.append("| " + " | ".join(cells) + " |")
    cells = ["**mean**", ""]
    for s in order:
        m = means[means["supervision"] == s].iloc[0]
        cells += [f"**{_cell(m['chamfer_mean'], 4)}**", f"**{_cell(m['iou_mean'], 3)}**"]
    lines.append("| " + " | ".join(cells) + " |")
    title = "# Reconstruction by inversion (thesis 4.3.3): Chamfer distance and IoU to the target shapes"
    notice = ""
    if demo:
        from sketch3d import DEMO_NOTICE

        notice = f"\n**{DEMO_NOTICE}** The generator is the demo's, trained briefly on procedural chairs.\n"
    if rehearsal:
        notice = f"\n**{REHEARSAL_NOTICE}**\n"
    write_text(out_md, f"{title}\n{notice}\n" + "\n".join(lines) + f"\n\n{NOTE}\n")
    long = scores.melt(id_vars=["example", "shape_id", "supervision"], value_vars=["chamfer", "iou"],
                       var_name="metric", value_name="ours")
    long.insert(0, "table", TABLE_ID)
    long["thesis"] = None
    write_text(out_csv, long.to_csv(index=False, float_format="%.6g"))
    metrics = {SUPERVISION_TITLES.get(r.supervision, r.supervision): {
        "chamfer": _number(r.chamfer_mean), "iou": _number(r.iou_mean), "examples": int(r.examples)}
        for r in means.itertuples(index=False)}
    payload = {"reconstruction": metrics, "demo": demo, **({"rehearsal": True} if rehearsal else {})}
    write_text(out_json, json.dumps(payload, indent=1, sort_keys=True) + "\n")
    return means
