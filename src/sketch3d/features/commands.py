"""CLI command of the shared features stage: extract_features."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from sketch3d.command_line import CliError, Command, arg, parse_settings

log = logging.getLogger("sketch3d")


def _extract_features(a: argparse.Namespace) -> None:
    from sketch3d.features.stage import extract_feature_sets

    if not len(a.images) == len(a.out) == len(a.ids):
        raise CliError(f"extract_features: give one --out and one --ids per image set of --images; got "
                       f"{len(a.images)} image sets, {len(a.out)} --out and {len(a.ids)} --ids")
    sets = [(Path(i), Path(o), Path(d)) for i, o, d in zip(a.images, a.out, a.ids)]
    for (images, _, _), feats in zip(sets, extract_feature_sets(sets, parse_settings(a.settings), a.transforms,
                                                                Path(a.cache), network=a.network)):
        log.info("extract_features: %s %s", images, feats.shape)


def _transforms(text: str) -> list:
    from sketch3d.features.transforms import TransformError, parse_transforms

    try:
        return parse_transforms(text.split("+"))
    except TransformError as exc:
        raise argparse.ArgumentTypeError(f"--transforms: {exc}") from None


COMMANDS = (
    Command("extract_features", "CLIP features of image sets, transformed (box, translation, rotation) and averaged", _extract_features, (
        *(arg(f"--{name}", required=True) for name in ("settings", "cache")),
        arg("--images", nargs="+", required=True, help="image set folders (index.csv + images); the network "
                                                        "starts once for all of them"),
        arg("--out", nargs="+", required=True, help="one features .npy per image set, in the same order"),
        arg("--ids", nargs="+", required=True, help="one ids .csv per image set, in the same order"),
        arg("--network", help="a name of features.networks (Tables 4.5, 4.6); default: the main network "
                              "(features.backbone, features.layer)"),
        arg("--transforms", type=_transforms, required=True,
            help="what is done to each image before embedding: a transform name (box129: fitted to a 129 px box; "
                 "boxnone: as it is; box129_tx19_ty-4_rot-23.5: then moved and turned) or several joined by '+', "
                 "whose features are averaged"),
    )),
)
