"""The chapter's figures, drawn from the generated sets (triplet and depth sets of the test split):

- Fig. 3.3: input (partial image), SketchyDepth's image and the baseline's, for sketches with foreground
  objects (fb) and background-only sketches (bo);
- Fig. 3.4: SketchyDepth's image, its own depth map and MiDaS's depth of that image;
- Figs. 3.5, A.2-A.4: depth-based effects (:mod:`sketch3d.sketchydepth.effects`) on generated images with the
  generated depth;
- Fig. A.4: the same effects driven by our depth map and by MiDaS's depth of our image, row above row;
- Fig. 3.6: a 3D-photo zoom clip (:mod:`sketch3d.sketchydepth.photo3d`) of one generated image;
- Fig. 3.7: depth sketching, an area painted on our depth map and G_i's new image;
- Fig. A.1 (right): conditioning perturbation (A.1.6), translated copies of a test input and their images.

Examples are drawn at random (seeded) from the test split; every demo figure says it is a demo.
"""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sketch3d import DEMO_NOTICE  # noqa: E402
from sketch3d.report.figure_file import save_figure  # noqa: E402
from sketch3d.sketchydepth.triplets import Triplets, read_depths, read_triplets  # noqa: E402

FIGURE_EFFECTS = ("bokeh", "light", "fog", "hue", "grayscale", "cartoon")  # Fig. 3.5 (first four), A.1.2


def _fog(image: np.ndarray, fog: Path | None, seed: int) -> np.ndarray:
    """The fog image for ``image``: the user's file (``sketchydepth.figures.fog_overlay``) resized to it, or the
    seeded generated one (effects.fog_overlay), the same for every example of a figure."""
    from sketch3d.sketchydepth.effects import fog_overlay, load_overlay

    h, w = image.shape[:2]
    return load_overlay(fog, h, w) if fog is not None else fog_overlay(h, w, seed=seed)


def _effect_row(image: np.ndarray, depth: np.ndarray, effects: tuple[str, ...], fog: Path | None,
                seed: int) -> list[np.ndarray]:
    from sketch3d.sketchydepth.effects import apply_effect

    overlay = _fog(image, fog, seed) if "fog" in effects else None
    return [apply_effect(image, depth / 255.0, e, overlay=overlay if e == "fog" else None) for e in effects]


class FigureInputError(ValueError):
    """Generated sets that cannot be shown side by side."""


def pick(triplets: Triplets, n: int, seed: int, kind: str | None = None) -> list[int]:
    """``n`` seeded random examples (of ``kind`` if given), in the order drawn; fewer if there are fewer."""
    idx = [i for i, k in enumerate(triplets.kinds) if kind is None or k == kind]
    rng = np.random.default_rng([seed, 3, 0 if kind is None else 1 + ("fb", "bo").index(kind)])
    return [idx[i] for i in rng.permutation(len(idx))[:n]]


def _aligned(reference: Triplets, other: Triplets, where: str) -> Triplets:
    """``other`` reordered to ``reference``'s ids (generated sets are written in the test split's order)."""
    pos = {t: i for i, t in enumerate(other.ids)}
    missing = [t for t in reference.ids if t not in pos]
    if missing:
        raise FigureInputError(f"{where}: lacks {len(missing)} test triplet(s), e.g. {missing[:3]}; regenerate it")
    order = [pos[t] for t in reference.ids]
    return Triplets([other.ids[i] for i in order], [other.kinds[i] for i in order], other.partial[order],
                    other.image[order], None if other.depth is None else other.depth[order])


def _grid(rows: list[list[np.ndarray]], titles: list[str], title: str, out: Path, demo: bool,
          row_labels: list[str] | None = None) -> None:
    n_rows, n_cols = len(rows), len(titles)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.6 * n_cols, 1.6 * n_rows + 0.6), squeeze=False)
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            ax = axes[r][c]
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[c], fontsize=7)
            if c == 0 and row_labels:
                ax.set_ylabel(row_labels[r], fontsize=6)
    width = max(40, int(16 * n_cols))  # characters per title line that fit the figure
    head = "\n".join(textwrap.wrap(title, width) + (textwrap.wrap(DEMO_NOTICE, width) if demo else []))
    fig.suptitle(head, fontsize=7, color="darkred" if demo else "black")
    fig.tight_layout()
    save_figure(fig, out, dpi=150)


def figure_images(test: Path, ours: Path, baseline: Path, out: Path, n: int, seed: int, demo: bool) -> None:
    """Fig. 3.3: per row an input, our image and the baseline's; ``n`` fb rows, then ``n`` bo rows."""
    real = read_triplets(test)
    o, b = _aligned(real, read_triplets(ours), str(ours)), _aligned(real, read_triplets(baseline), str(baseline))
    chosen = [(k, i) for k in ("fb", "bo") for i in pick(real, n, seed, k)]
    if not chosen:
        raise FigureInputError(f"{test}: no test examples to show")
    rows = [[real.partial[i], o.image[i], b.image[i], real.image[i]] for _, i in chosen]
    _grid(rows, ["input (partial image)", "SketchyDepth", "baseline (pix2pix)", "ground truth"],
          "Fig. 3.3: scene images from sketches (test set)", out, demo, [f"{k} {real.ids[i]}" for k, i in chosen])


def figure_depth(ours: Path, ours_depth: Path, midas_depth: Path, out: Path, n: int, seed: int, demo: bool) -> None:
    """Fig. 3.4: our image, our depth map, MiDaS's depth map of our image (fb examples)."""
    gen = read_triplets(ours)
    _, d_ours = read_depths(ours_depth, gen.ids)
    _, d_midas = read_depths(midas_depth, gen.ids)
    chosen = pick(gen, n, seed, "fb") or pick(gen, n, seed)
    rows = [[gen.image[i], d_ours[i], d_midas[i]] for i in chosen]
    _grid(rows, ["SketchyDepth image", "SketchyDepth depth", "MiDaS on our image"],
          "Fig. 3.4: depth maps generated from sketches", out, demo, [gen.ids[i] for i in chosen])


def figure_effects(ours: Path, ours_depth: Path, out: Path, n: int, seed: int, demo: bool,
                   effects: tuple[str, ...] = FIGURE_EFFECTS, fog: Path | None = None) -> None:
    """Figs. 3.5, A.2-A.4: each effect with its default settings, driven by the generated depth; ``fog``: the
    fog image file (None: generated with ``seed``)."""
    gen = read_triplets(ours)
    _, depth = read_depths(ours_depth, gen.ids)
    chosen = pick(gen, n, seed, "fb") or pick(gen, n, seed)
    rows = [[gen.image[i], depth[i], *_effect_row(gen.image[i], depth[i], effects, fog, seed)] for i in chosen]
    _grid(rows, ["generated", "depth", *effects], "Figs. 3.5, A.2, A.3: depth-based effects on generated images",
          out, demo, [gen.ids[i] for i in chosen])


def figure_effects_midas(ours: Path, ours_depth: Path, midas_depth: Path, out: Path, n: int, seed: int, demo: bool,
                         effects: tuple[str, ...] = ("bokeh", "light", "fog"), fog: Path | None = None) -> None:
    """Fig. A.4: per example two rows, our depth map then MiDaS's (on our image), each with the image, the map
    and the effects at the same settings (the same start threshold and fog image for both maps, as in A.1.3)."""
    gen = read_triplets(ours)
    _, d_ours = read_depths(ours_depth, gen.ids)
    _, d_midas = read_depths(midas_depth, gen.ids)
    chosen = pick(gen, n, seed, "fb") or pick(gen, n, seed)
    rows, labels = [], []
    for i in chosen:
        for name, depth in (("ours", d_ours[i]), ("MiDaS", d_midas[i])):
            rows.append([gen.image[i], depth, *_effect_row(gen.image[i], depth, effects, fog, seed)])
            labels.append(f"{gen.ids[i]} {name}")
    _grid(rows, ["generated", "depth", *effects], "Fig. A.4: depth-based effects, our depth map against MiDaS's",
          out, demo, labels)


def figure_photo3d(ours: Path, ours_depth: Path, out: str | os.PathLike, seed: int, frames: int, zoom: float) -> None:
    """Fig. 3.6: a zoom clip (GIF) of one seeded random fb example."""
    from sketch3d.sketchydepth.photo3d import write_gif, zoom_frames

    gen = read_triplets(ours)
    _, depth = read_depths(ours_depth, gen.ids)
    chosen = pick(gen, 1, seed, "fb") or pick(gen, 1, seed)
    if not chosen:
        raise FigureInputError(f"{ours}: no generated image")
    i = chosen[0]
    write_gif(zoom_frames(gen.image[i], depth[i] / 255.0, frames=frames, zoom=zoom), out)


def sketch_on_depth(depth: np.ndarray, rng: np.random.Generator, value: int = 200) -> np.ndarray:
    """A depth edit as in 3.4.6: one new area (an ellipse, e.g. a bush or a tree) painted with a single fixed
    grey value (``value``, 255 = nearest) at a seeded random place in the lower half of the map."""
    from skimage.draw import ellipse

    s = depth.shape[0]
    out = depth.copy()
    r, c = rng.integers(s // 2, s - s // 8), rng.integers(s // 8, s - s // 8)
    rr, cc = ellipse(r, c, max(2, s // 8), max(2, s // 10), shape=depth.shape)
    out[rr, cc] = value
    return out


def figure_depth_sketch(ours: Path, checkpoint: Path, settings: dict, out: Path, n: int, seed: int, demo: bool,
                        device: str) -> None:
    """Fig. 3.7: our depth map, our image, the depth map with a sketched area, and G_i's image from it."""
    from sketch3d.sketchydepth.generation import image_from_depth

    gen = read_triplets(ours / "images")
    _, depth = read_depths(ours / "depth", gen.ids)
    chosen = pick(gen, n, seed)
    rng = np.random.default_rng([seed, 37])
    edited = np.stack([sketch_on_depth(depth[i], rng) for i in chosen])
    redone = image_from_depth(checkpoint, gen.partial[chosen], edited, settings, device)
    rows = [[depth[i], gen.image[i], edited[k], redone[k]] for k, i in enumerate(chosen)]
    _grid(rows, ["generated depth", "generated image", "sketched depth", "new image"],
          "Fig. 3.7: sketching the generated depth map", out, demo, [gen.ids[i] for i in chosen])


def figure_diversity(test: Path, checkpoint: Path, settings: dict, out: Path, n: int, seed: int, demo: bool,
                     device: str) -> None:
    """Fig. A.1 (right, A.1.6): per fb test example two rows, the input and ``copies`` translated copies of it
    (:func:`sketch3d.sketchydepth.generation.translate_objects`), then SketchyDepth's image of each, all with the
    same dropout draw (the differences are the translations'). At ``image_size: 256`` it is also A.1's left
    panel, a 256x256 image from a test sketch."""
    from sketch3d.sketchydepth.generation import images_from_partial, perturbation_settings, perturbed_inputs

    cfg = perturbation_settings(settings)
    real = read_triplets(test)
    chosen = pick(real, n, seed, "fb") or pick(real, n, seed)
    if not chosen:
        raise FigureInputError(f"{test}: no test examples to show")
    inputs = [np.concatenate([real.partial[i:i + 1],
                              perturbed_inputs(real.partial[i], seed, i, cfg["copies"], cfg["max_shift"],
                                               cfg["paper"])]) for i in chosen]
    images = images_from_partial(checkpoint, np.concatenate(inputs), settings, device)
    k = cfg["copies"] + 1
    rows, labels = [], []
    for j, i in enumerate(chosen):
        rows += [list(inputs[j]), list(images[j * k:(j + 1) * k])]
        labels += [f"{real.ids[i]} input", f"{real.ids[i]} image"]
    shift = round(cfg["max_shift"] * real.partial.shape[1])
    _grid(rows, ["as drawn", *(f"translated {c + 1}" for c in range(cfg["copies"]))],
          f"Fig. A.1: conditioning perturbation, each object moved by up to {shift} px "
          f"({real.partial.shape[1]}x{real.partial.shape[1]} images)", out, demo, labels)
