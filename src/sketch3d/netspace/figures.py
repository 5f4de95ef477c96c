"""Chapter 5's figures from ``evaluation.evaluate_netspace`` outputs.

- single: ``fig_5_3.png`` (a: target vs predicted accuracy of the test nets, sorted by the target's; b: accuracy along
  the interpolation between two anchors, in embedding space and in weight space) and ``fig_C_5.png`` (target vs
  predicted PRep of a test net, C.7);
- multi: ``fig_5_5_multi.png`` (left: targets vs predicted, sorted by ClassId; centre: interpolation LeNetLike ->
  ResNet32 coloured by the decoded architecture, circles at the anchors, stars at eq. 5.12's factors) and
  ``fig_C_6.png``;
- unseen: ``fig_5_5_unseen.png`` (the same interpolation, trained on LeNetLike and ResNet32 only);
- sdf: ``fig_5_4.png`` (meshes along the interpolation: embedding space top, weight space bottom).
The classification settings' figures carry their image set in the name (:func:`figure_names`:
``fig_5_3_tinyimagenet.png``, ``fig_5_3_cifar10.png``: the thesis's Figs. 5.3a/b and c/d, 5.5's rows).
Colours as the thesis's Fig. 5.5: red LeNetLike, blue VanillaCNN, green ResNet8, fuchsia ResNet32.
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sketch3d.netspace.evaluation import prep_image  # noqa: E402
from sketch3d.netspace.losses import interpolation_factors  # noqa: E402
from sketch3d.netspace.names import FIGURES, SEVERAL_ARCHITECTURES, figure_names  # noqa: E402,F401
from sketch3d.report.figure_file import save_figure  # noqa: E402

COLOURS = {"lenetlike": "red", "vanillacnn": "blue", "resnet8": "green", "resnet32": "fuchsia", "siren": "grey"}
DEMO_NOTE = "demo: a tiny zoo and NetSpace on the demo data - not the thesis's numbers"


class FigureInputError(ValueError):
    """An evaluation folder that cannot be drawn."""


def _save(fig, path: Path) -> None:
    save_figure(fig, path, dpi=90)


def _title(ax, text: str, demo: bool) -> None:
    ax.set_title(text + (f"\n({DEMO_NOTE})" if demo else ""), fontsize=8)


def _agreement_line(a: dict | None) -> str:
    """The numbers under panel a's title: Kendall's tau, R^2, the accuracy error (evaluation.agreement)."""
    if not a:
        return ""
    return (f"\nKendall tau {a['kendall_tau']:.2f}, R$^2$ {a['r2']:.2f}, |error| mean {a['accuracy_error_mean']:.1f} "
            f"max {a['accuracy_error_max']:.1f} (n={a['nets']})")


def _targets_panel(ax, rows: list[dict], multi: bool, demo: bool, agreement: dict | None = None) -> None:
    key = (lambda r: (r["class_id"], r["target"], r["net"])) if multi else (lambda r: (r["target"], r["net"]))
    rows = sorted(rows, key=key)
    xs = np.arange(len(rows))
    colours = [COLOURS.get(r["architecture"], "k") for r in rows] if multi else "tab:blue"
    ax.scatter(xs, [r["target"] for r in rows], marker="o", facecolors="none", edgecolors=colours, label="target")
    ax.scatter(xs, [r["predicted"] for r in rows], marker="x", c=colours if multi else "tab:orange",
               label="predicted")
    ax.set_xlabel("test net (sorted)"), ax.set_ylabel("test accuracy (%)"), ax.legend(fontsize=7)
    _title(ax, "target vs predicted instances" + _agreement_line(agreement), demo)


def _sweep_panel(ax, rows: list[dict], multi: bool, demo: bool, title: str) -> None:
    for (a, b) in dict.fromkeys((r["anchor_a"], r["anchor_b"]) for r in rows):
        pair = [r for r in rows if (r["anchor_a"], r["anchor_b"]) == (a, b)]
        if not multi:
            for space, style in (("embedding", "-o"), ("weights", "--s")):
                sel = [r for r in pair if r["space"] == space]
                ax.plot([r["factor"] for r in sel], [r["accuracy"] for r in sel], style, ms=3,
                        label=f"{space} space")
            continue
        sel = [r for r in pair if r["space"] == "embedding"]
        stars = interpolation_factors(4)
        for r in sel:
            g = r["factor"]
            boundary = g in (0.0, 1.0)
            star = any(abs(g - s) < 1e-3 for s in stars)
            ax.scatter(g, r["accuracy"], c=COLOURS.get(r["architecture"], "k"), s=60 if boundary or star else 14,
                       marker="*" if star else "o", edgecolors="k" if boundary else "none")
        for name, colour in COLOURS.items():
            if name != "siren":
                ax.scatter([], [], c=colour, label=name)
    ax.set_xlabel("interpolation factor"), ax.set_ylabel("test accuracy (%)"), ax.legend(fontsize=7)
    _title(ax, title, demo)


def _prep_figure(preps: np.lib.npyio.NpzFile, path: Path, demo: bool, title: str) -> None:
    fig, axes = plt.subplots(len(preps["names"]), 2, figsize=(6, 3 * len(preps["names"])), squeeze=False)
    for k, name in enumerate(preps["names"]):
        for j, (what, arr) in enumerate((("target", preps["target"][k]), ("predicted", preps["predicted"][k]))):
            img = prep_image(arr, int(preps["n_params"][k]))
            lim = float(np.percentile(np.abs(img), 99)) or 1.0
            axes[k, j].imshow(img, cmap="coolwarm", vmin=-lim, vmax=lim, interpolation="nearest")
            axes[k, j].set_axis_off()
            _title(axes[k, j], f"{what} PRep: {name}", False)
    fig.suptitle(title + (f"\n({DEMO_NOTE})" if demo else ""), fontsize=9)
    fig.tight_layout()
    _save(fig, path)


def _sdf_figure(folder: Path, rows: list[dict], path: Path, demo: bool) -> None:
    pair = rows[0]["anchor_a"], rows[0]["anchor_b"]
    rows = [r for r in rows if (r["anchor_a"], r["anchor_b"]) == pair]
    spaces = ("embedding", "weights")
    n = max(sum(r["space"] == s for r in rows) for s in spaces)
    fig = plt.figure(figsize=(2.2 * n, 4.6))
    for i, space in enumerate(spaces):
        for k, r in enumerate([r for r in rows if r["space"] == space]):
            ax = fig.add_subplot(2, n, i * n + k + 1, projection="3d")
            ax.set_axis_off()
            ax.set_title(f"{space} {r['factor']:.2f}", fontsize=7)
            if r["mesh"] is None:
                ax.text2D(0.3, 0.5, "no surface", transform=ax.transAxes, fontsize=7)
                continue
            m = np.load(folder / r["mesh"])
            v, f = m["vertices"], m["faces"]
            ax.plot_trisurf(v[:, 0], v[:, 2], v[:, 1], triangles=f, color="lightgrey", edgecolor="none",
                            shade=True)
            ax.set_xlim(-1, 1), ax.set_ylim(-1, 1), ax.set_zlim(-1, 1)
            ax.view_init(elev=20, azim=-60)
    fig.suptitle("SDF MLP interpolation: embedding space (top) vs weights (bottom)" +
                 (f"\n({DEMO_NOTE})" if demo else ""), fontsize=9)
    _save(fig, path)


def figure_netspace(evaluation: str | Path, out_dir: str | Path, demo: bool) -> list[Path]:
    """Draw the figures of one evaluation folder (its setting's ``FIGURES``) into ``out_dir``; returns the paths."""
    folder, out_dir = Path(evaluation), Path(out_dir)
    try:
        res = json.loads((folder / "results.json").read_text())
        setting = res["setting"]
        names = figure_names(setting, None if setting == "sdf" else res.get("dataset"))
    except FileNotFoundError:
        raise FigureInputError(f"{folder}: no results.json; run evaluate_netspace") from None
    except (ValueError, KeyError) as exc:
        raise FigureInputError(f"{folder}/results.json: not an evaluation ({exc}); rerun evaluate_netspace") from None
    paths = [out_dir / n for n in names]
    multi = setting in SEVERAL_ARCHITECTURES
    if setting == "sdf":
        _sdf_figure(folder, res["interpolation"], paths[0], demo)
        return paths
    if setting == "unseen":
        fig, ax = plt.subplots(figsize=(5, 3.6))
        _sweep_panel(ax, res["interpolation"], True, demo, "interpolation, trained on LeNetLike + ResNet32 only")
        fig.tight_layout()
        _save(fig, paths[0])
        return paths
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    _targets_panel(a, res["target_vs_predicted"], multi, demo, res.get("agreement"))
    _sweep_panel(b, res["interpolation"], multi, demo, "interpolation: embedding space" +
                 ("" if multi else " vs weights"))
    fig.tight_layout()
    _save(fig, paths[0])
    with np.load(folder / "preps.npz") as preps:
        _prep_figure(preps, paths[1], demo, "PReps: target (left) vs predicted (right)")
    return paths
