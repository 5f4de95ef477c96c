"""CLI command of the shared features stage: extract_features."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from sketch3d.cli import Command, arg, parse_settings

log = logging.getLogger("sketch3d")


def _extract_features(a: argparse.Namespace) -> None:
    from sketch3d.features.stage import extract_features

    feats = extract_features(Path(a.images), parse_settings(a.settings), a.box, Path(a.cache), Path(a.out),
                             Path(a.ids))
    log.info("extract_features: %s", feats.shape)


def _box(text: str) -> int | None:
    if text == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--box must be a whole number of pixels or 'none', got {text!r}") from None


COMMANDS = (
    Command("extract_features", "CLIP features of an image set fitted to a box", _extract_features, (
        *(arg(f"--{name}", required=True) for name in ("settings", "images", "cache", "out", "ids")),
        arg("--box", type=_box, required=True, help="px side of the box images are fitted to, or 'none': as they are"),
    )),
)
