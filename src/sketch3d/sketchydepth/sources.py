"""The chapter's external inputs (SketchyCOCO archives, MiDaS and Inception weights): its own registry file,
read with the shared registry's reader, so an entry here reruns this chapter's jobs only."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from sketch3d.data.registry import Source, load_sources

PACKAGE_DATA = ("sketchydepth/sources.yaml",)  # see sketch3d.codeversion


def chapter_sources() -> dict[str, Source]:
    """{name: Source} of ``sketch3d/sketchydepth/sources.yaml``."""
    return load_sources(Path(str(resources.files("sketch3d.sketchydepth").joinpath("sources.yaml"))))
