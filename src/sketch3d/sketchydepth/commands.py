"""CLI commands of the SketchyDepth chapter (thesis ch. 3). Each helper's commands sit in a block of their own;
``COMMANDS`` joins the blocks."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from sketch3d.cli import Command, arg, parse_settings

log = logging.getLogger("sketch3d")


# ----------------------------------------------------------------------------- the data chain: prepare_scenes


def _prepare_scenes(a: argparse.Namespace) -> None:
    from sketch3d.sketchydepth.scenes import prepare_scenes

    manifest = prepare_scenes(parse_settings(a.settings), Path(a.out))
    log.info("prepare_scenes: %s", json.dumps(manifest["splits"], sort_keys=True))


DATA_COMMANDS = (
    Command("prepare_scenes", "the chapter's triplet sets: generated scenes (demo) or SketchyCOCO (paper)",
            _prepare_scenes, (
                arg("--settings", required=True, help="JSON: profile, seed and the sketchydepth section"),
                arg("--out", required=True, help="folder: train/, val/, test/ (+ demo: labeller/, labeller_depth/)"),
            )),
)


# ----------------------------------------------------------------------------- the depth labeller: train_labeller, label_depth


def _train_labeller(a: argparse.Namespace) -> None:
    from sketch3d.devices import claim_device
    from sketch3d.sketchydepth.labeller import train_labeller

    with claim_device() as device:
        info = train_labeller(parse_settings(a.settings), Path(a.data), Path(a.out), device)
    log.info("train_labeller: %s", json.dumps(info, sort_keys=True))


def _label_depth(a: argparse.Namespace) -> None:
    from sketch3d.devices import claim_device
    from sketch3d.sketchydepth.labeller import label_depth

    with claim_device() as device:
        counts = label_depth(parse_settings(a.settings), Path(a.images), Path(a.weights), Path(a.out), device,
                             cache=Path(a.cache) if a.cache else None)
    log.info("label_depth: %s", json.dumps(counts))


LABELLER_COMMANDS = (
    Command("train_labeller", "demo: train the small MiDaS (MidasNet) on the labeller scenes' exact depth",
            _train_labeller, (
                arg("--settings", required=True, help="JSON: profile, seed and sketchydepth.labeller"),
                arg("--data", required=True, help="prepare_scenes' folder: reads labeller/ and labeller_depth/"),
                arg("--out", required=True, help="weights file (.pt); <stem>_curve.csv and <stem>.json beside it"),
            )),
    Command("label_depth", "MiDaS depth of a triplet set's images, as a depth set (8-bit, 255 = nearest)",
            _label_depth, (
                arg("--settings", required=True, help="JSON: profile, seed and sketchydepth.labeller"),
                arg("--images", required=True, help="a triplet set: its image column is labelled"),
                arg("--weights", required=True, help="MidasNet weights: the official midas_v21-f6b98070.pt "
                                                     "(paper) or train_labeller's file (demo)"),
                arg("--out", required=True, help="the depth set folder to write"),
                arg("--cache", help="per-image depth cache folder (keyed by image, weights and code); none if "
                                    "not given"),
            )),
)


COMMANDS = (*DATA_COMMANDS, *LABELLER_COMMANDS)
