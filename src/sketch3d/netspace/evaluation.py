"""Evaluating a trained NetSpace (chapter 5.4): target vs predicted accuracy of the test nets (Figs. 5.3a/c, 5.5
left), interpolation between two anchors in embedding space and in weight space (Figs. 5.3b/d, 5.5 centre/right),
SDF MLP interpolation shapes (Fig. 5.4) and the PReps of target and predicted nets (Figs. C.5, C.6).

Settings (``netspace.evaluation``):

- ``factors``: interpolation factors per sweep, evenly from 0 to 1 (multi / unseen: and eq. 5.12's 1/3, 2/3; 5.4
  "moving with smaller steps" than those); paper 21, demo 11.
- ``pairs``: anchor pairs swept (single: lowest- vs highest-accuracy test nets, then the next ones; multi: LeNetLike vs
  ResNet32 test nets in name order); 1 in the thesis's figures.
- ``sdf_resolution``: marching-cubes grid of the SDF shapes (paper 128 as the peer, demo 40); ``sdf_shapes``: shapes
  per row of Fig. 5.4 (5); ``points`` and ``coordinates`` (``samples``: half outside, half inside each test
  MLP's shape's sample points, as NetSpace's training queries them; ``uniform``: in the cube): where the SDF
  test MLPs' close-enough fractions are measured.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from sketch3d.atomic import atomic_dir
from sketch3d.netspace.losses import interpolation_factors
from sketch3d.netspace.model import NetSpace
from sketch3d.netspace.names import SEVERAL_ARCHITECTURES
from sketch3d.netspace.training import (CLASSIFIERS, Target, accuracy, close_enough_fraction, draw_queries,
                                        make_targets, predicted_forward, templates_for)

DEFAULTS = {"factors": 11, "pairs": 1, "sdf_resolution": 40, "sdf_shapes": 5, "tolerance": 0.01, "points": 20000}


class EvaluationInputError(ValueError):
    """Bad nets, model or settings given to the evaluation."""


@torch.no_grad()
def decode(model: NetSpace, e: torch.Tensor, templates: Mapping[str, nn.Module]) -> list[tuple[str, torch.Tensor]]:
    """(architecture, PRep) per embedding: multi models pick the architecture by the ClassId head (5.4)."""
    preps_ = model.decode(e)
    if model.head is None:
        (name,) = templates
        return [(name, p) for p in preps_]
    ids = model.classify(e).argmax(1).tolist()
    return [(CLASSIFIERS[i], p) for i, p in zip(ids, preps_)]


@torch.no_grad()
def decoded_accuracy(arch: str, prep: torch.Tensor, templates: Mapping[str, nn.Module], x, y) -> float:
    return accuracy(lambda b: predicted_forward(templates[arch], prep, b), x, y)


@torch.no_grad()
def target_vs_predicted(model: NetSpace, targets: Sequence[Target], templates: Mapping[str, nn.Module],
                        x: torch.Tensor, y: torch.Tensor, keep: dict | None = None) -> list[dict]:
    """Per test net: target accuracy, predicted net's accuracy and architecture (Figs. 5.3a/c, 5.5 left);
    ``keep`` (optional) receives each net's decoded PRep by name."""
    e = model.encode(torch.stack([t.prep for t in targets]))
    rows = []
    for t, (arch, p) in zip(targets, decode(model, e, templates)):
        if keep is not None:
            keep[t.name] = p
        rows.append({"net": t.name, "architecture": t.architecture, "class_id": t.class_id,
                     "target": accuracy(t.net, x, y), "predicted": decoded_accuracy(arch, p, templates, x, y),
                     "predicted_architecture": arch})
    return rows


def factors_of(n: int) -> list[float]:
    if int(n) < 2:
        raise EvaluationInputError(f"netspace.evaluation.factors={n}: need at least 2 (the two anchors)")
    return [round(float(g), 6) for g in np.linspace(0.0, 1.0, int(n))]


@torch.no_grad()
def interpolation_sweep(model: NetSpace, a: Target, b: Target, templates: Mapping[str, nn.Module], x: torch.Tensor,
                        y: torch.Tensor, factors: Sequence[float]) -> list[dict]:
    """Accuracy of the nets decoded from (1 - g) e_a + g e_b, and (same architecture only) of the nets whose PRep is
    (1 - g) P_a + g P_b (the thesis's weight-space baseline), per factor g."""
    e = model.encode(torch.stack([a.prep, b.prep]))
    eg = torch.stack([(1 - g) * e[0] + g * e[1] for g in factors])
    rows = []
    for g, (arch, p) in zip(factors, decode(model, eg, templates)):
        rows.append({"anchor_a": a.name, "anchor_b": b.name, "factor": g, "space": "embedding",
                     "architecture": arch, "accuracy": decoded_accuracy(arch, p, templates, x, y)})
    if a.architecture == b.architecture:
        template = a.net
        for g in factors:
            p = (1 - g) * a.prep + g * b.prep
            rows.append({"anchor_a": a.name, "anchor_b": b.name, "factor": g, "space": "weights",
                         "architecture": a.architecture,
                         "accuracy": accuracy(lambda z: predicted_forward(template, p, z), x, y)})
    return rows


def anchor_pairs(targets: Sequence[Target], setting: str, pairs: int) -> list[tuple[Target, Target]]:
    """single: (lowest, highest) target accuracy, then the next ones inwards (accuracy in ``cache['test']``);
    multi / unseen: LeNetLike vs ResNet32 test nets in name order; sdf: test MLPs in name order, two by two."""
    if setting == "single":
        ranked = sorted(targets, key=lambda t: (t.cache["test"], t.name))
        out = [(ranked[k], ranked[-1 - k]) for k in range(min(pairs, len(ranked) // 2))]
    elif setting == "sdf":
        ranked = sorted(targets, key=lambda t: t.name)
        out = [(ranked[2 * k], ranked[2 * k + 1]) for k in range(min(pairs, len(ranked) // 2))]
    else:
        lo = sorted((t for t in targets if t.class_id == 0), key=lambda t: t.name)
        hi = sorted((t for t in targets if t.class_id == len(CLASSIFIERS) - 1), key=lambda t: t.name)
        out = list(zip(lo, hi))[:pairs]
    if not out:
        raise EvaluationInputError(f"{setting}: the test nets hold no anchor pair for the interpolation")
    return out


# ----------------------------------------------------------------------------- the numbers a reader checks

def r_squared(target: Sequence[float], predicted: Sequence[float]) -> float:
    """Coefficient of determination of ``predicted`` as a prediction of ``target``: 1 - SS_res / SS_tot (1: equal;
    0: no better than the targets' mean; negative: worse). NaN when the targets do not vary."""
    t, p = np.asarray(target, float), np.asarray(predicted, float)
    ss_tot = float(((t - t.mean()) ** 2).sum())
    return float("nan") if ss_tot == 0 else 1.0 - float(((t - p) ** 2).sum()) / ss_tot


def agreement(rows: Sequence[Mapping]) -> dict:
    """How well decoded nets' accuracies track their targets' (``target_vs_predicted`` rows): Kendall's tau (scipy's
    tau-b, and its p-value), R^2 (:func:`r_squared`), the accuracy error |target - predicted| (mean, max, points),
    the share of decoded nets with the target's architecture (multi / unseen) and the nets counted."""
    from scipy.stats import kendalltau

    t = [float(r["target"]) for r in rows]
    p = [float(r["predicted"]) for r in rows]
    err = np.abs(np.asarray(t) - np.asarray(p))
    out = {"nets": len(rows), "mean_target": float(np.mean(t)), "mean_predicted": float(np.mean(p)),
           "accuracy_error_mean": float(err.mean()), "accuracy_error_max": float(err.max())}
    if len(rows) >= 2:
        tau = kendalltau(t, p)
        out.update(kendall_tau=float(tau.statistic), kendall_p=float(tau.pvalue), r2=r_squared(t, p))
    else:
        out.update(kendall_tau=float("nan"), kendall_p=float("nan"), r2=float("nan"))
    if all("predicted_architecture" in r for r in rows):
        out["architecture_match"] = float(np.mean([r["predicted_architecture"] == r["architecture"] for r in rows]))
    return out


def model_size(model: NetSpace, test_nets: Sequence[tuple[nn.Module, dict]]) -> dict:
    """The honest size of NetSpace beside the nets it embeds: encoder, decoder, ClassId head parameters, the
    embedding's values, and per architecture of the zoo the parameters of one net (folded, as embedded)."""
    def count(m):
        return 0 if m is None else sum(p.numel() for p in m.parameters())

    zoo = {}
    for net, record in test_nets:
        zoo.setdefault(record["architecture"], count(net))
    return {"encoder": count(model.encoder), "decoder": count(model.decoder), "class_head": count(model.head),
            "netspace_total": count(model), "embedding": int(model.embedding), "prep_shape": list(model.prep_shape),
            "zoo_net_params": zoo}


def sweep_summary(rows: Sequence[Mapping], targets: Sequence[Target]) -> list[dict]:
    """Per interpolation sweep (anchors, space): the anchors' own accuracies (the target nets'), the accuracies
    at the ends and the least and greatest along the sweep."""
    acc = {t.name: t.cache.get("test") for t in targets}
    out = []
    for key in dict.fromkeys((r["anchor_a"], r["anchor_b"], r["space"]) for r in rows):
        curve = sorted((r["factor"], r["accuracy"]) for r in rows if (r["anchor_a"], r["anchor_b"], r["space"]) == key)
        values = [a for _, a in curve]
        out.append({"anchor_a": key[0], "anchor_b": key[1], "space": key[2], "anchor_a_accuracy": acc.get(key[0]),
                    "anchor_b_accuracy": acc.get(key[1]), "at_0": values[0], "at_1": values[-1],
                    "min": min(values), "max": max(values)})
    return out


# ----------------------------------------------------------------------------- SDF MLPs

def sdf_grid(fn, resolution: int, chunk: int = 65536) -> np.ndarray:
    """SDF values of ``fn`` (points [N, 3] -> [N]) on a resolution^3 grid over [-1, 1]^3."""
    ax = torch.linspace(-1, 1, int(resolution))
    pts = torch.stack(torch.meshgrid(ax, ax, ax, indexing="ij"), -1).reshape(-1, 3)
    with torch.no_grad():
        vals = torch.cat([fn(pts[k:k + chunk]) for k in range(0, len(pts), chunk)])
    return vals.reshape(resolution, resolution, resolution).numpy()


def mesh_of(grid: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Marching cubes of the zero level (scikit-image) in [-1, 1]^3; None where the SDF has no zero crossing."""
    from skimage.measure import marching_cubes

    if not (grid.min() < 0 < grid.max()):
        return None
    n = grid.shape[0]
    verts, faces, _, _ = marching_cubes(grid, 0.0, spacing=(2 / (n - 1),) * 3)
    return (verts - 1).astype(np.float32), faces.astype(np.int32)


@torch.no_grad()
def sdf_interpolation(model: NetSpace, a: Target, b: Target, factors: Sequence[float], resolution: int,
                      out_dir: Path) -> list[dict]:
    """Meshes of the MLPs from interpolated embeddings and from interpolated weights (Fig. 5.4), saved as
    ``<space>_<k>.npz`` (vertices, faces) in ``out_dir``; rows: factor, space, file (None where no surface)."""
    template = a.net
    e = model.encode(torch.stack([a.prep, b.prep]))
    decoded = model.decode(torch.stack([(1 - g) * e[0] + g * e[1] for g in factors]))
    rows = []
    for space, ps in (("embedding", list(decoded)), ("weights", [(1 - g) * a.prep + g * b.prep for g in factors])):
        for k, (g, p) in enumerate(zip(factors, ps)):
            m = mesh_of(sdf_grid(lambda z: predicted_forward(template, p, z), resolution))
            name = None
            if m is not None:
                name = f"{space}_{k:02d}.npz"
                np.savez_compressed(out_dir / name, vertices=m[0], faces=m[1])
            rows.append({"anchor_a": a.name, "anchor_b": b.name, "factor": g, "space": space, "mesh": name})
    return rows


@torch.no_grad()
def sdf_target_vs_predicted(model: NetSpace, targets: Sequence[Target], points: torch.Tensor | Sequence,
                            tolerance: float, keep: dict | None = None) -> list[dict]:
    """Close-enough fraction of each predicted MLP against its target (C.5) at ``points`` ([N, 3] shared, or one
    [N, 3] per target); ``keep`` (optional) receives each net's decoded PRep by name."""
    (name,) = {t.architecture for t in targets}
    e = model.encode(torch.stack([t.prep for t in targets]))
    decoded = model.decode(e)
    if keep is not None:
        keep.update({t.name: decoded[i] for i, t in enumerate(targets)})
    per_net = not torch.is_tensor(points) or points.dim() == 3
    return [{"net": t.name, "architecture": name, "close_enough": close_enough_fraction(
        predicted_forward(t.net, decoded[i], points[i] if per_net else points),
        t.net(points[i] if per_net else points), tolerance)} for i, t in enumerate(targets)]


# ----------------------------------------------------------------------------- the job

def evaluate_netspace(model: NetSpace, record: Mapping, test_nets: Sequence[tuple[nn.Module, dict]],
                      data: Mapping | None, settings: Mapping, out: str | Path, seed: int = 0) -> dict:
    """All evaluations of one trained NetSpace (``training.load_netspace``) on its setting's test nets
    (``training.load_net`` pairs); ``data``: ``{"test": (images, labels)}`` (not sdf). Writes ``out/``
    atomically: ``results.json`` (target vs predicted, sweeps), ``preps.npz`` (the first test nets' target and
    predicted PReps, Figs. C.5/C.6) and, for sdf, the interpolation meshes. Returns the results."""
    s = {**DEFAULTS, **dict(settings)}
    setting = record["setting"]
    if not test_nets:
        raise EvaluationInputError(f"{setting}: no test nets given")
    width, height = int(record["prep_width"]), int(record["prep_height"])
    targets = make_targets(test_nets, width, height)
    templates = templates_for([n for n, _ in test_nets], setting)
    factors = factors_of(s["factors"])
    if setting in SEVERAL_ARCHITECTURES:  # eq. 5.12's factors too: the stars of Fig. 5.5
        factors = sorted(set(factors) | {round(g, 6) for g in interpolation_factors(len(CLASSIFIERS))})
    results: dict = {"setting": setting, "factors": factors, "dataset": s.get("dataset")}
    decoded: dict = {}  # test net name -> its decoded PRep (made once: a paper-size decode is the costly part)
    with atomic_dir(out) as tmp:
        if setting == "sdf":
            gen = torch.Generator().manual_seed(seed)
            if s.get("coordinates", "samples") == "samples":  # as training queries: the nets' own sample points
                pts = [draw_queries(t, int(s["points"]), gen) for t in targets]
            else:
                pts = torch.rand(int(s["points"]), 3, generator=gen) * 2 - 1
            results["target_vs_predicted"] = sdf_target_vs_predicted(model, targets, pts, float(s["tolerance"]), decoded)
            close = [r["close_enough"] for r in results["target_vs_predicted"]]
            results["agreement"] = {"nets": len(close), "close_enough_mean": float(np.mean(close)),
                                    "close_enough_min": float(np.min(close))}
            rows = []
            for a, b in anchor_pairs(targets, setting, int(s["pairs"])):
                shape_factors = factors_of(s["sdf_shapes"])
                rows += sdf_interpolation(model, a, b, shape_factors, int(s["sdf_resolution"]), tmp)
            results["interpolation"] = rows
        else:
            if not data or "test" not in data:
                raise EvaluationInputError(f"{setting}: test images required")
            x, y = data["test"]
            results["target_vs_predicted"] = target_vs_predicted(model, targets, templates, x, y, decoded)
            for t, r in zip(targets, results["target_vs_predicted"]):
                t.cache["test"] = r["target"]
            rows = []
            for a, b in anchor_pairs(targets, setting, int(s["pairs"])):
                rows += interpolation_sweep(model, a, b, templates, x, y, factors)
            results["interpolation"] = rows
            results["agreement"] = agreement(results["target_vs_predicted"])
            results["sweeps"] = sweep_summary(rows, targets)
        results["size"] = model_size(model, test_nets)
        # Figs. C.5 / C.6: two test nets' PReps (multi: the largest architecture's, C.6 shows ResNet32)
        shown = sorted(targets, key=lambda t: (-(t.class_id or 0), t.name))[:2]
        np.savez_compressed(tmp / "preps.npz", names=np.array([t.name for t in shown]),
                            n_params=np.array([sum(p.numel() for p in t.net.parameters()) for t in shown]),
                            target=torch.stack([t.prep for t in shown]).numpy(),
                            predicted=torch.stack([decoded[t.name] for t in shown]).numpy())
        (tmp / "results.json").write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return results


def prep_image(prep: np.ndarray, n_params: int | None = None, rows: int | None = None) -> np.ndarray:
    """A PRep [H, W] reshaped to a near-square image for display (C.7: 'reshaped to ... form factors amenable to
    clear visualization'): its first ``n_params`` values (default all) in rows of about their square root."""
    flat = np.asarray(prep).reshape(-1)[:n_params]
    side = rows or int(np.ceil(np.sqrt(flat.size)))
    pad = (-flat.size) % side
    return np.pad(flat, (0, pad)).reshape(-1, side)

