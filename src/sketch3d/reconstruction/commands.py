"""CLI commands of the reconstruction chapter. Each part's commands sit in a block of their own; ``COMMANDS`` joins
the blocks."""
from __future__ import annotations

import argparse  # noqa: F401
import json  # noqa: F401
import logging
from pathlib import Path  # noqa: F401

from sketch3d.command_line import REHEARSAL_ARG, SETUP, SHAPES, Command, arg, parse_settings  # noqa: F401

log = logging.getLogger("sketch3d")


# ----------------------------------------------------------------------------- block A

def _section(settings: dict, name: str) -> dict:
    """``settings[name]`` or ``settings["reconstruction"][name]`` (a rule passes either), else {}."""
    if isinstance(settings.get(name), dict):
        return settings[name]
    return dict(settings.get("reconstruction", {}).get(name, {}) or {})


def _sdf_targets(a: argparse.Namespace) -> None:
    from sketch3d.reconstruction.sdf_targets import sdf_targets

    n = sdf_targets(Path(a.shapes), parse_settings(a.settings), Path(a.out), splits=a.splits)
    log.info("sdf_targets: %d SDF grids -> %s", n, a.out)


def _train_generator(a: argparse.Namespace) -> None:
    from sketch3d.reconstruction.demo_generator import train_demo_generator
    from sketch3d.reconstruction.sdf_targets import read_sdf_targets

    settings = parse_settings(a.settings)
    if "seed" not in settings:
        raise ValueError("train_generator: --settings needs 'seed'")
    targets = read_sdf_targets(Path(a.sdf))
    result = train_demo_generator(targets["sdf"], _section(settings, "demo_training"), _section(settings, "generator"),
                                  int(settings["seed"]), Path(a.out),
                                  Path(a.checkpoints) if a.checkpoints else Path(a.out).parent / "checkpoints",
                                  curves=a.curves)
    log.info("train_generator: %d steps, final loss %.6f", result["steps"], result["losses"][-1])


def _mean_style(a: argparse.Namespace) -> None:
    from sketch3d.reconstruction.generator import load_for_settings, mean_style, write_mean_style

    settings = parse_settings(a.settings)
    if "seed" not in settings:
        raise ValueError("mean_style: --settings needs 'seed'")
    generator_settings = _section(settings, "generator")
    generator = load_for_settings(Path(a.generator), generator_settings)
    n = int(generator_settings.get("mean_samples", 1000))
    style = mean_style(generator, n, int(settings["seed"]))
    write_mean_style(Path(a.out), style, n, int(settings["seed"]))
    log.info("mean_style: mean of %d styles %s -> %s", n, tuple(style.shape), a.out)


_A_COMMANDS: tuple = (
    Command("sdf_targets", "SDF grids of a shapes table's meshes as SDF-StyleGAN's training data (mesh2sdf), one .npz",
            _sdf_targets, (
        arg("--settings", required=True, help="JSON: sdf_resolution (grid side), watertight_level (mesh2sdf's at "
                                              "128^3, default 0.015), category (default chair)"),
        arg("--shapes", required=True, help="the data stage's shapes.csv (mesh paths relative to the working folder)"),
        arg("--splits", nargs="+", help="splits to keep (default: all)"),
        arg("--out", required=True, help=".npz: sdf [N, R, R, R] float32, center, scale, affine (mesh frame -> "
                                         "cube), ids, split"),
    )),
    Command("train_generator", "train the demo's SDF-StyleGAN generator (GLO) on SDF grids; resumable",
            _train_generator, (
                arg("--settings", required=True, help="JSON: seed, reconstruction.generator, reconstruction.demo_training"),
                arg("--sdf", required=True, help="sdf_targets' .npz of the training shapes"),
                arg("--out", required=True, help="the generator (.pt, loadable by generator.load_generator)"),
                arg("--checkpoints", help="folder of the resumable state (default OUT's folder/checkpoints); keep "
                                          "it outside the rule's outputs"),
                arg("--curves", help="curves.csv: the loss per step (step, loss)"),
            )),
    Command("mean_style", "the inversion's start: the mean of N sampled W+ styles of a generator", _mean_style, (
        arg("--settings", required=True, help="JSON: seed, reconstruction.generator (mean_samples, architecture)"),
        arg("--generator", required=True, help="official SDF-StyleGAN .ckpt or train_generator's .pt"),
        arg("--out", required=True, help=".npz: mean [1, n_styles, dim] float32, samples, seed"),
    )),
)


# ----------------------------------------------------------------------------- block B
# the port against the official code's own numbers

def _check_generator(a: argparse.Namespace) -> None:
    from sketch3d.atomic import atomic_path
    from sketch3d.reconstruction.generator import compare_with_reference, load_generator, read_reference

    reference = read_reference(Path(a.reference))
    ema = reference["ema"] if a.networks == "auto" else a.networks == "ema"
    generator = load_generator(Path(a.checkpoint), ema=ema, noise="zero")
    report = compare_with_reference(generator, {**reference, "ema": ema}, tolerance=a.tolerance)
    report["checkpoint"], report["reference"] = Path(a.checkpoint).name, Path(a.reference).name
    if a.out:
        with atomic_path(a.out) as tmp:
            Path(tmp).write_text(json.dumps(report, indent=2) + "\n")
    if not report["passed"]:
        raise ValueError(f"check_generator: {report['message']}")
    log.info("check_generator: %s", report["message"])


_B_COMMANDS: tuple = (
    Command("check_generator", "compare the SDF-StyleGAN port with samples the official code made from the same "
                               "checkpoint (latents, points, SDF; noise off); fails past the tolerance",
            _check_generator, (
                arg("--checkpoint", required=True, help="the official lightning checkpoint (e.g. epoch=199.ckpt)"),
                arg("--reference", required=True, help=".npz with z [n, z_dim], points [N, 3], sdf [n, N] (and "
                                                       "ema) made by generator.REFERENCE_RECIPE with the official code"),
                arg("--networks", choices=("auto", "ema", "trained"), default="auto",
                    help="which networks to compare: the reference's 'ema' flag (auto), SE/GE/ME or S/G/M"),
                arg("--tolerance", type=float, default=1e-4, help="largest |SDF difference| allowed, cube units"),
                arg("--out", help="JSON report (max/mean |difference|, sign agreement, passed)"),
            ), group=SETUP,
               example="sketch3d check_generator --checkpoint epoch=199.ckpt "
                       "--reference official_samples.npz"),
)


# ----------------------------------------------------------------------------- block C
# the examples, the inversions, their scores, table and figures, and `sketch3d reconstruct` (thesis 4.3.3)


def _load_generator_and_mean(a: argparse.Namespace, settings: dict, device: str):
    from sketch3d.reconstruction.generator import load_for_settings, read_mean_style

    generator = load_for_settings(Path(a.generator), (settings.get("reconstruction") or {}).get("generator") or {})
    mean = read_mean_style(Path(a.mean_style)) if getattr(a, "mean_style", None) else None
    return generator.to(device), mean


def _reconstruction_targets(a: argparse.Namespace) -> None:
    from sketch3d.reconstruction.targets import write_targets

    examples = write_targets(Path(a.shapes), Path(a.sketches), parse_settings(a.settings), Path(a.out))
    log.info("reconstruction_targets: %d examples: %s", len(examples), ", ".join(examples["shape_id"]))


def _invert(a: argparse.Namespace) -> None:
    from sketch3d.devices import claim_device
    from sketch3d.reconstruction.inversion import clip_backbone, invert
    from sketch3d.reconstruction.targets import load_target, read_sdf_grids

    from sketch3d.command_line import CliError

    settings = parse_settings(a.settings)
    if a.supervision == "sdf" and not a.sdf_targets:
        raise CliError("invert --supervision sdf needs --sdf-targets (sdf_targets's npz)")
    grids = read_sdf_grids(Path(a.sdf_targets)) if a.sdf_targets else None
    target = load_target(Path(a.targets), a.example, grids)  # a bad target fails before any network loads
    every = max(1, a.progress_every)

    def progress(i: int, n: int, loss: float, best: float) -> None:
        if i % every == 0 or i == n:
            log.info("invert %s %s: iteration %d/%d loss %.6g best %.6g", a.supervision, target.example, i, n,
                     loss, best)

    with claim_device() as device:
        generator, mean = _load_generator_and_mean(a, settings, device)
        clip = clip_backbone(settings, device) if a.supervision != "sdf" else None
        result = invert(generator, target, a.supervision, settings, Path(a.out),
                        Path(a.checkpoints) if a.checkpoints else None, device, clip, progress, mean=mean)
    log.info("invert %s %s: best loss %.6g at iteration %d", a.supervision, target.example, result.best_loss,
             result.best_iteration)


def _reconstruction_scores(a: argparse.Namespace) -> None:
    from sketch3d.reconstruction.scores import reconstruction_scores

    settings = parse_settings(a.settings)
    inversions = [Path(p) for p in a.inversions]
    retrieval = {"retrieval": Path(a.retrieval) if a.retrieval else None,
                 "shapes_csv": Path(a.shapes) if a.shapes else None}
    if not a.generator:
        df = reconstruction_scores(inversions, Path(a.sdf_targets), Path(a.targets), settings, Path(a.out),
                                   **retrieval)
    else:
        from sketch3d.devices import claim_device
        from sketch3d.reconstruction.generator import load_for_settings

        with claim_device() as device:
            generator = load_for_settings(Path(a.generator), (settings.get("reconstruction") or {}).get("generator") or {})
            generator = generator.to(device).eval()
            df = reconstruction_scores(inversions, Path(a.sdf_targets), Path(a.targets), settings, Path(a.out),
                                       generator, Path(a.snapshots) if a.snapshots else None,
                                       Path(a.plot) if a.plot else None, device, **retrieval)
    log.info("reconstruction_scores: %d rows; means: %s", len(df),
             json.dumps(df.groupby("supervision")[["chamfer_l1", "f1", "iou"]].mean().round(4).to_dict()))


def _reconstruction_table(a: argparse.Namespace) -> None:
    from sketch3d.reconstruction.tables import reconstruction_table

    settings = parse_settings(a.settings)
    reconstruction_table(Path(a.scores), Path(a.out_md), Path(a.out_csv), Path(a.out_json),
                         demo=settings.get("profile") == "demo", rehearsal=a.rehearsal,
                         snapshots_csv=Path(a.snapshots) if a.snapshots else None)


def _figure_inversion(a: argparse.Namespace) -> None:
    from sketch3d.reconstruction.figures import figure_inversion

    settings = parse_settings(a.settings)
    generator = None
    if a.generator:
        from sketch3d.reconstruction.generator import load_for_settings

        generator = load_for_settings(Path(a.generator), (settings.get("reconstruction") or {}).get("generator") or {})
    names = figure_inversion([Path(p) for p in a.inversions], Path(a.targets),
                             Path(a.sdf_targets) if a.sdf_targets else None, settings, Path(a.out), generator,
                             Path(a.picks) if a.picks else None)
    log.info("figure_inversion: %s", ", ".join(names))


def _reconstruct(a: argparse.Namespace) -> None:
    from sketch3d.command_line import CliError
    from sketch3d.config import load_params
    from sketch3d.devices import claim_device
    from sketch3d.reconstruction.reconstruct import default_generator, reconstruct

    sketch = a.sketch_file or a.sketch
    if not sketch:
        raise CliError("give the sketch: sketch3d reconstruct SKETCH --out MESH.obj")
    params = parse_settings(a.settings) if a.settings else load_params(a.params, {"profile": a.profile} if a.profile else None)
    generator, mean_style = (Path(a.generator), None) if a.generator else default_generator(params)
    if a.mean_style:
        mean_style = Path(a.mean_style)
    elif mean_style is not None and not mean_style.is_file():
        mean_style = None  # computed from the generator (mean_samples styles)
    if not a.generator:  # on stderr (the log), so that a demo user knows which generator made the shape
        which = ("the demo's own generator (trained by the demo workflow on its generated chairs; not the "
                 "thesis's SDF-StyleGAN checkpoint)" if params.get("profile") != "paper"
                 else "the official SDF-StyleGAN chair checkpoint")
        line = (f"reconstruct: {params.get('profile')} profile: {which}: {generator}"
                + (f", its mean style {mean_style}" if mean_style else ""))
        log.info(line)
    with claim_device() as device:
        mean = None
        if mean_style:
            from sketch3d.reconstruction.generator import read_mean_style

            mean = read_mean_style(mean_style)
        summary = reconstruct(Path(sketch), Path(a.out), params, Path(generator), index=a.index,
                              supervision=a.supervision, iterations=a.iterations, progress_every=a.progress_every,
                              device=device, mean=mean, renderer=a.renderer)
    if params.get("profile") == "demo":
        from sketch3d import DEMO_NOTICE

        print(f"# {DEMO_NOTICE}")
    print(f"reconstruct: wrote {summary['out']} ({summary['vertices']} vertices, {summary['faces']} faces, "
          f"{'watertight' if summary['watertight'] else 'not watertight'}); best loss {summary['best_loss']:.6g} "
          f"at iteration {summary['best_iteration']}")


_SUPERVISION_HELP = ("sdf (eq. 4.6), clip (eq. 4.7, reconstruction.render.renderer's image: shaded by default), "
                     "clip_argmax (CLIP features reduced by 4) or clip_lines (eq. 4.7 on the line drawing)")
_C_COMMANDS: tuple = (
    Command("reconstruction_targets", "choose the inversion examples (seeded chairs with front sketches) and copy "
                                      "their sketches", _reconstruction_targets, (
        arg("--settings", required=True, help="JSON: seed, reconstruction.targets, reconstruction.inversion.views"),
        arg("--shapes", required=True, help="shapes.csv of the data stage"),
        arg("--sketches", required=True, help="the rasterised sketch set of the category and split"),
        arg("--out", required=True, help="folder: examples.csv, sketches/"),
    )),
    Command("invert", "invert the SDF generator towards one example (one supervision); resumable", _invert, (
        arg("--settings", required=True, help="JSON: seed, profile, features, render, reconstruction"),
        arg("--generator", required=True, help="generator weights (load_generator: ours or the official ckpt)"),
        arg("--mean-style", help="the mean style file (mean_style's output); default: computed here"),
        arg("--targets", required=True, help="reconstruction_targets's folder"),
        arg("--sdf-targets", help="sdf_targets's npz (needed for --supervision sdf)"),
        arg("--example", required=True, type=int, help="example index (0..examples-1)"),
        arg("--supervision", required=True, choices=("sdf", "clip", "clip_argmax", "clip_lines"),
            help=_SUPERVISION_HELP),
        arg("--out", required=True, help="folder: losses.csv, snapshots.npz, mesh.obj, sdf.npy, curve.png, "
                                         "summary.json"),
        arg("--checkpoints", help="folder of the resumable state; keep it outside the rule's outputs"),
        arg("--progress-every", type=int, default=25, help="log a progress line every N iterations"),
    )),
    Command("reconstruction_scores", "the field's shape scores of each inversion (and, with --generator, of the "
            "mean shape and the snapshots) against its target shape", _reconstruction_scores, (
        arg("--settings", required=True, help="JSON: seed, profile, reconstruction.scores, reconstruction.generator"),
        arg("--sdf-targets", required=True, help="sdf_targets's npz"),
        arg("--targets", required=True, help="reconstruction_targets's folder (examples.csv: the shapes' meshes)"),
        arg("--generator", help="generator weights: adds the mean-shape baseline and the per-snapshot scores"),
        arg("--snapshots", help="per-snapshot scores CSV (with --generator)"),
        arg("--plot", help="score vs iteration plot, PNG (with --generator and --snapshots)"),
        arg("--inversions", required=True, nargs="+", help="invert's output folders"),
        arg("--retrieval", help="a retrieve job's npz of the examples' category and split (chapter 4.2): adds the "
                                "retrieval nearest-neighbour baseline (with --shapes)"),
        arg("--shapes", help="the data stage's shapes.csv (the retrieved shapes' meshes)"),
        arg("--out", required=True, help="scores CSV"),
    )),
    Command("reconstruction_table", "the score table: per example and mean per supervision", _reconstruction_table, (
        arg("--settings", required=True, help="JSON: profile"),
        arg("--scores", required=True, help="reconstruction_scores's CSV"),
        arg("--snapshots", help="reconstruction_scores's per-snapshot CSV (adds the lowest-loss vs best-shape count)"),
        arg("--out-md", required=True),
        arg("--out-csv", required=True),
        arg("--out-json", required=True, help="DVC metrics: means per supervision"),
        REHEARSAL_ARG,
    )),
    Command("figure_inversion", "Figs 4.5-4.9 (4.8/4.9 from a picks CSV, else contact sheets to pick from)",
            _figure_inversion, (
        arg("--settings", required=True, help="JSON: profile, render, reconstruction"),
        arg("--targets", required=True, help="reconstruction_targets's folder"),
        arg("--sdf-targets", help="sdf_targets's npz (the target shapes' rows)"),
        arg("--inversions", required=True, nargs="+", help="invert's output folders"),
        arg("--generator", help="generator weights: renders the snapshots (picked shapes, contact sheets)"),
        arg("--picks", help="CSV example,supervision,iteration: shapes a person picked among the snapshots"),
        arg("--out", required=True, help="folder of the figures"),
    )),
    Command("reconstruct", "a 3D mesh for a sketch (.json, .ndjson, .svg, .png) by CLIP inversion", _reconstruct, (
        arg("sketch_file", nargs="?", metavar="SKETCH", help="the sketch file"),
        arg("--sketch", help="the sketch file (instead of SKETCH)"),
        arg("--out", required=True, help="the mesh to write (.obj, mesh frame: Y up, front +Z)"),
        arg("--generator", help="generator weights (default: the demo profile's trained generator, "
                                "results/demo/reconstruction/generator/generator.pt; the paper profile's "
                                "reconstruction.generator.weights)"),
        arg("--mean-style", help="the mean style file (default: the workflow's mean_style output beside the default "
                                 "generator, else computed from mean_samples samples)"),
        arg("--supervision", choices=("clip", "clip_argmax"), default="clip"),
        arg("--renderer", choices=("shaded", "lines"),
            help="eq. 4.7's image of the shape (default: reconstruction.render.renderer, shaded)"),
        arg("--iterations", type=int, help="default: reconstruction.inversion.iterations.<supervision>"),
        arg("--progress-every", type=int, default=25,
            help="a progress line every N iterations when stderr is not a terminal (on one: a progress bar)"),
        arg("--index", type=int, default=0, help="which drawing of a multi-drawing file (first: 0)"),
        arg("--params", default="params.yaml"),
        arg("--profile", choices=["demo", "paper"]),
        arg("--settings", help="effective parameters as JSON, instead of --params/--profile"),
    ), group=SHAPES,
       example="sketch3d reconstruct my_chair.png --out my_chair.obj --progress-every 25"),
)


COMMANDS = (*_A_COMMANDS, *_B_COMMANDS, *_C_COMMANDS)
