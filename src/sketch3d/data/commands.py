"""CLI commands of the shared data stage: fetch, prepare_dataset, rasterize_sketches."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from sketch3d.command_line import CliError, Command, arg, parse_settings

log = logging.getLogger("sketch3d")


def _fetch(a: argparse.Namespace) -> None:
    from sketch3d.data.download import fetch
    from sketch3d.data.registry import load_sources, stored_at

    sources = load_sources()
    if a.source:
        if a.source not in sources:
            raise CliError(f"unknown source '{a.source}'; known: {sorted(sources)}")
        source = sources[a.source]
    else:
        source = stored_at(a.out, sources.values(), a.data_dir)
    print(fetch(source, Path(a.data_dir)))


def _prepare_dataset(a: argparse.Namespace) -> None:
    from sketch3d.data.prepare import prepare_dataset

    shapes, sketches = prepare_dataset(parse_settings(a.settings), Path(a.items), Path(a.shapes), Path(a.sketches))
    log.info("prepare_dataset: %d shapes, %d sketches", len(shapes), len(sketches))


def _rasterize_sketches(a: argparse.Namespace) -> None:
    from sketch3d.data.rasterize import rasterize_sketches

    n = rasterize_sketches(Path(a.sketches), a.category, a.split, a.size, Path(a.out))
    log.info("rasterize_sketches: %d sketches", n)


COMMANDS = (
    Command("fetch", "download one registered dataset/weights file with checksum", _fetch, (
        arg("--source", help="registry name (src/sketch3d/data/sources.yaml)"),
        arg("--out", help="or: the file path the download must end at"),
        arg("--data-dir", required=True),
    )),
    Command("prepare_dataset", "build shapes.csv + sketches.csv of the active profile", _prepare_dataset, (
        arg("--settings", required=True),
        arg("--items", required=True, help="folder for meshes and sketch files"),
        arg("--shapes", required=True),
        arg("--sketches", required=True),
    )),
    Command("rasterize_sketches", "sketch files of one category/split -> PNGs", _rasterize_sketches, (
        *(arg(f"--{name}", required=True) for name in ("sketches", "category", "split", "out")),
        arg("--size", type=int, default=224),
    )),
)
