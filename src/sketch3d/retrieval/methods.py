"""The retrieval settings of chapter 4.2, and which thesis table shows which: the one place for both.

The rules (which methods exist, which need CLIP features, which box a method's
features use), the tables (row labels, the thesis row compared with) and the
report captions all derive from :data:`METHODS` and :data:`TABLES`.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    name: str               # used in file names and the `method` wildcard
    label: str              # row label in our tables
    kind: str               # "clip" (CLIP features) or "pixel" (raw thumbnails)
    box_key: str            # the key of params.yaml's `retrieval` section that gives the box side, px
    thesis_row: str | None  # row label in the thesis's table, None where the thesis has none
    summary: str            # one line for captions; {box} is replaced by the box side

    def box(self, retrieval: dict) -> int:
        """The box side in px under the ``retrieval`` parameters."""
        return int(retrieval[self.box_key])

    def describe(self, retrieval: dict) -> str:
        return f"{self.label}: {self.summary.format(box=self.box(retrieval))}"


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("baseline", "Baseline", "clip", "baseline_box", "Baseline",
               "CLIP RN101 layer-3 features, object fitted to a {box}x{box} box"),
        Method("obb", "OBB", "clip", "obb_box", "OBB",
               "CLIP RN101 layer-3 features, object fitted to the optimal {box}x{box} box"),
        Method("pixel", "Pixel matcher (scale reference)", "pixel", "obb_box", None,
               "raw ink of {box}x{box}-fitted images, shrunk to thumbnails (not in the thesis)"),
    )
}


@dataclass(frozen=True)
class Table:
    number: str                 # the thesis's table number, e.g. "4.8"
    title: str
    methods: tuple[str, ...]    # rows, in order
    split: str = "test"


TABLES: dict[str, Table] = {
    t.number: t
    for t in (
        Table("4.8", "Table 4.8 (rows Baseline, OBB): instance-level sketch-based 3D shape retrieval on the test set",
              ("baseline", "obb", "pixel")),
    )
}


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown retrieval method '{name}'; known: {sorted(METHODS)}") from None


def get_table(number: str) -> Table:
    try:
        return TABLES[number]
    except KeyError:
        raise ValueError(f"no retrieval table {number!r}; known: {sorted(TABLES)}") from None


def methods_of_kind(kind: str) -> list[str]:
    return [m.name for m in METHODS.values() if m.kind == kind]


def feature_boxes(retrieval: dict) -> list[int]:
    """The distinct boxes CLIP features are extracted at."""
    return sorted({METHODS[m].box(retrieval) for m in methods_of_kind("clip")})


def caption_rows(table: str, retrieval: dict) -> str:
    """The rows of ``table`` described for a report caption."""
    return "; ".join(get_method(m).describe(retrieval) for m in get_table(table).methods)
