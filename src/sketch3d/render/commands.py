"""CLI command of the shared render stage: render_gallery."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from sketch3d.cli import Command, arg, parse_settings

log = logging.getLogger("sketch3d")


def _render_gallery(a: argparse.Namespace) -> None:
    from sketch3d.render.gallery import render_gallery

    n = render_gallery(Path(a.shapes), a.category, a.split, parse_settings(a.settings)["render"], Path(a.out),
                       a.threads)
    log.info("render_gallery: %d views", n)


COMMANDS = (
    Command("render_gallery", "Freestyle line renderings of one category/split", _render_gallery, (
        *(arg(f"--{name}", required=True) for name in ("settings", "shapes", "category", "split", "out")),
        arg("--threads", type=int, default=0, help="Blender render threads (0: one per core)"),
    )),
)
