"""The chain of choices (thesis 4.2.3.2): which box and which Augm. transforms the retrieval rows use.

The thesis chooses each setting with a search on the validation split and evaluates the next step with it:
Table 4.1's search gives the box (57.7% of 224 = 129 px), which is Table 4.2's "OBB"; Table 4.2's searches, run
on those OBB images, give the translation and the rotation of every "Augm." row (Table 4.2's combined row,
"transl. (19, -4) & rot. -23.5", and Table 4.7's first row are the same setting). So a run's OBB and Augm. rows
use what *its own* searches chose; the thesis's reported values stay available as a named setting.

``retrieval.choices`` lists the settings a run evaluates; the first is the main one (every table's rows, the
figures, the masks, ``sketch3d query``), the others add rows beside it in every table that shows a method which
depends on the choice (:func:`depends_on_choice`):

- ``search``: this run's searches, ``retrieval/grids/box.json`` (Table 4.1) and ``retrieval/grids/affine.json``
  (Table 4.2, run on Table 4.1's box), their ``choice``;
- ``thesis``: the thesis's values, ``retrieval.thesis_choice`` (Table 4.1's 129 px, Table 4.2's (19, -4) px and
  -23.5 degrees).

:func:`resolve` turns either into the retrieval section every method reads (``obb_box``, ``augment``), so the
methods, the feature files' names and the table rows' recorded settings all follow from one place.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

CHOICES = ("search", "thesis")
GRID_FILES = ("box", "affine")  # the searches `search` reads, in chain order (grid_tables.GRIDS)


class ChoiceError(ValueError):
    """A choice that cannot be resolved: an unknown name, or a search's result missing or inconsistent."""


def check_choices(choices) -> tuple[str, ...]:
    """``retrieval.choices`` as a tuple, refused when empty, repeated or unknown."""
    out = tuple(choices or ())
    if not out:
        raise ChoiceError("retrieval.choices is empty: list at least one of " + ", ".join(CHOICES))
    unknown = [c for c in out if c not in CHOICES]
    if unknown or len(set(out)) != len(out):
        raise ChoiceError(f"retrieval.choices {list(out)}: each of {list(CHOICES)} at most once, got "
                          f"{'unknown ' + str(unknown) if unknown else 'a repeat'}")
    return out


def main_choice(retrieval: Mapping) -> str:
    """The choice of every table's main rows, the figures and ``sketch3d query``: ``retrieval.choices[0]``."""
    return check_choices(retrieval.get("choices", ("thesis",)))[0]


def read_search(box_json: str | Path, affine_json: str | Path) -> dict:
    """{"obb_box", "augment"} chosen by this run's searches (the grids' JSON files, key ``choice``).

    Refused, naming the file, when a file is missing, is not the grid it should be, or when Table 4.2 ran on
    another box than Table 4.1 chose (a stale affine grid: rerun it)."""
    found = {}
    for grid, path in zip(GRID_FILES, (box_json, affine_json)):
        path = Path(path)
        if not path.is_file():
            raise ChoiceError(f"retrieval choice 'search' needs the {grid} search's result {path}, which is missing: "
                              f"run the retrieval_grid rule (Table {'4.1' if grid == 'box' else '4.2'}), or set "
                              "retrieval.choices: [thesis] to use the thesis's values")
        try:
            summary = json.loads(path.read_text())
            if summary["grid"] != grid:
                raise ChoiceError(f"{path} holds the {summary['grid']!r} search, not the {grid!r} one")
            found[grid] = summary["choice"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise ChoiceError(f"{path}: not a retrieval_grid result with a 'choice' ({e}); rerun retrieval_grid") from e
    box, affine = found["box"], found["affine"]
    if int(affine["box"]) != int(box["box"]):
        raise ChoiceError(f"{affine_json} was searched on a {affine['box']} px box but {box_json} chose "
                          f"{box['box']} px: the affine search is stale, rerun it")
    return {"obb_box": int(box["box"]),
            "augment": {"translate": [int(v) for v in affine["translation"]], "rotate": float(affine["rotation"])}}


def resolve(retrieval: Mapping, choice: str, search: Mapping | None = None) -> dict:
    """The retrieval section under ``choice``: ``retrieval`` with ``obb_box`` and ``augment`` set, and ``choice``
    recorded. ``search``: :func:`read_search`'s result (needed for ``search`` only)."""
    if choice not in CHOICES:
        raise ChoiceError(f"unknown retrieval choice {choice!r}; known: {list(CHOICES)}")
    if choice == "thesis":
        picked = retrieval["thesis_choice"]
    elif search is None:
        raise ChoiceError("retrieval choice 'search' needs the searches' results (read_search)")
    else:
        picked = search
    out = dict(retrieval)
    out["obb_box"] = int(picked["obb_box"])
    out["augment"] = {"translate": [float(v) for v in picked["augment"]["translate"]],
                      "rotate": float(picked["augment"]["rotate"])}
    out["choice"] = choice
    return out


def settings_under(retrieval: Mapping, choice: str, grids=None) -> dict:
    """:func:`resolve` from the command line's ``--choice`` and ``--grids BOX_JSON AFFINE_JSON`` (``search``)."""
    if choice == "search":
        if not grids or len(grids) != 2:
            raise ChoiceError("retrieval choice 'search' needs --grids BOX_JSON AFFINE_JSON (the searches' results)")
        return resolve(retrieval, choice, read_search(*grids))
    return resolve(retrieval, choice)


def depends_on_choice(method) -> bool:
    """Whether a ``retrieval.methods.Method``'s rows change with the choice: it fits images to the OBB box,
    averages Augm. copies, or uses a learned mask (trained on OBB, Augm. features)."""
    return "obb_box" in (method.sketch_box_key, method.gallery_box_key) or method.augment is not None \
        or method.mask is not None
