"""CLI commands of the reconstruction chapter. Each part's commands sit in a block of their own; ``COMMANDS`` joins
the blocks."""
from __future__ import annotations

import argparse  # noqa: F401
import json  # noqa: F401
import logging
from pathlib import Path  # noqa: F401

from sketch3d.cli import Command, arg, parse_settings  # noqa: F401

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
    import numpy as np

    from sketch3d.reconstruction.demo_generator import train_demo_generator
    from sketch3d.reconstruction.sdf_targets import read_sdf_targets

    settings = parse_settings(a.settings)
    if "seed" not in settings:
        raise ValueError("train_generator: --settings needs 'seed'")
    targets = read_sdf_targets(Path(a.sdf))
    result = train_demo_generator(targets["sdf"], _section(settings, "demo_training"), _section(settings, "generator"),
                                  int(settings["seed"]), Path(a.out),
                                  Path(a.checkpoints) if a.checkpoints else Path(a.out).parent / "checkpoints")
    if a.curve:
        from sketch3d.atomic import atomic_path

        with atomic_path(a.curve) as tmp:
            np.savetxt(tmp, np.column_stack([np.arange(1, len(result["losses"]) + 1), result["losses"]]),
                       delimiter=",", header="step,loss", comments="", fmt=["%d", "%.8g"])
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
    Command("sdf_targets", "SDF grids (generator cube frame) of a shapes table's meshes, one .npz", _sdf_targets, (
        arg("--settings", required=True, help="JSON: sdf_resolution (grid side), category (default chair)"),
        arg("--shapes", required=True, help="the data stage's shapes.csv (mesh paths relative to the working folder)"),
        arg("--splits", nargs="+", help="splits to keep (default: all)"),
        arg("--out", required=True, help=".npz: sdf [N, R, R, R] float32 (cube units), ids, split"),
    )),
    Command("train_generator", "train the demo's SDF-StyleGAN generator (GLO) on SDF grids; resumable",
            _train_generator, (
                arg("--settings", required=True, help="JSON: seed, reconstruction.generator, reconstruction.demo_training"),
                arg("--sdf", required=True, help="sdf_targets' .npz of the training shapes"),
                arg("--out", required=True, help="the generator (.pt, loadable by generator.load_generator)"),
                arg("--checkpoints", help="folder of the resumable state (default OUT's folder/checkpoints); keep "
                                          "it outside the rule's outputs"),
                arg("--curve", help="CSV of the loss per step"),
            )),
    Command("mean_style", "the inversion's start: the mean of N sampled W+ styles of a generator", _mean_style, (
        arg("--settings", required=True, help="JSON: seed, reconstruction.generator (mean_samples, architecture)"),
        arg("--generator", required=True, help="official SDF-StyleGAN .ckpt or train_generator's .pt"),
        arg("--out", required=True, help=".npz: mean [1, n_styles, dim] float32, samples, seed"),
    )),
)


# ----------------------------------------------------------------------------- block B



_B_COMMANDS: tuple = ()


# ----------------------------------------------------------------------------- block C



_C_COMMANDS: tuple = ()


COMMANDS = (*_A_COMMANDS, *_B_COMMANDS, *_C_COMMANDS)
