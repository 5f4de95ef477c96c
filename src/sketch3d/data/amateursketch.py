"""Read the AmateurSketch dataset (Qi et al. 2021): SVG sketches of ShapeNet shapes.

The exact file naming of the archives could not be confirmed offline, so this
module accepts one documented layout and stops with a clear message (listing some
of the names it found) on anything else.

Expected layout, under the folder an archive was extracted to:

* Sketches are SVG files (``*.svg``, any case), anywhere below the root. If the
  root holds a folder named for a category (``chair``, ``chairs``, ``chair_svg``,
  ``chair-sketches``, ``Chair``, or the ShapeNet synset ``03001627``; likewise for
  ``lamp``), only SVGs inside the folder(s) of the requested category are read.
  ``__MACOSX`` folders and hidden files are ignored. The one layout public code
  confirms: the extracted chair archive holds a folder ``chair_svg/`` of SVGs named
  ``<model id>_...svg`` (third-party readers take the id as the name up to the first
  ``_`` or ``-``); what follows the id is not confirmed.
* A file's stem is ``<model_id><sep><tokens>`` where ``<model_id>`` is the
  32-hex-digit ShapeNet model id, ``<sep>`` is ``_`` or ``-`` and ``<tokens>`` are
  alphanumeric tokens separated by ``_`` or ``-``. Exactly one token is the view
  marker, one of
  - ``az<deg>``, ``azi<deg>``, ``azimuth<deg>`` or ``<deg>deg``: the azimuth in degrees;
  - ``v<k>`` or ``view<k>``: the view index, 0-based if some file of the category
    uses index 0, otherwise 1-based;
  - a bare integer ``<n>``: read as degrees if every bare integer of the category is
    one of its azimuths, else as a 0-based index if the values include 0 and lie in
    {0, 1, 2}, else as a 1-based index if they include 3 and lie in {1, 2, 3}.
  Azimuths are the thesis's (app. B / ch. 4.3.3.1): chairs 0, 30, 75; lamps 0, 45, 90
  (elevation 20 degrees). Other tokens (participant, "best", ...) are kept in
  the ``extra`` column. Example: ``1a6f615e8b1b5ae4dbbc9440457e303e_30.svg``.
* Optional official splits: either folders named ``train``/``val``/``test`` (also
  ``training``, ``validation``, ``valid``, ``testing``) on the path of each SVG (then
  a ``test`` folder must be among them), or
  text files (``.txt``, ``.lst``, ``.csv``) whose name contains ``train``, ``val``
  or ``test`` and that list ShapeNet model ids (any 32-hex-digit strings in the file).

If the real archive differs, adapt ``STEM_RE``/``_classify`` here; nothing
downstream depends on the file names.
"""
from __future__ import annotations

import math
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from sketch3d.data.shapenet import SYNSETS
from sketch3d.data.sketch import Sketch

SOURCE = "amateursketch"
SKETCH_AZIMUTHS: dict[str, tuple[int, ...]] = {"chair": (0, 30, 75), "lamp": (0, 45, 90)}
MODEL_ID = r"[0-9a-f]{32}"
STEM_RE = re.compile(rf"^(?P<model_id>{MODEL_ID})(?P<rest>(?:[_-][A-Za-z0-9]+)+)$")
_DEG_RE = re.compile(r"^(?:az|azi|azimuth)(\d+)$|^(\d+)deg$", re.IGNORECASE)
_IDX_RE = re.compile(r"^(?:v|view)(\d+)$", re.IGNORECASE)
_INT_RE = re.compile(r"^\d+$")
_SPLIT_DIRS = {
    "train": "train", "training": "train",
    "val": "val", "valid": "val", "validation": "val",
    "test": "test", "testing": "test",
}
EXPECTED = (
    "<32-hex ShapeNet model id>(_|-)<view marker>[(_|-)<other tokens>].svg, view marker one of "
    "az<deg> | <deg>deg | v<k> | view<k> | <integer>, e.g. 1a6f615e8b1b5ae4dbbc9440457e303e_30.svg"
)
SKETCH_INDEX_COLUMNS = [
    "sketch_id", "shape_id", "category", "split", "azimuth", "path", "source", "view_marker", "extra", "folder_split",
]


class AmateurSketchError(ValueError):
    """The AmateurSketch files are not laid out as this reader expects."""


# ----------------------------------------------------------------------------- SVG


def _sample_segment(seg, step: float) -> np.ndarray:
    """Points along one svgelements segment (lines: end points only).

    Curves get at most one point per ``step`` px, and fewer where they are flat: a
    chord of length h turning by phi deviates about h * phi / 8 from the curve, so
    n = sqrt(length * turning / (8 * tol)) points with tol = step / 4 suffice. Points
    are spread evenly in (arc length + turning), which puts them where the curve bends.
    """
    import svgelements as se

    if isinstance(seg, (se.Line, se.Close)):
        return np.array([[seg.start.x, seg.start.y], [seg.end.x, seg.end.y]], dtype=float)
    t = np.linspace(0.0, 1.0, 257)
    dense = np.asarray(seg.npoint(t), dtype=float)
    d = np.diff(dense, axis=0)
    seglen = np.linalg.norm(d, axis=1)
    length = float(seglen.sum())
    if length <= 0:
        return dense[[0, -1]]
    ang = np.unwrap(np.arctan2(d[:, 1], d[:, 0]))
    turn = np.abs(np.diff(ang))
    turning = float(turn.sum())
    tol = step / 4.0
    n_max = int(math.ceil(length / step)) + 1
    n = int(min(n_max, max(2, math.ceil(math.sqrt(length * turning / (8.0 * tol))) + 1)))
    if n <= 2:
        return dense[[0, -1]]
    # cumulative measure: arc length share + turning share (turning attributed to the following piece)
    weight = seglen / length + (np.concatenate([[0.0], turn]) / turning if turning > 0 else 0.0)
    cum = np.concatenate([[0.0], np.cumsum(weight)])
    return np.asarray(seg.npoint(np.interp(np.linspace(0.0, cum[-1], n), cum, t)), dtype=float)


def _element_polylines(element, step: float) -> list[np.ndarray]:
    """Flatten one shape element into polylines (one per subpath)."""
    import svgelements as se

    lines: list[np.ndarray] = []
    current: list[np.ndarray] = []
    for seg in se.Path(element).segments():
        if isinstance(seg, se.Move):
            if current:
                lines.append(np.concatenate(current))
            current = [np.array([[seg.end.x, seg.end.y]], dtype=float)]
            continue
        if seg.start is None or seg.end is None:
            continue
        pts = _sample_segment(seg, step)
        current.append(pts[1:] if current else pts)
    if current:
        lines.append(np.concatenate(current))
    return [line for line in lines if len(line) >= 2]


def parse_svg(path: str | os.PathLike, step: float | None = None, default_width: float = 1.0):
    """Read one SVG sketch into :class:`sketch3d.data.sketch.Sketch`.

    Paths, polylines, polygons, lines and basic shapes with a visible stroke become
    polylines in canvas pixels (y down; the viewBox is mapped onto width/height as
    SVG viewers do); curves are sampled at most ``step`` px apart (default: half a
    pixel of a 224 px rendering, i.e. max(canvas) / 448) and more sparsely where flat,
    staying within about step / 4 of the curve. Straight segments keep only their
    end points; subpaths of a single point are dropped. Stroke widths come from the
    SVG (scaled by its transforms); where none is given, ``default_width`` user units.
    The canvas is the SVG's width/height (else its viewBox size), rounded to whole
    pixels; the exact size is kept in ``meta["svg_canvas"]``.
    """
    import svgelements as se


    path = Path(path)
    try:
        svg = se.SVG.parse(str(path))
    except Exception as err:  # svgelements raises various parse errors
        raise AmateurSketchError(f"{path}: not a readable SVG file ({type(err).__name__}: {err})") from err
    if svg.values.get("width") is None and svg.values.get("height") is None and svg.viewbox is None:
        raise AmateurSketchError(f"{path}: the <svg> element has neither width/height nor viewBox; canvas size unknown")
    canvas_f = (float(svg.width), float(svg.height))
    canvas = (max(1, int(round(canvas_f[0]))), max(1, int(round(canvas_f[1]))))
    step = float(step) if step else max(canvas_f) / 448.0
    if step <= 0:
        raise ValueError(f"parse_svg: step must be > 0, got {step}")
    strokes: list[np.ndarray] = []
    widths: list[float] = []
    explicit = 0
    skipped = 0
    for element in svg.elements():
        if not isinstance(element, se.Shape) or isinstance(element, se.SVG):
            continue
        if element.stroke is None or element.stroke.value is None:
            skipped += 1
            continue
        has_width = element.values.get("stroke-width") is not None
        # svgelements reports SVG's default width (1 user unit) scaled by the transforms when none is given
        width = float(element.stroke_width or 1.0) * (1.0 if has_width else default_width)
        for line in _element_polylines(element, step):
            strokes.append(line)
            widths.append(width if width > 0 else default_width)
            explicit += int(has_width)
    if not strokes:
        raise AmateurSketchError(
            f"{path}: no stroked path/line/polyline found ({skipped} element(s) without a stroke); "
            "expected a line drawing whose elements have stroke set"
        )
    meta = {
        "source": SOURCE,
        "file": path.name,
        "svg_canvas": [canvas_f[0], canvas_f[1]],
        "widths_from_svg": explicit == len(strokes),
    }
    return Sketch(strokes=strokes, widths=widths, canvas=canvas, meta=meta)


# ----------------------------------------------------------------------------- index


def _category_dir_names(category: str) -> set[str]:
    names = {category, f"{category}s"}
    for suffix in ("svg", "svgs", "sketch", "sketches"):
        for sep in ("_", "-", ""):
            names.add(f"{category}{sep}{suffix}")
            names.add(f"{category}s{sep}{suffix}")
    if category in SYNSETS:
        names.add(SYNSETS[category])
    return names


def _ignored(rel: Path) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in rel.parts)


def _top_level(root: Path, k: int = 8) -> str:
    """What the extracted archive holds at its top level, for messages."""
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir()
                   if not p.name.startswith(".") and p.name != "__MACOSX")
    return _examples(names, k) if names else "nothing"


def _svg_files(root: Path, category: str, archive: Path | None = None) -> list[Path]:
    """SVGs of ``category`` under ``root`` (restricted to category folders if there are any)."""
    wanted = _category_dir_names(category)
    others = set().union(*(_category_dir_names(c) for c in SKETCH_AZIMUTHS if c != category))
    files, listing = [], Counter()
    cat_dirs = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        if _ignored(rel):
            dirnames[:] = []
            continue
        dirnames.sort()
        for d in dirnames:
            if d.lower() in wanted:
                cat_dirs.append(Path(dirpath) / d)
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            listing[Path(name).suffix.lower() or "<none>"] += 1
            if name.lower().endswith(".svg"):
                files.append(Path(dirpath) / name)
    if cat_dirs:
        files = [f for f in files if any(d in f.parents for d in cat_dirs)]
    else:
        # no folder names the category: drop SVGs inside folders naming another category
        files = [f for f in files if not any(p.name.lower() in others for p in f.relative_to(root).parents)]
    if not files:
        found = ", ".join(f"{n} x {ext}" for ext, n in listing.most_common(6)) or "nothing"
        where = f"archive {archive} (extracted to {root})" if archive is not None else str(root)
        raise AmateurSketchError(
            f"{where}: no {category} SVG sketches (found: {found}; top level: {_top_level(root)}). Expected a "
            f"folder {category}_svg/ (the layout public code reads; also accepted: "
            f"{', '.join(n + '/' for n in sorted(_category_dir_names(category) - {f'{category}_svg'})[:5])}, ...) "
            f"holding {EXPECTED}. Check that this is the AmateurSketch {category} archive, complete and "
            "unrenamed (see sources.yaml, how_to_get); if its layout differs, adapt sketch3d.data.amateursketch."
        )
    return files


def _classify(token: str) -> tuple[str, int] | None:
    """('deg'|'idx'|'int', value) if ``token`` looks like a view marker."""
    m = _DEG_RE.match(token)
    if m:
        return "deg", int(m.group(1) or m.group(2))
    m = _IDX_RE.match(token)
    if m:
        return "idx", int(m.group(1))
    if _INT_RE.match(token):
        return "int", int(token)
    return None


def _index_base(kind: str, values: set[int], azimuths: tuple[int, ...]) -> str | None:
    """How bare integers / view indices of a category are read: 'deg', 'idx0', 'idx1' or None."""
    n = len(azimuths)
    zero_based, one_based = set(range(n)), set(range(1, n + 1))
    if kind == "int" and values <= set(azimuths):
        return "deg"
    if 0 in values and values <= zero_based:
        return "idx0"
    if values <= one_based and (kind == "idx" or n in values):
        return "idx1"
    return None


def _folder_split(rel: Path) -> str:
    splits = {_SPLIT_DIRS[p.lower()] for p in rel.parent.parts if p.lower() in _SPLIT_DIRS}
    return splits.pop() if len(splits) == 1 else ""


def _examples(names: list[str], k: int = 5) -> str:
    return ", ".join(names[:k]) + (f" ... ({len(names)} in all)" if len(names) > k else "")


def index_amateursketch(
    root: str | os.PathLike, category: str, azimuths: tuple[int, ...] | None = None,
    archive: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """List the SVG sketches of ``category`` under ``root`` (layout: see the module docstring).

    Returns one row per sketch with columns sketch_id (the file stem), shape_id (the
    ShapeNet model id), category, split (None: filled by ``paper_dataset``), azimuth
    (degrees), path (the SVG), source, view_marker, extra, folder_split ("" unless the
    SVG sits in a train/val/test folder). Raises AmateurSketchError on any other layout, naming
    ``archive`` (the zip ``root`` was extracted from), when given.
    """
    root = Path(root)
    if category not in SKETCH_AZIMUTHS and azimuths is None:
        raise AmateurSketchError(f"unknown category '{category}'; AmateurSketch has {sorted(SKETCH_AZIMUTHS)}")
    if not root.is_dir():
        raise AmateurSketchError(f"AmateurSketch folder {root} does not exist; extract the {category} archive there")
    azimuths = tuple(azimuths or SKETCH_AZIMUTHS[category])
    parsed, bad = [], []
    archive = Path(archive) if archive is not None else None
    for f in _svg_files(root, category, archive):
        m = STEM_RE.match(f.stem.lower())
        tokens = re.split(r"[_-]", m.group("rest"))[1:] if m else []
        marks = [(i, c) for i, t in enumerate(tokens) if (c := _classify(t)) is not None]
        if not m or len(marks) != 1:
            bad.append(f.relative_to(root).as_posix())
            continue
        i, (kind, value) = marks[0]
        parsed.append((f, m.group("model_id"), kind, value, tokens[i], "_".join(tokens[:i] + tokens[i + 1:])))
    if bad:
        raise AmateurSketchError(
            f"{len(bad)} of {len(bad) + len(parsed)} {category} SVG file(s) under {root} are not named as expected "
            f"({EXPECTED}; exactly one view marker per name): {_examples(bad)}. "
            "The archive layout differs from what sketch3d.data.amateursketch expects: adapt STEM_RE/_classify there."
        )
    bases = {}
    for kind in ("int", "idx"):
        values = {v for _, _, k, v, _, _ in parsed if k == kind}
        if values:
            bases[kind] = _index_base(kind, values, azimuths)
            if bases[kind] is None:
                raise AmateurSketchError(
                    f"{category} sketches under {root}: view markers {sorted(values)} can be read neither as "
                    f"azimuths {list(azimuths)} nor as view indices 0..{len(azimuths) - 1} / 1..{len(azimuths)}; "
                    f"examples: {_examples([p[0].name for p in parsed if p[2] == kind])}"
                )
    rows, off = [], []
    for f, model_id, kind, value, token, extra in parsed:
        base = "deg" if kind == "deg" else bases[kind]
        if base == "deg":
            azimuth = value if value in azimuths else None
        else:
            index = value - (1 if base == "idx1" else 0)
            azimuth = azimuths[index] if 0 <= index < len(azimuths) else None
        if azimuth is None:
            off.append(f.name)
            continue
        rel = f.relative_to(root)
        rows.append((f.stem, model_id, category, None, int(azimuth), str(f), SOURCE, token, extra, _folder_split(rel)))
    if off:
        raise AmateurSketchError(
            f"{len(off)} {category} sketch(es) under {root} have a view that is not one of the thesis azimuths "
            f"{list(azimuths)}: {_examples(off)}"
        )
    df = pd.DataFrame(rows, columns=SKETCH_INDEX_COLUMNS)
    dup = df["sketch_id"][df["sketch_id"].duplicated()].tolist()
    if dup:
        raise AmateurSketchError(
            f"{category} sketches under {root}: the same file name appears in several folders: {_examples(dup)}; "
            "sketch ids are file stems and must be unique: keep one copy"
        )
    return df.sort_values("sketch_id").reset_index(drop=True)


def find_split_lists(root: str | os.PathLike, category: str) -> dict[str, set[str]]:
    """Official split lists in an extracted archive: {split: model ids}; empty if there are none.

    Reads text files (.txt, .lst, .csv) whose name contains train/val/test; files whose
    name names another category are skipped. Every 32-hex-digit string in a file is an id.
    """
    root = Path(root)
    others = [c for c in SKETCH_AZIMUTHS if c != category]
    out: dict[str, set[str]] = {}
    for f in sorted(root.rglob("*")):
        if f.suffix.lower() not in (".txt", ".lst", ".csv") or not f.is_file() or _ignored(f.relative_to(root)):
            continue
        name = f.stem.lower()
        if any(o in name for o in others):
            continue
        split = next((s for key, s in (("train", "train"), ("test", "test"), ("val", "val")) if key in name), None)
        if split is None:
            continue
        ids = set(re.findall(MODEL_ID, f.read_text(errors="replace").lower()))
        if ids:
            out.setdefault(split, set()).update(ids)
    return out
