"""The reconstruction score table: the field's shape scores (scores.METRICS) per supervision and the mean-shape baseline, and
their means over the examples (``scores.reconstruction_scores``'s CSV).

The thesis (4.3.3) reports no numbers for these experiments, only Figs 4.5-4.9; the table says so, and
carries no thesis column. Outputs: Markdown (the means per method, the mean-shape baseline first, with how many
shapes each mean is over and how many failed; then one row per example, CD-L1 / IoU per method; with the
per-snapshot scores, how often the lowest loss was not the best shape), CSV (long), and a DVC metrics JSON (means,
``examples``, ``scored``, ``empty`` per method).
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from sketch3d import REHEARSAL_NOTICE
from sketch3d.atomic import write_text
from sketch3d.reconstruction.names import TABLE_ID, TABLE_IDS, TABLE_PARAMS  # noqa: F401  (table_stages)

SUPERVISION_TITLES = {"mean": "Mean shape (start)", "retrieval": "Retrieval nearest neighbour (4.2)", "sdf": "SDF",
                      "clip": "CLIP", "clip_argmax": "CLIP argmax", "clip_lines": "CLIP, line rendering"}
METRIC_TITLES = {"chamfer_l1": ("CD-L1 x10^3 (lower)", 2), "chamfer_l2": ("CD-L2 x10^3 (lower)", 3),
                 "f1": ("F@1% (higher)", 3), "f2": ("F@2% (higher)", 3),
                 "normal_consistency": ("NC (higher)", 3), "iou": ("IoU (higher)", 3)}
SURFACE = ["chamfer_l1", "chamfer_l2", "f1", "f2", "normal_consistency"]
NOTE = ("The thesis reports no numbers for its inversions (section 4.3.3 shows Figs 4.5-4.9 only): these are "
        "ours, scored as reconstruction papers score shapes, against samples of the target shape's own surface "
        "(not its SDF grid's mesh). Distances are in units of the target's largest bounding-box side; Chamfer-L1 "
        "(mean nearest-sample distance, both directions averaged) and Chamfer-L2 (squared) x10^3; F@1%, F@2%: "
        "F-score at 1 % and 2 % of that side (Tatarchenko et al. 2019); NC: normal consistency; IoU: volumetric "
        "IoU of the SDF grids' insides at the meshing level (mc_level). Best styles = lowest loss. Mean shape: "
        "the mean styles every inversion starts from (a baseline). Retrieval nearest neighbour: the shape that "
        "chapter 4.2's retrieval ranks first for the example's sketch (its gallery holds the true shape, so a "
        "correct retrieval scores the target itself), prepared as the targets are. Empty: inverted shapes with no surface at the "
        "meshing level (failures): they have no surface scores, so the surface means are over the 'scored' "
        "shapes only (n of N), while IoU is over all N (an empty shape's IoU is 0). CLIP and CLIP argmax compare "
        "the sketch with the shaded rendering (reconstruction.render.renderer, the thesis's SDFDiff-style image); "
        "'CLIP, line rendering' with a line drawing of the shape; both framed into the same box as the sketch.")


class TableError(ValueError):
    pass


def summarise(scores: pd.DataFrame) -> pd.DataFrame:
    """Per supervision: the mean and std of every metric (NaN, i.e. empty shapes, left out), ``examples``
    (all rows), ``scored`` (rows with surface scores) and ``empty`` (failures)."""
    from sketch3d.reconstruction.scores import METRICS

    g = scores.groupby("supervision", sort=False)
    out = g[METRICS].agg(["mean", "std"])
    out.columns = [f"{m}_{s}" for m, s in out.columns]
    out["examples"] = g.size()
    out["scored"] = g["chamfer_l1"].count()
    empty = scores["empty"].astype(str).str.lower().isin(["true", "1"]) if "empty" in scores else scores["chamfer_l1"].isna()
    out["empty"] = empty.groupby(scores["supervision"], sort=False).sum().astype(int)
    return out.reset_index()


def _cell(value, digits: int) -> str:
    """A table cell: the value, or "-" where there is none (an empty inverted shape has no surface scores)."""
    return "-" if pd.isna(value) else f"{float(value):.{digits}f}"


def _number(value) -> float | None:
    """A metrics value for strict JSON: None where there is none."""
    return None if pd.isna(value) else round(float(value), 6)


def snapshot_note(snapshots_csv: Path | None) -> str:
    """One sentence from the per-snapshot scores: in how many inversions the lowest-loss snapshot is not the
    one of the best Chamfer-L1."""
    if snapshots_csv is None or not Path(snapshots_csv).is_file():
        return ""
    from sketch3d.reconstruction.scores import lowest_loss_vs_best_shape

    snaps = pd.read_csv(snapshots_csv, dtype={"example": str, "shape_id": str})
    cmp = lowest_loss_vs_best_shape(snaps)
    if cmp.empty:
        return ""
    differ = cmp[cmp["lowest_loss_iteration"] != cmp["best_iteration"]]
    worse = (differ["chamfer_l1_at_lowest_loss"] / differ["best_chamfer_l1"]).mean() if len(differ) else float("nan")
    tail = f" (there its Chamfer-L1 is {worse:.2f}x the best snapshot's, on average)" if len(differ) else ""
    return (f"\n\nLowest loss vs best shape (per-snapshot scores, score_vs_iteration.png): in {len(differ)} of "
            f"{len(cmp)} inversions the scored snapshot of lowest loss is not the one of lowest Chamfer-L1{tail}.")


def reconstruction_table(scores_csv: Path, out_md: Path, out_csv: Path, out_json: Path, demo: bool = False,
                         rehearsal: bool = False, snapshots_csv: Path | None = None) -> pd.DataFrame:
    from sketch3d.reconstruction.scores import METRICS

    scores = pd.read_csv(scores_csv, dtype={"example": str, "shape_id": str})
    missing = [c for c in ("example", "supervision", *METRICS) if c not in scores.columns]
    if missing:
        raise TableError(f"{scores_csv} lacks columns {missing}: rebuild it with reconstruction_scores")
    order = [s for s in SUPERVISION_TITLES if s in set(scores["supervision"])]
    means = summarise(scores).set_index("supervision")
    header = ["method", *(METRIC_TITLES[m][0] for m in METRICS), "scored (of N)", "empty"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in order:
        m = means.loc[s]
        cells = [SUPERVISION_TITLES[s], *(_cell(m[f"{k}_mean"], METRIC_TITLES[k][1]) for k in METRICS),
                 f"{int(m['scored'])} of {int(m['examples'])}", str(int(m["empty"]))]
        lines.append("| " + " | ".join(cells) + " |")
    # per example: CD-L1 and IoU of every method
    # one row per example (not pivot_table's product of example and shape ids), "-" where a method has no value
    shapes = dict(zip(scores["example"], scores["shape_id"]))
    cells = {(r.example, r.supervision): (r.chamfer_l1, r.iou) for r in scores.itertuples(index=False)}
    head2 = ["example", "shape", *(f"{SUPERVISION_TITLES[s]} CD-L1 / IoU" for s in order)]
    per = ["| " + " | ".join(head2) + " |", "|" + "---|" * len(head2)]
    for example in sorted(shapes):
        row = {(m, s): v for s in order for m, v in zip(("chamfer_l1", "iou"), cells.get((example, s), (None, None)))}
        per.append("| " + " | ".join([str(example), str(shapes[example]), *(
            f"{_cell(row.get(('chamfer_l1', s)), 2)} / {_cell(row.get(('iou', s)), 3)}" for s in order)]) + " |")
    title = "# Reconstruction by inversion (thesis 4.3.3): scores against the target shapes"
    notice = ""
    if demo:
        from sketch3d import DEMO_NOTICE

        notice = f"\n**{DEMO_NOTICE}** The generator is the demo's, trained briefly on procedural chairs.\n"
    if rehearsal:
        notice = f"\n**{REHEARSAL_NOTICE}**\n"
    write_text(out_md, f"{title}\n{notice}\nMeans over the examples (surface scores over the scored shapes, IoU "
               f"over all):\n\n" + "\n".join(lines) + "\n\nPer example (CD-L1 x10^3 / IoU):\n\n" + "\n".join(per)
               + f"\n\n{NOTE}{snapshot_note(snapshots_csv)}\n")
    long = scores.melt(id_vars=["example", "shape_id", "supervision"], value_vars=METRICS,
                       var_name="metric", value_name="ours")
    long.insert(0, "table", TABLE_ID)
    long["thesis"] = None
    write_text(out_csv, long.to_csv(index=False, float_format="%.6g"))
    metrics = {SUPERVISION_TITLES.get(s, s): {**{k: _number(means.loc[s, f"{k}_mean"]) for k in METRICS},
                                               "examples": int(means.loc[s, "examples"]),
                                               "scored": int(means.loc[s, "scored"]),
                                               "empty": int(means.loc[s, "empty"])} for s in order}
    payload = {"reconstruction": metrics, "demo": demo, **({"rehearsal": True} if rehearsal else {})}
    write_text(out_json, json.dumps(payload, indent=1, sort_keys=True) + "\n")
    return means.reset_index()
