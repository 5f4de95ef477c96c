"""Stage 'retrieval_grid': the searches of Tables 4.1 and 4.2 on the validation split (thesis 4.2.3.2).

Table 4.1 (``box``): the side of the box the object is fitted into, first
``random.n`` sizes drawn uniformly from ``random.range`` (fractions of the image),
then ``refine.n`` drawn uniformly within ``refine.half_width`` of the best of the
first stage, then the best overall. Table 4.2 (``affine``): on the OBB images
(the box Table 4.1's search chose: ``retrieval.choice``), each image's feature is the mean of its own and of a
transformed copy's, 0.5 (CLIP(OBB) + CLIP(f(OBB))); the same two stages for
translations (whole pixels, x and y) and for rotations (steps of
``rotation.step`` degrees); the best setting for both categories and for each;
the best translation and rotation together; and the four-image mean (the image,
translated, rotated, both).

"Best" for both categories: the highest mean acc@1 over the categories, then the
highest mean acc@5, then the earlier setting; for one category the same on its
own numbers. Sizes are drawn with a generator seeded from ``seed`` and the grid
and stage, so a grid is the same on every run.

Cost: every (image, transform) is embedded once. The transforms other tables
read (the searched OBB box; the thesis's box and Augm. copies when a run evaluates them) go through the
shared per-image feature cache; every other setting is embedded into a scratch
cache deleted when the job ends, and the OBB features every Table 4.2 setting
averages with are held in memory: a thesis-size grid (150 settings x 1600 images
x 0.8 MB per category) would otherwise leave hundreds of GB behind. Settings
that coincide (sizes round to whole pixels) are scored once. The job counts what
it embedded against what recomputing every evaluated setting from scratch would
embed, and writes both.
"""
from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from sketch3d.atomic import atomic_path
from sketch3d.features.transforms import Transform
from sketch3d.retrieval.grid_tables import GRIDS

log = logging.getLogger(__name__)

IMAGE_SIZE = 224
_STREAM = {"box": 1, "translation": 2, "rotation": 3}


# ------------------------------------------------------------------ sampling
def box_sizes(rng: np.random.Generator, n: int, lo: float, hi: float, size: int = IMAGE_SIZE) -> list[int]:
    """``n`` box sides in px, fractions of ``size`` drawn uniformly from [lo, hi] and rounded to whole pixels."""
    _check_range("box fraction", lo, hi, 0.0, 1.0)
    fractions = rng.uniform(lo, hi, size=n)
    return [int(min(size, max(1, round(f * size)))) for f in fractions]


def translations(rng: np.random.Generator, n: int, x: Sequence[float], y: Sequence[float]) -> list[tuple[int, int]]:
    """``n`` whole-pixel translations, x and y drawn uniformly from their [lo, hi] ranges."""
    _check_range("translation x", *x)
    _check_range("translation y", *y)
    xs = np.rint(rng.uniform(x[0], x[1], size=n)).astype(int)
    ys = np.rint(rng.uniform(y[0], y[1], size=n)).astype(int)
    return [(int(a), int(b)) for a, b in zip(xs, ys)]


def rotations(rng: np.random.Generator, n: int, lo: float, hi: float, step: float) -> list[float]:
    """``n`` angles in degrees drawn uniformly from [lo, hi], rounded to multiples of ``step``."""
    _check_range("rotation", lo, hi, -180.0, 180.0)
    if step <= 0:
        raise ValueError(f"rotation step must be > 0 degrees, got {step}")
    return [float(round(a / step) * step) for a in rng.uniform(lo, hi, size=n)]


def _check_range(what: str, lo: float, hi: float, low: float = -np.inf, high: float = np.inf) -> None:
    if not (low <= lo <= hi <= high):
        raise ValueError(f"{what} range [{lo}, {hi}] must be ordered and within [{low}, {high}] "
                         "(retrieval.grids in params.yaml)")


def around(best: float, half_width: float, low: float = -np.inf, high: float = np.inf) -> tuple[float, float]:
    """The refinement range: ``best`` +- ``half_width``, clipped to [low, high]."""
    return max(low, best - half_width), min(high, best + half_width)


def rng_for(seed: int, stream: str, stage: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), _STREAM[stream], int(stage)])


# ------------------------------------------------------------------ selection
def best_index(scores: Sequence[dict], category: str | None = None) -> int:
    """Index of the best of ``scores`` (each ``{category: {"acc@1": .., "acc@5": ..}}``): for ``category``,
    or for all categories (mean), by acc@1, then acc@5, then the earlier one."""
    if not scores:
        raise ValueError("no settings to choose from")

    def key(i: int) -> tuple[float, float, int]:
        s = scores[i]
        cats = [category] if category else sorted(s)
        return (-float(np.mean([s[c]["acc@1"] for c in cats])), -float(np.mean([s[c]["acc@5"] for c in cats])), i)

    return min(range(len(scores)), key=key)


# ------------------------------------------------------------------ evaluation
@dataclass
class Evaluator:
    """acc@k of averaged-transform features on fixed image sets, one per category, with embedding counts."""

    image_sets: dict[str, tuple[Path, Path]]          # category -> (sketches dir, gallery dir)
    embed: Callable[[list[Path], Transform], np.ndarray]  # features of images under a transform
    chunk_size: int
    reduction: str
    topk: tuple[int, ...]
    naive: int = 0                                     # images a from-scratch evaluation of every setting embeds
    needed: set = field(default_factory=set)           # distinct (image, transform) pairs used
    _memo: dict = field(default_factory=dict)
    _index: dict = field(default_factory=dict)

    def _sets(self, category: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        from sketch3d.imageset import read_index

        if category not in self._index:
            sk, ga = self.image_sets[category]
            self._index[category] = (read_index(sk), read_index(ga))
        return self._index[category]

    held: dict = field(default_factory=dict)           # (side, category, transform) -> features kept in memory
    hold: frozenset = frozenset()                      # transform names whose features are kept in memory

    def _features(self, paths: list[Path], transforms: Sequence[Transform], side: str) -> np.ndarray:
        from sketch3d.features.stage import average_features

        def one(t: Transform) -> np.ndarray:
            key = (side, str(paths[0].parent.parent), t.name)
            f = self.held.get(key)
            if f is None:
                f = np.asarray(self.embed(paths, t), dtype=np.float32)
                if t.name in self.hold:
                    self.held[key] = f
            self.needed.update((str(p), t.name) for p in paths)
            return f

        return average_features(one(t) for t in transforms)

    def __call__(self, transforms: Sequence[Transform]) -> dict[str, dict[str, float]]:
        """{category: {"acc@1": .., "acc@5": ..}} with each side's feature averaged over ``transforms``."""
        from sketch3d.retrieval.ranking import rank_queries
        from sketch3d.retrieval.metrics import accuracy_at_k

        key = tuple(t.name for t in transforms)
        out = {}
        for category in sorted(self.image_sets):
            queries, gallery = self._sets(category)
            self.naive += len(transforms) * (len(queries) + len(gallery))
            if (category, key) not in self._memo:
                q = self._features([Path(p) for p in queries["path"]], transforms, f"sketch-{category}")
                g = self._features([Path(p) for p in gallery["path"]], transforms, f"gallery-{category}")
                _, _, _, ranks = rank_queries(q, g, queries, gallery, self.chunk_size, self.reduction, category)
                acc = accuracy_at_k(ranks, self.topk)
                self._memo[(category, key)] = {f"acc@{k}": round(float(v), 4) for k, v in acc.items()}
            out[category] = self._memo[(category, key)]
        return out


def _rows(grid: str, stage: str, setting: str, transforms: Sequence[Transform], scores: dict, **extra) -> list[dict]:
    return [{"grid": grid, "stage": stage, "setting": setting, "transforms": "+".join(t.name for t in transforms),
             **extra, "category": c, **m} for c, m in scores.items()]


def run_box_grid(g: dict, seed: int, evaluate: Evaluator, size: int = IMAGE_SIZE) -> tuple[list[dict], dict]:
    """Table 4.1: returns (rows, choice)."""
    rows: list[dict] = []
    lo, hi = g["random"]["range"]
    first = box_sizes(rng_for(seed, "box", 0), g["random"]["n"], lo, hi, size)
    first_scores = [evaluate([Transform(b)]) for b in first]
    for b, s in zip(first, first_scores):
        rows += _rows("box", "random", f"{b}", [Transform(b)], s, value=b / size)
    centre = first[best_index(first_scores)] / size
    rlo, rhi = around(centre, g["refine"]["half_width"], 1.0 / size, 1.0)
    second = box_sizes(rng_for(seed, "box", 1), g["refine"]["n"], rlo, rhi, size)
    second_scores = [evaluate([Transform(b)]) for b in second]
    for b, s in zip(second, second_scores):
        rows += _rows("box", "refine", f"{b}", [Transform(b)], s, value=b / size)
    all_sizes, all_scores = first + second, first_scores + second_scores
    best = all_sizes[best_index(all_scores)]
    rows += _rows("box", "best", f"{best}", [Transform(best)], evaluate([Transform(best)]), value=best / size)
    choice = {"box": best, "fraction": round(best / size, 4), "random_range": [lo, hi],
              "refine_range": [round(rlo, 4), round(rhi, 4)]}
    return rows, choice


def _search(kind: str, g: dict, seed: int, box: int, evaluate: Evaluator) -> tuple[list[dict], list, list]:
    """Two stages of translations or rotations, each setting as 0.5 (CLIP(OBB) + CLIP(f(OBB)))."""
    base = Transform(box)
    if kind == "translation":
        def draw(stage: int, ranges) -> list:
            return translations(rng_for(seed, kind, stage), g[("random", "refine")[stage]]["n"], *ranges)

        def as_transform(v) -> Transform:
            return Transform(box, v[0], v[1])

        first = draw(0, (g["random"]["x"], g["random"]["y"]))
    else:
        step = g["step"]

        def draw(stage: int, ranges) -> list:
            return rotations(rng_for(seed, kind, stage), g[("random", "refine")[stage]]["n"], *ranges, step)

        def as_transform(v) -> Transform:
            return Transform(box, rot=v)

        first = draw(0, g["random"]["range"])
    rows: list[dict] = []
    first_scores = [evaluate([base, as_transform(v)]) for v in first]
    best = first[best_index(first_scores)]
    hw = g["refine"]["half_width"]
    if kind == "translation":
        ranges = (around(best[0], hw[0]), around(best[1], hw[1]))
    else:
        ranges = around(best, hw, -180.0, 180.0)
    second = draw(1, ranges)
    second_scores = [evaluate([base, as_transform(v)]) for v in second]
    for stage, values, scores in (("random", first, first_scores), ("refine", second, second_scores)):
        for v, s in zip(values, scores):
            rows += _rows("affine", f"{kind} {stage}", _label(kind, v), [base, as_transform(v)], s, value=str(v))
    return rows, first + second, first_scores + second_scores


def _label(kind: str, v) -> str:
    return f"({v[0]}, {v[1]})" if kind == "translation" else f"{v:g}"


def run_affine_grid(g: dict, seed: int, box: int, evaluate: Evaluator) -> tuple[list[dict], dict]:
    """Table 4.2: returns (rows, choice)."""
    base = Transform(box)
    rows = _rows("affine", "obb", "OBB", [base], evaluate([base]))
    choice: dict = {"box": box}
    best_t = {}
    for kind in ("translation", "rotation"):
        r, values, scores = _search(kind, g[kind], seed, box, evaluate)
        rows += r
        for who in ("both", *sorted(evaluate.image_sets)):
            v = values[best_index(scores, None if who == "both" else who)]
            t = Transform(box, v[0], v[1]) if kind == "translation" else Transform(box, rot=v)
            rows += _rows("affine", f"{kind} best {who}", _label(kind, v), [base, t], evaluate([base, t]),
                          value=str(v))
            if who == "both":
                best_t[kind] = t
                choice[kind] = list(v) if kind == "translation" else v
    both = best_t["translation"].compose(best_t["rotation"])
    rows += _rows("affine", "combined", f"{_label('translation', choice['translation'])} & {choice['rotation']:g}",
                  [base, both], evaluate([base, both]))
    four = [base, best_t["translation"], best_t["rotation"], both]
    rows += _rows("affine", "augm4", "4 imgs", four, evaluate(four))
    return rows, choice


def augment_transforms(base: Transform, augment: dict) -> list[Transform]:
    """The Augm. copies of ``base`` under ``augment`` ({translate, rotate}): translated, rotated, both."""
    tx, ty = (float(v) for v in augment["translate"])
    rot = float(augment["rotate"])
    return [Transform(base.box, tx, ty), Transform(base.box, rot=rot), Transform(base.box, tx, ty, rot)]


def _chosen_box(box_grid: Path) -> int:
    """The box Table 4.1's search chose (its result's ``choice``), refused with the file's name when unreadable."""
    try:
        summary = json.loads(Path(box_grid).read_text())
        if summary["grid"] != "box":
            raise ValueError(f"holds the {summary['grid']!r} search")
        return int(summary["choice"]["box"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{box_grid}: not Table 4.1's search result ({e}); run retrieval_grid --grid box first") from e


def retrieval_grid(grid: str, params: dict, image_sets: dict[str, tuple[Path, Path]], cache_dir: Path,
                   out_csv: Path, out_json: Path, box_grid: Path | None = None) -> pd.DataFrame:
    """Run grid ``grid`` (``box``: Table 4.1; ``affine``: Table 4.2) on ``image_sets`` (category -> sketch and
    gallery folders of the validation split); write one row per (setting, category) and the choice.

    The chain (``retrieval.choice``): the affine search runs on the box Table 4.1's search chose, read from its
    result ``box_grid``, as the thesis's Table 4.2 runs on Table 4.1's 129 px."""
    from sketch3d.devices import claim_device
    from sketch3d.features.extract import embed_images
    from sketch3d.features.stage import feature_spec

    if grid not in GRIDS:
        raise ValueError(f"unknown grid {grid!r}; known: {GRIDS}")
    r = params["retrieval"]
    g = r["grids"][grid]
    spec = feature_spec(params)
    f = params["features"]
    box = None
    if grid == "affine":
        if box_grid is None:
            raise ValueError("the affine search (Table 4.2) needs Table 4.1's result: box_grid (retrieval/grids/box.json)")
        box = _chosen_box(Path(box_grid))
    # kept in the shared feature cache: what other tables read (the thesis's setting, when a run evaluates it; the
    # search's OBB images); every other setting's features live in a scratch cache while the job runs
    shared = set()
    if "thesis" in r.get("choices", ()):
        thesis = Transform(int(r["thesis_choice"]["obb_box"]))
        shared |= {thesis.name, *(t.name for t in augment_transforms(thesis, r["thesis_choice"]["augment"]))}
    if box is not None:
        shared.add(Transform(box).name)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with claim_device() as device:
        def embed(paths: list[Path], t: Transform) -> np.ndarray:
            if t.name in shared:
                return embed_images(paths, spec, t, cache_dir, device=device, batch_size=f["batch_size"],
                                    dtype=f["dtype"], precision=f.get("precision", "fp32"))
            # a setting of the grid's own: its scratch cache is gone as soon as its features are in memory
            with tempfile.TemporaryDirectory(prefix=f"grid-{grid}-", dir=cache_dir) as scratch:
                return embed_images(paths, spec, t, Path(scratch), device=device, batch_size=f["batch_size"],
                                    dtype=f["dtype"], precision=f.get("precision", "fp32"))

        evaluate = Evaluator(image_sets, embed, r["chunk_size"], r["view_reduction"], tuple(r["topk"]),
                             hold=frozenset({Transform(box).name}) if grid == "affine" else frozenset())
        if grid == "box":
            rows, choice = run_box_grid(g, params["seed"], evaluate)
        else:
            rows, choice = run_affine_grid(g, params["seed"], box, evaluate)
    df = pd.DataFrame(rows)
    summary = {
        "grid": grid,
        "profile": params["profile"],
        "choice": choice,
        "settings_evaluated": int(df.drop_duplicates(["stage", "setting"]).shape[0]),
        "embeddings": {"distinct": len(evaluate.needed), "from_scratch": evaluate.naive,
                       "saving": round(evaluate.naive / max(1, len(evaluate.needed)), 2)},
        "sizes": {c: {"queries": len(evaluate._sets(c)[0]), "gallery_images": len(evaluate._sets(c)[1]),
                      "shapes": int(evaluate._sets(c)[1]["shape_id"].nunique())} for c in sorted(image_sets)},
    }
    with atomic_path(out_csv) as tmp:
        df.to_csv(tmp, index=False)
    with atomic_path(out_json) as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    log.info("grid %s: %s", grid, json.dumps(summary))
    return df
