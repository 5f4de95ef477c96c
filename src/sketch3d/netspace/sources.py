"""The chapter's external inputs (the CIFAR-10 and Tiny-ImageNet archives): its own registry file, read with
the shared registry's reader, so an entry here reruns this chapter's jobs only."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from sketch3d.data.registry import Source, load_sources

PACKAGE_DATA = ("netspace/sources.yaml",)  # see sketch3d.codeversion


def chapter_sources() -> dict[str, Source]:
    """{name: Source} of ``sketch3d/netspace/sources.yaml``."""
    return load_sources(Path(str(resources.files("sketch3d.netspace").joinpath("sources.yaml"))))
