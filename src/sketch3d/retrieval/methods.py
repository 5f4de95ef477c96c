"""The retrieval settings compared in the slice, named as in the thesis's Table 4.8."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    name: str          # used in file names
    label: str         # row label in our tables
    kind: str          # "clip" (CLIP features) or "pixel" (raw thumbnails)
    box_key: str       # which params.retrieval key gives the box side
    thesis_row: str | None  # row label in the thesis's Table 4.8, None when the thesis has none


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("baseline", "Baseline", "clip", "baseline_box", "Baseline"),
        Method("obb", "OBB", "clip", "obb_box", "OBB"),
        Method("pixel", "Pixel matcher (scale reference)", "pixel", "obb_box", None),
    )
}


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown retrieval method '{name}'; known: {sorted(METHODS)}") from None
