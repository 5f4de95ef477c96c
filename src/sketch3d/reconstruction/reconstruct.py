"""``sketch3d reconstruct SKETCH --out MESH.obj``: a 3D shape for a user's sketch by CLIP inversion.

The sketch is read as ``sketch3d query`` reads one: our ``.json``, QuickDraw ``.ndjson`` (``index`` picks
the drawing), AmateurSketch-style ``.svg`` (all through ``data.sketch_files``), or a ``.png``/``.jpg``
drawing (black on white); vector sketches are rasterised at 224 px as the data stage does
(``data.sketch.rasterize``). The generator is inverted with the CLIP loss (eq. 4.7; ``clip_argmax``
on request) from the mean style, as in ``inversion.invert``, seen from the front (azimuth 0, elevation 20),
and the lowest-loss shape is meshed (marching cubes, ``mc_resolution`` / ``mc_level``) into an OBJ in
the pipeline's mesh frame (Y up, front +Z).

Framing: a user's drawing fills its canvas, while a rendering of a chair at the pipeline's camera fills
about a third of the image. As in the workflow's inversions, the sketch and every rendering are fitted into
the same box (``reconstruction.inversion.frame_box``, chapter 4.2's box fitting, ``features.box``) before
CLIP compares them, so they are compared at the same scale and centre.

Progress: on a terminal a progress bar (tqdm: iterations, loss, best loss, time left) on stderr; otherwise
a line every ``progress_every`` iterations.
"""
from __future__ import annotations

import copy
import logging
import sys
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import torch

from sketch3d.atomic import atomic_path

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class ReconstructError(ValueError):
    """A sketch, generator or setting ``reconstruct`` cannot use."""


def results_dir(params: Mapping) -> Path:
    """Where the workflow writes this profile's outputs (``sketch3d.config.results_dir``, the workflow's RESULTS)."""
    from sketch3d.config import results_dir as workflow_results

    return workflow_results(dict(params))


def default_generator(params: Mapping) -> tuple[Path, Path]:
    """(weights, mean style file) ``sketch3d reconstruct`` uses when no ``--generator`` is given: the paper
    profile's official checkpoint (``reconstruction.generator.weights``); the demo's own generator, trained by the
    workflow (``train_generator``), under the demo profile (the paper checkpoint is not the demo's architecture).
    The mean style file is the workflow's ``mean_style`` output beside it (used when present). Raises, saying what
    to run, when the weights are not there."""
    generated = results_dir(params) / "reconstruction" / "generator"
    mean = generated / "mean_style.npz"
    if params.get("profile") == "paper":
        weights = Path(((params.get("reconstruction") or {}).get("generator") or {}).get("weights") or "")
        if not weights.is_file():
            raise ReconstructError(
                f"the paper profile's generator {weights} (reconstruction.generator.weights) does not exist: place "
                "SDF-StyleGAN's chair checkpoint epoch=199.ckpt there (the README's data table says where to get "
                "it), or give --generator PATH")
        return weights, mean
    weights = generated / "generator.pt"
    if not weights.is_file():
        raise ReconstructError(
            f"the demo's generator {weights} does not exist yet: the demo profile reconstructs with the generator "
            "its workflow trains; run the demo's chapter 4.3 first (`snakemake --cores all reconstruction`, or the "
            "whole demo: `bash scripts/demo.sh`), or give --generator PATH (a generator saved by sketch3d, or the "
            "official epoch=199.ckpt with --profile paper)")
    return weights, mean


def read_sketch_image(path: str | Path, index: int = 0, size: int = 224) -> np.ndarray:
    """Any supported sketch file -> grey uint8 [size, size], black lines on white; errors name the file."""
    from sketch3d.data.sketch import SketchError, rasterize
    from sketch3d.data.sketch_files import SUFFIXES, load_any_sketch

    path = Path(path)
    if not path.is_file():
        raise ReconstructError(f"sketch file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        from PIL import Image, UnidentifiedImageError

        from sketch3d.features.box import to_grey

        try:
            with Image.open(path) as im:
                im.load()
                grey = to_grey(im)  # transparency composited onto white, as the feature stage reads images
        except (UnidentifiedImageError, OSError) as exc:
            raise ReconstructError(f"cannot read sketch image {path}: {exc}") from exc
        if np.asarray(grey).min() > 200:
            raise ReconstructError(f"sketch {path} is blank (no dark line at all); expected black lines on white")
        if grey.size != (size, size):
            from sketch3d.features.transforms import Transform

            grey = Transform(int(size * 0.9)).apply(grey, size)  # drawing kept whole, centred
        image = np.asarray(grey)
    elif suffix in SUFFIXES:
        try:
            image = np.asarray(rasterize(load_any_sketch(path, index), size=size))
        except (SketchError, ValueError, KeyError) as exc:
            raise ReconstructError(f"cannot read sketch {path}: {exc}") from exc
    else:
        raise ReconstructError(f"sketch {path}: unknown extension {path.suffix!r}; use one of "
                               f"{', '.join(SUFFIXES + IMAGE_SUFFIXES)}")
    if image.min() > 200:
        raise ReconstructError(f"sketch {path} is blank (no dark line at all); expected black lines on white")
    return image


def reconstruct(sketch: str | Path, out: str | Path, settings: Mapping, generator, *, index: int = 0,
                supervision: str = "clip", iterations: int | None = None, progress_every: int = 25,
                device: str = "cpu", clip: torch.nn.Module | None = None, mean: torch.Tensor | None = None,
                echo: Callable[[str], None] = print, renderer: str | None = None, bar: bool | None = None) -> dict:
    """Invert ``generator`` (an ``SDFStyleGAN``, or a path ``load_for_settings`` reads with
    ``reconstruction.generator``) towards the sketch file
    ``sketch`` and write the best shape's mesh to ``out`` (OBJ); a progress line every ``progress_every``
    iterations through ``echo``, or, with ``bar`` (None: when stderr is a terminal), a tqdm progress bar on
    stderr. ``renderer``: eq. 4.7's image, ``shaded`` or ``lines`` (None: ``reconstruction.render.renderer``,
    default shaded). ``settings``: the effective params (``seed``, ``features``, ``render``,
    ``reconstruction``); ``iterations`` overrides ``reconstruction.inversion.iterations.<supervision>``.
    Returns the summary (best iteration and loss, vertices, faces, watertight)."""
    from sketch3d.reconstruction.inversion import (SUPERVISIONS, Target, clip_backbone, inversion_settings, invert,
                                                   mesh_of_grid, styles_grid)

    if supervision not in ("clip", "clip_argmax"):
        raise ReconstructError(f"reconstruct: supervision {supervision!r} must be 'clip' or 'clip_argmax'")
    if iterations is not None and (not isinstance(iterations, int) or iterations < 1):
        raise ReconstructError(f"reconstruct: iterations must be a whole number >= 1, got {iterations!r}")
    if progress_every < 1:
        raise ReconstructError(f"reconstruct: progress_every must be >= 1, got {progress_every}")
    out = Path(out)
    if out.suffix.lower() != ".obj":
        raise ReconstructError(f"reconstruct: --out {out} must end in .obj")
    image = read_sketch_image(sketch, index)  # bad sketches fail here, before any network is loaded
    settings = copy.deepcopy(dict(settings))
    inv = settings.setdefault("reconstruction", {}).setdefault("inversion", {})
    inv["views"] = [0]
    inv["augment"] = int(inv.get("augment", 0))
    if renderer is not None:
        from sketch3d.reconstruction.inversion import RENDERERS

        if renderer not in RENDERERS:
            raise ReconstructError(f"reconstruct: renderer {renderer!r} must be one of {RENDERERS}")
        settings["reconstruction"].setdefault("render", {})["renderer"] = renderer
    if iterations is not None:
        inv["iterations"] = {**dict(inv.get("iterations") or {}), supervision: iterations}
    s = inversion_settings(settings)
    if isinstance(generator, (str, Path)):
        from sketch3d.reconstruction.generator import load_for_settings

        path = Path(generator)
        if not path.is_file():
            raise ReconstructError(f"generator weights {path} do not exist: train the demo generator "
                                   "(sketch3d train_generator) or give the official checkpoint (--generator)")
        generator = load_for_settings(path, (settings.get("reconstruction") or {}).get("generator") or {})
    generator = generator.to(device).eval()
    if mean is None:
        from sketch3d.reconstruction.generator import mean_style

        n = int(((settings.get("reconstruction") or {}).get("generator") or {}).get("mean_samples", 1000))
        with torch.no_grad():
            mean = mean_style(generator, n=n, seed=int(settings.get("seed", 0)))
    param = next(generator.parameters())
    mean = mean.to(device=param.device, dtype=param.dtype)
    if s.frame_box is not None:
        log.info("reconstruct: the sketch and the renderings are fitted into a %d px box of 224", s.frame_box)
    if clip is None:
        clip = clip_backbone(settings, device)
    n_its = inversion_settings(settings).iterations[supervision]

    if bar is None:
        bar = sys.stderr.isatty()
    pbar = None
    if bar:
        from tqdm import tqdm

        pbar = tqdm(total=n_its, desc="reconstruct", unit="it", file=sys.stderr, dynamic_ncols=True)

    def progress(i: int, n: int, loss: float, best: float) -> None:
        if pbar is not None:  # tqdm shows iterations, rate and time left; loss and best beside them
            pbar.set_postfix(loss=f"{loss:.5g}", best=f"{best:.5g}", refresh=False)
            pbar.update(1)
        elif i % progress_every == 0 or i == n:
            echo(f"reconstruct: iteration {i}/{n}  loss {loss:.6g}  best {best:.6g}")

    target = Target(example=Path(sketch).stem, sketches={0.0: image})
    try:
        result = invert(generator, target, supervision, settings, None, None, device, clip, progress, mean=mean)
    finally:
        if pbar is not None:
            pbar.close()
    gs = (settings.get("reconstruction") or {}).get("generator") or {}
    grid = styles_grid(generator, result.best_styles, int(gs.get("mc_resolution", 64)), device)
    level = float(gs.get("mc_level", 0.01))
    if not np.any(grid < level):
        raise ReconstructError(f"reconstruct: the best shape is empty (its SDF is above the level {level:g} "
                               "everywhere): no mesh to write; try more iterations, or a sketch framed like the "
                               "data stage's (the generator's mean shape was the start)")
    mesh = mesh_of_grid(grid, level)
    with atomic_path(out) as tmp:
        mesh.export(tmp, file_type="obj", include_normals=False)
    return {"iterations": n_its, "best_iteration": result.best_iteration, "best_loss": result.best_loss,
            "vertices": len(mesh.vertices), "faces": len(mesh.faces), "watertight": bool(mesh.is_watertight),
            "out": str(out)}
