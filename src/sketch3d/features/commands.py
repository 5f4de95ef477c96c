"""CLI command of the shared features stage: extract_features."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from sketch3d.command_line import Command, arg, parse_settings

log = logging.getLogger("sketch3d")


def _extract_features(a: argparse.Namespace) -> None:
    from sketch3d.features.stage import extract_features

    feats = extract_features(Path(a.images), parse_settings(a.settings), a.transforms, Path(a.cache), Path(a.out),
                             Path(a.ids), network=a.network)
    log.info("extract_features: %s", feats.shape)


def _transforms(text: str) -> list:
    from sketch3d.features.transforms import TransformError, parse_transforms

    try:
        return parse_transforms(text.split("+"))
    except TransformError as exc:
        raise argparse.ArgumentTypeError(f"--transforms: {exc}") from None


COMMANDS = (
    Command("extract_features", "CLIP features of an image set, transformed (box, translation, rotation) and averaged", _extract_features, (
        *(arg(f"--{name}", required=True) for name in ("settings", "images", "cache", "out", "ids")),
        arg("--network", help="a name of features.networks (Tables 4.5, 4.6); default: the main network "
                              "(features.backbone, features.layer)"),
        arg("--transforms", type=_transforms, required=True,
            help="what is done to each image before embedding: a transform name (box129: fitted to a 129 px box; "
                 "boxnone: as it is; box129_tx19_ty-4_rot-23.5: then moved and turned) or several joined by '+', "
                 "whose features are averaged"),
    )),
)
