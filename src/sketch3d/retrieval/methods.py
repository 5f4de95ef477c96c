"""The retrieval settings of chapter 4.2, and which thesis table shows which: the one place for both.

The rules (which methods exist, which need CLIP features, which box each side's
features use), the tables (row labels, the thesis row compared with) and the
report captions all derive from :data:`METHODS` and :data:`TABLES`.

A box is the side, in px, of the square that the drawn object is centred and
scaled into (``retrieval.box``); ``None`` uses an image as it is (a rendering
as rendered). Thesis B.3.1: the *Baseline* of Table 4.8 fits the sketches to
170x170 and uses the renderings as rendered; fitting the renderings too is
Table B.2's *Baseline w/ centering*; *OBB* fits both to the optimal 129x129.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Method:
    name: str                   # used in file names and the `method` wildcard
    label: str                  # row label in our tables
    kind: str                   # "clip" (CLIP features) or "pixel" (raw thumbnails)
    sketch_box_key: str         # key of params.yaml's `retrieval` section giving the sketches' box, px
    gallery_box_key: str | None  # the same for the renderings; None: renderings used as rendered
    summary: str                # one line for captions; {sketch_box} / {gallery_box} are replaced
    thesis_rows: dict[str, str] = field(default_factory=dict)  # thesis table number -> its row label
    reduction: str | None = None  # over a shape's views: "min" / "mean"; None: retrieval.view_reduction

    def sketch_box(self, retrieval: dict) -> int:
        return int(retrieval[self.sketch_box_key])

    def gallery_box(self, retrieval: dict) -> int | None:
        return None if self.gallery_box_key is None else int(retrieval[self.gallery_box_key])

    def box(self, kind: str, retrieval: dict) -> int | None:
        """The box of the ``kind`` ("sketch" or "gallery") images under the ``retrieval`` parameters."""
        return self.sketch_box(retrieval) if kind == "sketch" else self.gallery_box(retrieval)

    def describe(self, retrieval: dict) -> str:
        return f"{self.label}: " + self.summary.format(sketch_box=self.sketch_box(retrieval),
                                                      gallery_box=self.gallery_box(retrieval))

    def thesis_row(self, table: str) -> str | None:
        return self.thesis_rows.get(table)

    def view_reduction(self, retrieval: dict) -> str:
        return self.reduction or retrieval["view_reduction"]


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("baseline", "Baseline", "clip", "baseline_box", None,
               "CLIP RN101 layer-3 features; sketches fitted to a {sketch_box}x{sketch_box} box, "
               "renderings as rendered",
               {"4.8": "Baseline", "B.2": "Baseline"}),
        Method("baseline_centering", "Baseline w/ centering", "clip", "baseline_box", "baseline_box",
               "CLIP RN101 layer-3 features; sketches and renderings fitted to a {sketch_box}x{sketch_box} box",
               {"B.2": "Baseline w/ centering"}),
        Method("obb", "OBB", "clip", "obb_box", "obb_box",
               "CLIP RN101 layer-3 features; sketches and renderings fitted to the optimal "
               "{sketch_box}x{sketch_box} box",
               {"4.8": "OBB", "B.2": "OBB"}),
        # Table 4.3 compares the two reductions whatever retrieval.view_reduction says
        Method("obb_min", "OBB, minimum over views", "clip", "obb_box", "obb_box",
               "as OBB ({sketch_box}x{sketch_box} box); a shape's distance is the minimum over its views",
               {"4.3": "Minimum"}, reduction="min"),
        Method("obb_mean", "OBB, average over views", "clip", "obb_box", "obb_box",
               "as OBB ({sketch_box}x{sketch_box} box); a shape's distance is the mean over its views",
               {"4.3": "Average"}, reduction="mean"),
        Method("pixel", "Pixel matcher (scale reference)", "pixel", "obb_box", "obb_box",
               "raw ink of {sketch_box}x{sketch_box}-fitted images, shrunk to thumbnails (not in the thesis)"),
    )
}


@dataclass(frozen=True)
class Table:
    number: str                 # the thesis's table number, e.g. "4.8"
    title: str
    methods: tuple[str, ...]    # rows, in order
    split: str = "test"

    @property
    def slug(self) -> str:
        """``4_8``: the table's name in file names and the `table` wildcard."""
        return self.number.replace(".", "_")


TABLES: dict[str, Table] = {
    t.number: t
    for t in (
        Table("4.8", "Table 4.8 (rows Baseline, OBB): instance-level sketch-based 3D shape retrieval on the test set",
              ("baseline", "obb", "pixel")),
        Table("B.2", "Table B.2: role of centring objects in sketch and model views (test set)",
              ("baseline", "baseline_centering", "obb", "pixel")),
        Table("4.3", "Table 4.3: a shape's distance as the minimum or the average over its views (validation set)",
              ("obb_mean", "obb_min"), split="val"),
    )
}


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown retrieval method '{name}'; known: {sorted(METHODS)}") from None


def get_table(number: str) -> Table:
    """A table by number (``4.8``) or slug (``4_8``)."""
    key = number.replace("_", ".")
    try:
        return TABLES[key]
    except KeyError:
        raise ValueError(f"no retrieval table {number!r}; known: {sorted(TABLES)}") from None


def methods_of_kind(kind: str) -> list[str]:
    return [m.name for m in METHODS.values() if m.kind == kind]


def box_name(box: int | None) -> str:
    """A box in file names and the `box` wildcard: ``129``, or ``none`` for images used as they are."""
    return "none" if box is None else str(box)


def caption_rows(table: str, retrieval: dict) -> str:
    """The rows of ``table`` described for a report caption."""
    return "; ".join(get_method(m).describe(retrieval) for m in get_table(table).methods)
