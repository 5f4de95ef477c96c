"""CLI command of the shared render stage: render_gallery."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from sketch3d.command_line import Command, arg, parse_settings

log = logging.getLogger("sketch3d")


def _render_gallery(a: argparse.Namespace) -> None:
    from sketch3d.render.gallery import render_gallery

    n = render_gallery(Path(a.shapes), a.category, a.split, parse_settings(a.settings)["render"], Path(a.out),
                       a.threads, style=a.style, view_set=a.view_set)
    log.info("render_gallery: %d views (%s, view set %s)", n, a.style, a.view_set)


COMMANDS = (
    Command("render_gallery", "renderings of one category/split: Freestyle lines or textureless RGB, at the views "
                              "of one view set", _render_gallery, (
        *(arg(f"--{name}", required=True) for name in ("settings", "shapes", "category", "split", "out")),
        arg("--threads", type=int, default=0, help="Blender render threads (0: one per core)"),
        arg("--style", default="lines", help="lines (Freestyle, the thesis's gallery) or rgb (textureless grey "
                                             "shading)"),
        arg("--view-set", default="five", help="a name in render.view_sets (params.yaml)"),
    )),
)
