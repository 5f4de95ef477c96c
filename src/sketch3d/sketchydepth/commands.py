"""CLI commands of the SketchyDepth chapter (thesis ch. 3). Each helper's commands are a block of their own."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from sketch3d.cli import Command, arg, parse_settings

log = logging.getLogger("sketch3d")


# ----------------------------------------------------------------------------- the GANs: train_gan, generate

_GAN_MODELS = ["baseline", "sketchydepth", "no_depth", "no_joint"]


def _train_gan(a: argparse.Namespace) -> None:
    from sketch3d.devices import claim_device
    from sketch3d.sketchydepth.training import train_gan

    opt = lambda p: Path(p) if p else None  # noqa: E731
    with claim_device() as device:
        row = train_gan(a.model, parse_settings(a.settings), Path(a.train), opt(a.train_depth), Path(a.out), device,
                        opt(a.val), opt(a.val_depth), checkpoints=opt(a.checkpoints))
    log.info("train_gan %s: %s", a.model, json.dumps(row))


def _generate(a: argparse.Namespace) -> None:
    from sketch3d.devices import claim_device
    from sketch3d.sketchydepth.generation import generate

    with claim_device() as device:
        n = generate(a.model, Path(a.checkpoint), Path(a.triplets), Path(a.out_images),
                     Path(a.out_depth) if a.out_depth else None, parse_settings(a.settings), device)
    log.info("generate %s: %d examples", a.model, n)


_GAN_COMMANDS = (
    Command("train_gan", "train one GAN of Table 3.1 (baseline, sketchydepth, no_depth, no_joint) on a triplet set "
                         "and its depth set; resumable", _train_gan, (
        arg("--model", required=True, choices=_GAN_MODELS),
        arg("--settings", required=True, help="JSON with seed, profile and sketchydepth.gan"),
        arg("--train", required=True, help="training triplet set"),
        arg("--train-depth", help="its depth set (sketchydepth, no_joint)"),
        arg("--val", help="validation triplet set: its mean L1 joins the curves"),
        arg("--val-depth", help="its depth set (depth models)"),
        arg("--out", required=True, help="folder for final.pt, curves.csv, curves.png"),
        arg("--checkpoints", help="folder of the resumable checkpoint (default OUT/checkpoints); keep it outside "
                                  "the rule's outputs so a failed job's checkpoint survives"),
    )),
    Command("generate", "a trained GAN's images (and depth maps) for a triplet set's partial images", _generate, (
        arg("--model", required=True, choices=_GAN_MODELS),
        arg("--settings", required=True, help="JSON with seed and sketchydepth.gan.test_eval"),
        arg("--checkpoint", required=True, help="train_gan's final.pt"),
        arg("--triplets", required=True, help="the triplet set whose partial images are the input (test split)"),
        arg("--out-images", required=True, help="the generated triplet set (image = generated)"),
        arg("--out-depth", help="the generated depth set (sketchydepth, no_joint)"),
    )),
)


COMMANDS = (*_GAN_COMMANDS,)
