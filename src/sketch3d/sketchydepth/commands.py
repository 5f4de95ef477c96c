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


COMMANDS = (*DATA_COMMANDS,)
