"""Tables 4.1 and 4.2 and their searches (``retrieval.grids``): the one place that names them.

A light module (no numpy, no torch): the CLI's ``choices``, the rules' wildcard constraints and the searches
themselves read it, and a job's code version follows it (``sketch3d.codeversion``), so it holds names only.
The thesis rows each row of ours is compared with are named, not counted (``GridTable.thesis_rows``).
"""
from __future__ import annotations

from dataclasses import dataclass

from sketch3d.names import table_id


@dataclass(frozen=True)
class GridTable:
    """Tables 4.1 and 4.2: one search (``retrieval.grids``) over both categories' validation sets each."""
    number: str
    title: str
    grid: str                   # the search: its key under params.yaml's retrieval.grids and its CSV's `grid`
    thesis_rows: dict[str, str]  # a stage of the grid's CSV (``<kind> best <category>`` per category) -> thesis row


GRID_TABLES: dict[str, GridTable] = {
    t.number: t
    for t in (
        GridTable("4.1", "Table 4.1: selection of the box the object is fitted into (validation set)", "box", {
            "random": "Random 50 from: [53.1%, 98.7%]",
            "refine": "Uniform 20 from: [51.6%, 59.2%]",
            "best": "Best: 57.7% (129x129)",
        }),
        GridTable("4.2", "Table 4.2: robust features, 0.5 (CLIP(OBB) + CLIP(f(OBB))), searches over f (validation set)",
                  "affine", {
            "obb": "OBB (Opt. bound. box)",
            "translation random": r"Transl. random (20) $x \in [-10\%224, 10\%224]$, $y \in [-10\%224, 10\%224]$",
            "translation refine": r"Transl. uniform (20) $x \in [21, 6]$, $y \in [-1, -6]$",
            "translation best both": "Transl. (best both) (19, -4)",
            "translation best chair": "Transl. (best chairs) (17, -5)",
            "translation best lamp": "Transl. (best lamps) (19, -2)",
            "rotation random": r"Rot. random (20) $\in [-40^\circ, 40^\circ]$",
            "rotation refine": r"Rot. uniform (20) $\in [-30^\circ, -20^\circ]$",
            "rotation best both": "Rot. -23.5°",
            "rotation best chair": "Rot. (best chairs) -23.5°",
            "rotation best lamp": "Rot. (best lamps) -23.5°",
            "combined": "transl. (19, -4) & rot. -23.5°",
            "augm4": "Augm. (4 imgs.)",
        }),
    )
}
GRIDS = tuple(t.grid for t in GRID_TABLES.values())  # the searches (`grid` wildcard, `retrieval_grid --grid`)


def get_grid_table(number: str) -> GridTable:
    """Table 4.1 or 4.2 by number (``4.1``) or slug (``4_1``)."""
    try:
        return GRID_TABLES[table_id(number)]
    except KeyError:
        raise ValueError(f"no grid table {number!r}; known: {sorted(GRID_TABLES)}") from None
