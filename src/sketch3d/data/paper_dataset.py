"""The paper profile's dataset: AmateurSketch sketches + their ShapeNetCore v2 shapes.

Steps per category of ``paper["categories"]``: fetch the AmateurSketch archive
(``sources.yaml``; an archive already under ``data_dir`` is verified and used),
extract it to ``<data_dir>/amateursketch/<category>/``, index its SVGs, decide the
splits, index the ShapeNet meshes of every sketched shape, and convert every SVG
to our sketch JSON under ``<out_dir>/sketches/<category>/<sketch_id>.json``.

Splits are per shape (a shape and all its sketches share one split), in this order
of preference:

1. ``train``/``val``/``test`` folders in the archive (every SVG must be in one);
2. split list files in the archive (``find_split_lists``): test (and val, if listed)
   shapes from the lists, the others train;
3. otherwise a seeded split reproducing the thesis's sizes: the test gallery holds
   201 chairs / 111 lamps (thesis app. B, Table 4.8), drawn at random among the
   sketched shapes.

When no validation list exists, ``amateursketch_splits.val_shapes`` whole shapes
(200) are drawn at random from the training shapes, with all their sketches: the
thesis validates on "200 chair and 200 lamp" shapes of the training split, three
sketches each (its validation accuracies are multiples of 1/600). Random draws use
``numpy.random.default_rng([seed, crc32(category)])`` on sorted ids, so a category's
split depends only on the seed and its own files.
``profiles.paper.data.amateursketch_splits.test_shapes`` (an int, or {category: int}) overrides
the thesis's test sizes, e.g. for small tests.
"""
from __future__ import annotations

import logging
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from sketch3d.atomic import atomic_dir
from sketch3d.data.amateursketch import find_split_lists, index_amateursketch, parse_svg
from sketch3d.data.download import extract_zip, fetch
from sketch3d.data.manifest import SHAPE_COLUMNS, SKETCH_COLUMNS, resolve
from sketch3d.data.registry import Source, load_sources
from sketch3d.data.shapenet import index_shapenet

log = logging.getLogger(__name__)
THESIS_TEST_SHAPES: dict[str, int] = {"chair": 201, "lamp": 111}
THESIS_TEST_QUERIES: dict[str, int] = {"chair": 603, "lamp": 333}  # thesis Table 4.8: 3 sketches per test shape
DEFAULT_VAL_SHAPES = 200  # thesis 4.2.3: 200 shapes x 3 sketches per class


class SplitError(ValueError):
    """The splits cannot be built from the files and parameters given."""


def _rng(seed: int, category: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(category.encode())])


def _test_size(paper: dict, category: str) -> int:
    cfg = (paper.get("amateursketch_splits") or {}).get("test_shapes", THESIS_TEST_SHAPES)
    n = cfg.get(category) if isinstance(cfg, dict) else cfg
    if not isinstance(n, int) or n < 1:
        raise SplitError(
            f"profiles.paper.data.amateursketch_splits.test_shapes gives no positive test size for '{category}' ({cfg!r}); "
            f"give an int or a mapping like {THESIS_TEST_SHAPES}"
        )
    return n


def check_thesis_test_set(category: str, split: dict[str, str], sketches: pd.DataFrame, how: str) -> None:
    """With the thesis's test sizes (no ``test_shapes`` override), the test set must be the thesis's:
    201 chairs / 111 lamps with 603 / 333 sketches. Anything else is a different experiment: stop."""
    if category not in THESIS_TEST_SHAPES:
        return
    test = {sid for sid, v in split.items() if v == "test"}
    n_queries = int(sketches["shape_id"].isin(test).sum())
    want = (THESIS_TEST_SHAPES[category], THESIS_TEST_QUERIES[category])
    if (len(test), n_queries) != want:
        raise SplitError(
            f"AmateurSketch {category}: the test split ({how}) holds {len(test)} shapes / {n_queries} sketches, but "
            f"the thesis tests on {want[0]} shapes / {want[1]} sketches; is the archive complete? (set "
            "profiles.paper.data.amateursketch_splits.test_shapes to run another test set on purpose)"
        )


def pick_validation(train_ids: list[str], val_shapes: int, rng: np.random.Generator) -> list[str]:
    """``val_shapes`` training shapes drawn at random (whole shapes: all their sketches validate)."""
    if val_shapes <= 0:
        return []
    if val_shapes >= len(train_ids):
        raise SplitError(
            f"the validation set (profiles.paper.data.amateursketch_splits.val_shapes = {val_shapes}) would take "
            f"every one of the {len(train_ids)} training shapes; lower it"
        )
    return [train_ids[i] for i in rng.permutation(len(train_ids))[:val_shapes]]


def decide_splits(
    sketches: pd.DataFrame, root: Path, category: str, seed: int, val_shapes: int, test_shapes: int
) -> tuple[dict[str, str], str]:
    """{shape_id: split} for the sketched shapes, and how it was decided (see module docstring)."""
    shapes = sorted(sketches["shape_id"].unique())
    rng = _rng(seed, category)
    folder = sketches["folder_split"]
    if (folder != "").any():
        if (folder == "").any():
            raise SplitError(
                f"{root}: some {category} SVGs sit in train/val/test folders and others do not, e.g. "
                f"{sketches.loc[folder == '', 'path'].head(3).tolist()}; the split cannot be read"
            )
        per_shape = sketches.groupby("shape_id")["folder_split"].agg(lambda s: sorted(set(s)))
        mixed = per_shape[per_shape.map(len) > 1]
        if len(mixed):
            raise SplitError(f"{root}: shapes with sketches in several split folders: {mixed.index[:5].tolist()}")
        split = {sid: v[0] for sid, v in per_shape.items()}
        if "test" not in split.values():
            present = sorted(set(split.values()))
            raise SplitError(
                f"{root}: the {category} SVGs sit in split folders {[f'{p}/' for p in present]} but none in a "
                "test/ folder (also read: testing/); a split-folder layout needs a test folder for the test gallery. "
                "Is the archive complete? Get it again (sources.yaml, how_to_get)"
            )
        how = "archive-folders"
    else:
        lists = find_split_lists(root, category)
        if "test" in lists:
            split, how = {}, "official-lists"
            for name in ("test", "val"):
                for sid in sorted(lists.get(name, set()) & set(shapes)):
                    if sid in split:
                        raise SplitError(f"{root}: shape {sid} is listed in both the {split[sid]} and {name} lists")
                    split[sid] = name
            if not any(v == "test" for v in split.values()):
                raise SplitError(f"{root}: the test split list names none of the {len(shapes)} sketched {category} shapes")
        else:
            n_test = test_shapes
            if n_test >= len(shapes):
                raise SplitError(
                    f"{root}: {len(shapes)} sketched {category} shapes, but the test gallery needs {n_test} "
                    "plus training shapes; is the archive complete?"
                )
            split = {shapes[i]: "test" for i in rng.permutation(len(shapes))[:n_test]}
            how = "seeded-thesis-sizes"
    train = [sid for sid in shapes if sid not in split or split[sid] == "train"]
    if not any(v == "val" for v in split.values()):
        val = set(pick_validation(train, val_shapes, rng))
        how += "+seeded-val" if val else ""
    else:
        val = set()
    return {sid: ("val" if sid in val else split.get(sid, "train")) for sid in shapes}, how


def _convert(rows: pd.DataFrame, final_dir: Path, extracted: Path) -> list[str]:
    """Write each SVG of ``rows`` as ``<final_dir>/<sketch_id>.json`` (atomically as a folder)."""
    from sketch3d.data.sketch import save_sketch

    paths = []
    with atomic_dir(final_dir) as tmp:
        for row in rows.itertuples(index=False):
            sketch = parse_svg(row.path)
            sketch.meta.update(
                sketch_id=row.sketch_id,
                shape_id=row.shape_id,
                category=row.category,
                azimuth=int(row.azimuth),
                svg=Path(row.path).relative_to(extracted).as_posix(),
            )
            save_sketch(sketch, tmp / f"{row.sketch_id}.json")
            paths.append(str(final_dir / f"{row.sketch_id}.json"))
    return paths


def prepare_paper_data(
    paper: dict,
    seed: int,
    out_dir: Path,
    *,
    base: str | Path = ".",
    timeout: float = 30,
    sources: dict[str, Source] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the (shapes, sketches) manifests of the paper profile; write sketch JSONs under ``out_dir``.

    ``paper`` is params.yaml's ``paper`` section; relative paths in it are taken
    from ``base``. Raises (DownloadError, AmateurSketchError, ShapeNetError,
    SplitError) before writing anything when an input is missing or malformed.
    """
    sources = load_sources() if sources is None else sources
    data_dir = resolve(paper["data_dir"], base)
    shapenet_root = resolve(paper["shapenet_root"], base)
    val_shapes = int((paper.get("amateursketch_splits") or {}).get("val_shapes", DEFAULT_VAL_SHAPES))
    out_dir = Path(out_dir)
    plans = []
    for category in paper["categories"]:
        name = f"amateursketch_{category}"
        if name not in sources:
            raise KeyError(f"no AmateurSketch source '{name}' in sources.yaml for data.categories entry '{category}'")
        archive = fetch(sources[name], data_dir, timeout=timeout)
        extracted = extract_zip(archive, data_dir / "amateursketch" / category)
        sketches = index_amateursketch(extracted, category, archive=archive)
        split, how = decide_splits(sketches, extracted, category, seed, val_shapes, _test_size(paper, category))
        if "test_shapes" not in (paper.get("amateursketch_splits") or {}):
            check_thesis_test_set(category, split, sketches, how)
        shapes = index_shapenet(shapenet_root, category, sorted(split), split)
        shapes["split_source"] = how
        sketches["split"] = sketches["shape_id"].map(split)
        plans.append((category, extracted, shapes, sketches))
        log.info("%s: %d shapes, %d sketches, splits %s (%s)", category, len(shapes), len(sketches),
                 shapes["split"].value_counts().to_dict(), how)
    all_shapes, all_sketches = [], []
    for category, extracted, shapes, sketches in plans:
        sketches = sketches.copy()
        sketches["svg_path"] = sketches["path"]
        sketches["path"] = _convert(sketches, out_dir / "sketches" / category, extracted)
        all_shapes.append(shapes)
        all_sketches.append(sketches)
    shapes_df = pd.concat(all_shapes, ignore_index=True)
    sketches_df = pd.concat(all_sketches, ignore_index=True)
    extra = ["view_marker", "extra", "svg_path"]
    return shapes_df[SHAPE_COLUMNS + ["split_source"]], sketches_df[SKETCH_COLUMNS + extra]
