"""The demo profile's shape collection: procedural chairs and lamps written as ShapeNet-like OBJ files.

How the collection is drawn (per category, from one generator seeded by ``(seed,
category index)``): about 70 % of the shapes come in *families* of 3-6 members, a
prototype drawn with ``procedural.sample_shape_params`` plus variants from
``procedural.vary_shape_params`` (every size nudged by a few percent of its range, now
and then one part type or count changed); the other 30 % are fully random. Families put
close neighbours in the gallery, so instance-level retrieval must tell apart shapes that
differ only in details (slat count, leg thickness, back tilt, shade height, ...), as in
ShapeNet where many chairs share a design; the fully random shapes keep the overall
variety. The shapes are then shuffled (ids say nothing about families) and the split
labels are a seeded permutation of the requested counts, so family members spread over
train / val / test.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import trimesh

from sketch3d.atomic import atomic_dir
from sketch3d.data.manifest import SHAPE_COLUMNS, SPLITS
from sketch3d.data.procedural import CATEGORIES, build_shape, sample_shape_params, vary_shape_params

RANDOM_FRACTION = 0.3       # share of fully random shapes; the rest come in families
FAMILY_SIZE = (3, 6)        # inclusive range of members per family (prototype included)


def _check_request(categories: list[str], n_per_category: int, splits: dict[str, int], seed: int) -> None:
    if not categories or isinstance(categories, str):
        raise ValueError(f"categories must be a non-empty list drawn from {list(CATEGORIES)}, got {categories!r}")
    bad = [c for c in categories if c not in CATEGORIES]
    if bad:
        raise ValueError(f"unknown categor(y/ies) {bad} in data.categories; "
                         f"procedural shapes exist for {list(CATEGORIES)}")
    if len(set(categories)) != len(categories):
        raise ValueError(f"data.categories lists a category twice: {categories}")
    if isinstance(n_per_category, bool) or not isinstance(n_per_category, (int, np.integer)) or n_per_category < 1:
        raise ValueError(f"profiles.demo.data.shapes_per_category must be a positive integer, got {n_per_category!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not isinstance(splits, dict) or set(splits) != set(SPLITS):
        keys = sorted(splits) if isinstance(splits, dict) else splits
        raise ValueError(f"profiles.demo.data.splits must have exactly the keys {list(SPLITS)}, got {keys}")
    for name in SPLITS:
        count = splits[name]
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
            raise ValueError(f"profiles.demo.data.splits.{name} must be a non-negative integer, got {count!r}")
    total = sum(int(splits[s]) for s in SPLITS)
    if total != n_per_category:
        raise ValueError(
            f"profiles.demo.data.splits {dict(splits)} sum to {total} but profiles.demo.data.shapes_per_category is {n_per_category}; "
            "make the train/val/test counts add up to it"
        )


def _category_params(category: str, n: int, rng: np.random.Generator) -> list[tuple[int, dict]]:
    """n (family, params) pairs; family -1 marks a fully random shape."""
    n_random = int(round(RANDOM_FRACTION * n))
    shapes: list[tuple[int, dict]] = []
    family = 0
    while len(shapes) < n - n_random:
        size = min(int(rng.integers(FAMILY_SIZE[0], FAMILY_SIZE[1] + 1)), n - n_random - len(shapes))
        prototype = sample_shape_params(category, rng)
        shapes.append((family, prototype))
        shapes += [(family, vary_shape_params(category, prototype, rng)) for _ in range(size - 1)]
        family += 1
    shapes += [(-1, sample_shape_params(category, rng)) for _ in range(n_random)]
    order = rng.permutation(n)
    return [shapes[i] for i in order]


def plan_demo_shapes(categories: list[str], n_per_category: int, splits: dict[str, int], seed: int) -> pd.DataFrame:
    """The collection without writing anything: shape_id, category, split, family (-1: random), params."""
    _check_request(categories, n_per_category, splits, seed)
    rows = []
    for category in categories:
        rng = np.random.default_rng([int(seed), CATEGORIES.index(category)])
        drawn = _category_params(category, n_per_category, rng)
        labels = np.repeat(list(SPLITS), [int(splits[s]) for s in SPLITS])[rng.permutation(n_per_category)]
        for i, ((family, params), split) in enumerate(zip(drawn, labels)):
            rows.append({"shape_id": f"{category}_{i:04d}", "category": category, "split": str(split),
                         "family": family, "params": params})
    return pd.DataFrame(rows, columns=["shape_id", "category", "split", "family", "params"])


def mesh_to_obj_text(mesh: trimesh.Trimesh) -> str:
    """Wavefront OBJ text (vertices and faces only, so equal meshes give equal bytes)."""
    return trimesh.exchange.obj.export_obj(mesh, include_normals=False, include_color=False, include_texture=False)


def build_demo_shapes(
    out_dir: Path, categories: list[str], n_per_category: int, splits: dict[str, int], seed: int
) -> pd.DataFrame:
    """Write ``out_dir/<category>/<shape_id>.obj`` (Y-up, ShapeNet-normalised) and ``.json`` (its params)
    for every shape and return the shapes table (columns ``manifest.SHAPE_COLUMNS``).

    Each ``out_dir/<category>`` directory is written in full to a temporary directory and then
    replaces any previous one, so no stale or half-written file survives.
    """
    out_dir = Path(out_dir)
    plan = plan_demo_shapes(categories, n_per_category, splits, seed)
    for category in categories:
        with atomic_dir(out_dir / category) as tmp:
            for row in plan[plan["category"] == category].itertuples():
                mesh = build_shape(category, row.params)
                (tmp / f"{row.shape_id}.obj").write_text(mesh_to_obj_text(mesh))
                (tmp / f"{row.shape_id}.json").write_text(json.dumps(row.params, indent=2) + "\n")
    table = plan[["shape_id", "category", "split"]].copy()
    table["mesh_path"] = [str(out_dir / c / f"{s}.obj") for c, s in zip(table["category"], table["shape_id"])]
    table["up_axis"] = "Y"
    table["source"] = "procedural"
    return table[SHAPE_COLUMNS].reset_index(drop=True)
