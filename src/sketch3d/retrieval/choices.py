"""The OBB box and the Augm. transforms in force: the grid searches' choices where they ran, else params.yaml's.

Thesis 4.2.3.2: Table 4.1's search picks the box that the OBB rows use, Table 4.2's picks the translation
and rotation that the Augm. rows average over. The searches write their choice under ``choice`` in
``<results>/retrieval/grids/box.json`` (``{"box": px, ...}``) and ``affine.json`` (``{"box": px,
"translation": [x, y], "rotation": deg}``, ``retrieval.grids``); without them the named setting of
``params.yaml`` (``retrieval.obb_box``, ``retrieval.augment``: the thesis's values) stands. Whoever applies
the box and the transforms (``Method.transforms``) reads them through :func:`chosen_retrieval`, so that the
pipeline and ``sketch3d query`` cannot disagree on them.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

__all__ = ["chosen_retrieval", "grids_dir"]


def grids_dir(results_dir: str | Path) -> Path:
    """Where the searches write their JSON under a results folder (``results/<profile>``)."""
    return Path(results_dir) / "retrieval" / "grids"


def _choice(path: Path, keys: tuple[str, ...]) -> dict | None:
    """The ``choice`` of a grid's JSON, or None when the file is absent; a file without the keys is an error."""
    if not path.is_file():
        return None
    try:
        choice = json.loads(path.read_text())["choice"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a grid search's output (JSON with a 'choice'): {exc}; re-run the "
                         "retrieval_grid rule or remove the file to use params.yaml's settings") from None
    missing = [k for k in keys if k not in choice]
    if missing:
        raise ValueError(f"{path}: its 'choice' lacks {missing}; re-run the retrieval_grid rule")
    return choice


def chosen_retrieval(retrieval: dict, grids: str | Path | None) -> tuple[dict, list[str]]:
    """``retrieval`` (params' section) with ``obb_box`` and ``augment`` taken from the searches' choices in the
    folder ``grids`` where present, and one line per setting saying where it came from."""
    r = copy.deepcopy(retrieval)
    box = aff = None
    if grids is not None:
        box = _choice(Path(grids) / "box.json", ("box",))
        aff = _choice(Path(grids) / "affine.json", ("translation", "rotation"))
    if box is not None:
        r["obb_box"] = int(box["box"])
        sources = [f"box {r['obb_box']} px: Table 4.1's search ({Path(grids) / 'box.json'}, choice)"]
    else:
        sources = [f"box {int(r['obb_box'])} px: params retrieval.obb_box (no {Path(grids or '.') / 'box.json'})"]
    if aff is not None:
        tx, ty = (float(v) for v in aff["translation"])
        r["augment"] = {"translate": [tx, ty], "rotate": float(aff["rotation"])}
        line = (f"transforms translate ({tx:g}, {ty:g}) px, rotate {float(aff['rotation']):g} deg: Table 4.2's "
                f"search ({Path(grids) / 'affine.json'}, choice)")
        if "box" in aff and int(aff["box"]) != int(r["obb_box"]):
            line += f"; NOTE: searched on box {int(aff['box'])}, applied on box {int(r['obb_box'])}"
        sources.append(line)
    else:
        a = r["augment"]
        sources.append(f"transforms translate ({float(a['translate'][0]):g}, {float(a['translate'][1]):g}) px, "
                       f"rotate {float(a['rotate']):g} deg: params retrieval.augment "
                       f"(no {Path(grids or '.') / 'affine.json'})")
    return r, sources
