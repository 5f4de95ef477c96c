"""Stage 'domain_study': how well CLIP tells objects and views apart across image domains (thesis 4.2.3.1).

Three domains show the same chairs from the same azimuths (the chair sketch views, 0, 30
and 75 degrees): freehand sketches, line renderings and RGB renderings. For each pair of
domains (i, j), with MSE the mean over the D feature values of the squared difference:

* Fig. 4.1, eq. 4.4: between objects A and B of a few randomly chosen objects,
  ``d(A^i, B^j) = 1/V sum_k MSE(CLIP(A_k^i), CLIP(B_k^j))``, which equals the MSE of the two
  objects' V view features laid end to end; its 95% confidence interval is Student's
  t-interval of the V per-view MSEs (V - 1 degrees of freedom).
* Fig. 4.2, eq. 4.5: between view k of domain i and view h of domain j of the same object,
  averaged over N randomly chosen objects, ``d(k^i, h^j) = 1/N sum_A MSE(CLIP(A_k^i), CLIP(A_h^j))``;
  its confidence interval is the t-interval of the N per-object MSEs (N - 1 degrees of freedom).

Summaries: how often the same object is the nearest (eq. 4.4, the diagonal is its row's
minimum), how often the same view is the nearest for one object (eq. 4.5), and how often the
diagonal's interval lies wholly below every other interval of its row ("separated"; the
thesis's "overlap between confidence intervals" is the opposite). "Nearest" uses the package's
one tie rule (:func:`sketch3d.retrieval.metrics.ranking`: equal distances go to the
earlier column) on distances whose near ties are recomputed CPU-independently
(:mod:`sketch3d.retrieval.distances`).

Features are read as memory maps and only the rows in use are loaded, one block of objects at
a time, so 100 objects x 3 views x 200704 floats per domain cost a few hundred MB at most.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from sketch3d.atomic import atomic_path
from sketch3d.retrieval.distances import pairwise_mse
from sketch3d.retrieval.metrics import ranking

log = logging.getLogger(__name__)

__all__ = [
    "DOMAINS", "PAIRS", "DomainFeatures", "Aligned", "load_domain", "align_views", "select_objects",
    "t_interval", "object_distances", "view_distances", "same_is_nearest", "ci_separated",
    "figure_4_1_numbers", "figure_4_2_numbers", "run_study", "write_numbers", "domain_study",
]

DOMAINS = ("sketch", "lines", "rgb")
PAIRS = (("sketch", "lines"), ("sketch", "rgb"), ("lines", "rgb"))
_ID_COLUMNS = ("image_id", "shape_id", "azimuth")
_AZ_DECIMALS = 3  # azimuths are matched after rounding to this many decimals (CSV round trips)
_BLOCK_BYTES = 64 * 2**20  # feature rows of one domain loaded at once by view_distances


@dataclass(frozen=True)
class DomainFeatures:
    """One domain's feature rows [n, D] (a memory map is fine) and their ids (image_id, shape_id, azimuth, ...)."""

    name: str
    features: np.ndarray
    ids: pd.DataFrame
    source: str = ""  # where the rows came from, for error messages

    def label(self) -> str:
        return f"{self.name} features" + (f" ({self.source})" if self.source else "")


@dataclass(frozen=True)
class Aligned:
    """The study's objects (sorted shape ids), its views and, per domain, the row of each (object, view)."""

    shape_ids: tuple[str, ...]
    azimuths: tuple[float, ...]
    features: Mapping[str, np.ndarray]  # domain -> [n_rows, D]
    rows: Mapping[str, np.ndarray]  # domain -> [n_objects, V] row indices into features[domain]
    image_ids: Mapping[str, np.ndarray]  # domain -> [n_objects, V] image ids


def load_domain(name: str, npy: Path, ids_csv: Path) -> DomainFeatures:
    """A feature file of the feature stage (``.npy`` [N, D]) with its id ``.csv``, memory-mapped."""
    npy, ids_csv = Path(npy), Path(ids_csv)
    for path, what in ((npy, "features (.npy)"), (ids_csv, "feature ids (.csv)")):
        if not path.is_file():
            raise FileNotFoundError(f"domain_study: {name} {what} not found: {path}; run extract_features for it first")
    feats = np.load(npy, mmap_mode="r")
    if feats.ndim != 2:
        raise ValueError(f"domain_study: {npy} must hold a 2-D [N, D] array, got shape {feats.shape}")
    ids = pd.read_csv(ids_csv, dtype={"image_id": str, "shape_id": str})
    missing = [c for c in _ID_COLUMNS if c not in ids.columns]
    if missing:
        raise ValueError(f"domain_study: {ids_csv} lacks columns {missing}; it must be the feature stage's id file")
    if len(ids) != feats.shape[0]:
        raise ValueError(f"domain_study: {ids_csv} lists {len(ids)} rows but {npy} has {feats.shape[0]}; "
                         "the two files must come from the same extract_features job")
    return DomainFeatures(name, feats, ids, str(npy))


def _provenance(domains: Sequence[DomainFeatures]) -> None:
    """Refuse features of different weights or settings: their distances would mean nothing."""
    for column in ("weights", "settings_key"):
        values = {d.name: sorted(set(d.ids[column].astype(str))) for d in domains if column in d.ids.columns}
        if len({tuple(v) for v in values.values()}) > 1 or any(len(v) > 1 for v in values.values()):
            listed = "; ".join(f"{k}: {v}" for k, v in values.items())
            raise ValueError(f"domain_study: the domains' features differ in {column} ({listed}); "
                             "extract all three with the same features settings")


def align_views(domains: Sequence[DomainFeatures], azimuths: Sequence[float]) -> Aligned:
    """Match every domain's rows by (shape_id, azimuth) for the shapes of the first domain.

    The objects are the shapes of the first domain (the sketches) that show any of ``azimuths``;
    every domain must hold exactly one row for each (object, azimuth), else the error lists the
    missing or repeated (shape, azimuth) pairs.
    """
    if len(domains) < 2:
        raise ValueError("domain_study: give at least two domains")
    names = [d.name for d in domains]
    if len(set(names)) != len(names):
        raise ValueError(f"domain_study: domain names repeat: {names}")
    azimuths = tuple(float(a) for a in azimuths)
    if len(azimuths) < 2 or len({round(a, _AZ_DECIMALS) for a in azimuths}) != len(azimuths):
        raise ValueError(f"domain_study: azimuths must be at least two distinct values, got {list(azimuths)} "
                         "(render.sketch_azimuths of the category)")
    dims = {d.name: d.features.shape[1] for d in domains}
    if len(set(dims.values())) > 1:
        raise ValueError(f"domain_study: feature sizes differ between domains {dims}; extract them with the same layer")
    _provenance(domains)
    wanted = [round(a, _AZ_DECIMALS) for a in azimuths]
    first = domains[0].ids
    in_views = np.isin(first["azimuth"].astype(float).round(_AZ_DECIMALS), wanted)
    shape_ids = tuple(sorted(set(first.loc[in_views, "shape_id"])))
    if not shape_ids:
        raise ValueError(f"domain_study: {domains[0].label()} has no rows at azimuths {list(azimuths)}")
    rows, image_ids = {}, {}
    for d in domains:
        key = pd.DataFrame({"shape_id": d.ids["shape_id"].astype(str),
                            "az": d.ids["azimuth"].astype(float).round(_AZ_DECIMALS), "row": np.arange(len(d.ids))})
        key = key[key["az"].isin(wanted) & key["shape_id"].isin(shape_ids)]
        dup = key[key.duplicated(["shape_id", "az"], keep=False)]
        if len(dup):
            pairs = sorted({(s, a) for s, a in zip(dup["shape_id"], dup["az"])})
            raise ValueError(f"domain_study: {d.label()} has several rows for (shape, azimuth) {_listing(pairs)}; "
                             "keep one image per object and view")
        lookup = {(s, a): r for s, a, r in zip(key["shape_id"], key["az"], key["row"])}
        missing = [(s, a) for s in shape_ids for a in wanted if (s, a) not in lookup]
        if missing:
            raise ValueError(f"domain_study: {d.label()} lacks {len(missing)} view(s) (shape, azimuth): "
                             f"{_listing(missing)}; every object needs every view in every domain "
                             "(render and extract them, or drop those shapes from the sketches)")
        r = np.array([[lookup[(s, a)] for a in wanted] for s in shape_ids], dtype=np.int64)
        rows[d.name] = r
        image_ids[d.name] = d.ids["image_id"].astype(str).to_numpy()[r]
    return Aligned(shape_ids, azimuths, {d.name: d.features for d in domains}, rows, image_ids)


def _listing(pairs: Sequence[tuple[str, float]], limit: int = 8) -> str:
    shown = ", ".join(f"({s}, {a:g})" for s, a in pairs[:limit])
    return shown + (f", ... ({len(pairs) - limit} more)" if len(pairs) > limit else "")


def _check_count(n_available: int, n: int, what: str) -> None:
    if n < 2:
        raise ValueError(f"domain_study: {what} must be at least 2 (a confidence interval needs two samples), got {n}")
    if n > n_available:
        raise ValueError(f"domain_study: {what} asks for {n} objects but only {n_available} have every view in "
                         "every domain; lower it or use a larger split")


def select_objects(n_available: int, n: int, rng: np.random.Generator, what: str = "objects") -> np.ndarray:
    """``n`` distinct object indices out of ``n_available``, drawn with ``rng``, in ascending order."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError("select_objects: rng must be a numpy.random.Generator (seeded by the caller)")
    _check_count(n_available, n, what)
    return np.sort(rng.choice(n_available, size=n, replace=False))


def t_interval(samples: np.ndarray, axis: int = -1, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, low, high): Student's t confidence interval of the mean of ``samples`` along ``axis``.

    half-width = t_{(1 + level) / 2, n - 1} * s / sqrt(n), s the sample standard deviation (ddof=1).
    """
    from scipy.stats import t as student_t

    samples = np.asarray(samples, dtype=np.float64)
    n = samples.shape[axis]
    if n < 2:
        raise ValueError(f"t_interval: need at least 2 samples along axis {axis}, got {n}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"t_interval: level must lie in (0, 1), got {level} (retrieval.domain_study.ci_level)")
    mean = samples.mean(axis=axis)
    half = student_t.ppf(0.5 + level / 2.0, n - 1) * samples.std(axis=axis, ddof=1) / np.sqrt(n)
    return mean, mean - half, mean + half


def _load(features: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """features[rows] for an [n, V] block of row indices: [n, V, D], rows read in ascending file order."""
    flat = rows.ravel()
    order = np.argsort(flat, kind="stable")
    out = np.empty((flat.size, features.shape[1]), dtype=features.dtype)
    out[order] = features[flat[order]]
    return out.reshape(*rows.shape, features.shape[1])


def object_distances(fi: np.ndarray, fj: np.ndarray, rows_i: np.ndarray, rows_j: np.ndarray,
                     chunk_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Eq. 4.4 between every object of domain i (rows) and every object of domain j (columns).

    ``rows_i``, ``rows_j``: [n, V] feature rows of the n objects' V views. Returns ``dist`` [n, n]
    (the MSE of the objects' view features laid end to end, which is the mean over views of the
    per-view MSE) and ``per_view`` [n, n, V] (the per-view MSE, for the confidence intervals).
    """
    rows_i, rows_j = np.asarray(rows_i), np.asarray(rows_j)
    if rows_i.ndim != 2 or rows_i.shape != rows_j.shape:
        raise ValueError(f"object_distances: rows must be two [n, V] arrays of one shape, got {rows_i.shape}, {rows_j.shape}")
    n, v = rows_i.shape
    a, b = _load(fi, rows_i), _load(fj, rows_j)
    dist = pairwise_mse(a.reshape(n, -1), b.reshape(n, -1), chunk_size=chunk_size)
    per_view = np.stack([pairwise_mse(a[:, k], b[:, k], chunk_size=chunk_size) for k in range(v)], axis=2)
    return dist, per_view


def view_distances(fi: np.ndarray, fj: np.ndarray, rows_i: np.ndarray, rows_j: np.ndarray) -> np.ndarray:
    """The terms of eq. 4.5: [N, V, V], entry (A, k, h) = MSE(view k of A in domain i, view h of A in domain j).

    Objects are loaded a block at a time (about 64 MB of rows per domain).
    """
    rows_i, rows_j = np.asarray(rows_i), np.asarray(rows_j)
    if rows_i.ndim != 2 or rows_i.shape != rows_j.shape:
        raise ValueError(f"view_distances: rows must be two [N, V] arrays of one shape, got {rows_i.shape}, {rows_j.shape}")
    n, v = rows_i.shape
    out = np.empty((n, v, v), dtype=np.float64)
    block = max(1, _BLOCK_BYTES // max(1, v * fi.shape[1] * fi.dtype.itemsize))
    for s in range(0, n, block):
        a, b = _load(fi, rows_i[s : s + block]), _load(fj, rows_j[s : s + block])
        for o in range(a.shape[0]):
            out[s + o] = pairwise_mse(a[o], b[o], chunk_size=v)
    return out


def same_is_nearest(dist: np.ndarray) -> np.ndarray:
    """[..., n] True where the diagonal entry is the nearest of its row of a [..., n, n] array (one tie rule)."""
    dist = np.asarray(dist, dtype=np.float64)
    n = dist.shape[-1]
    if dist.shape[-2] != n:
        raise ValueError(f"same_is_nearest: need square matrices, got shape {dist.shape}")
    first = ranking(dist.reshape(-1, n))[:, 0].reshape(dist.shape[:-1])
    return first == np.arange(n)


def ci_separated(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """[n] True where row r's diagonal interval lies wholly below every other interval of its row."""
    low, high = np.asarray(low), np.asarray(high)
    off = ~np.eye(low.shape[0], dtype=bool)
    other_low = np.where(off, low, np.inf).min(axis=1)
    return np.diag(high) < other_low


def _pair_name(pair: tuple[str, str]) -> str:
    return f"{pair[0]}-{pair[1]}"


def figure_4_1_numbers(aligned: Aligned, objects: np.ndarray, level: float, chunk_size: int = 64) -> dict:
    """Eq. 4.4 matrices of the chosen objects for each domain pair, with intervals and summaries."""
    out = {"shape_ids": [aligned.shape_ids[i] for i in objects], "pairs": {}}
    for pair in PAIRS:
        i, j = pair
        dist, per_view = object_distances(aligned.features[i], aligned.features[j], aligned.rows[i][objects],
                                          aligned.rows[j][objects], chunk_size)
        _, low, high = t_interval(per_view, axis=2, level=level)
        half = (high - low) / 2.0
        low, high = dist - half, dist + half  # centred on eq. 4.4 as computed (equal to the per-view mean)
        rows_ok, cols_ok = same_is_nearest(dist), same_is_nearest(dist.T)
        sep = ci_separated(low, high)
        out["pairs"][_pair_name(pair)] = {
            "rows": i, "columns": j,
            "distance": dist, "ci_low": low, "ci_high": high, "per_view": per_view,
            "same_nearest_rows": rows_ok, "same_nearest_columns": cols_ok, "ci_separated_rows": sep,
            "summary": {"same_object_nearest_rows": float(rows_ok.mean()),
                        "same_object_nearest_columns": float(cols_ok.mean()),
                        "same_object_ci_separated_rows": float(sep.mean())},
        }
    return out


def figure_4_2_numbers(aligned: Aligned, objects: np.ndarray, level: float) -> dict:
    """Eq. 4.5 view-by-view matrices over the chosen objects for each domain pair, with intervals and summaries."""
    out = {"shape_ids": [aligned.shape_ids[i] for i in objects], "n_objects": int(len(objects)), "pairs": {}}
    for pair in PAIRS:
        i, j = pair
        terms = view_distances(aligned.features[i], aligned.features[j], aligned.rows[i][objects],
                               aligned.rows[j][objects])
        mean, low, high = t_interval(terms, axis=0, level=level)
        per_object = same_is_nearest(terms)  # [N, V]: view k's nearest view of the same object is view k
        sep = ci_separated(low, high)
        out["pairs"][_pair_name(pair)] = {
            "rows": i, "columns": j,
            "distance": mean, "ci_low": low, "ci_high": high,
            "same_view_nearest_by_view": per_object.mean(axis=0),
            "mean_same_view_nearest": same_is_nearest(mean),
            "ci_separated_rows": sep,
            "summary": {"same_view_nearest": float(per_object.mean()),
                        "same_view_nearest_all_views": float(per_object.all(axis=1).mean()),
                        "same_view_ci_separated_rows": float(sep.mean())},
        }
    return out


def run_study(aligned: Aligned, seed: int, n_objects_4_1: int, n_objects_4_2: int, level: float = 0.95,
              chunk_size: int = 64) -> dict:
    """Both figures' numbers. The two object sets are drawn from independent streams of ``seed``."""
    rng_41, rng_42 = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    n = len(aligned.shape_ids)
    o41 = select_objects(n, n_objects_4_1, rng_41, "retrieval.domain_study.objects_4_1")
    o42 = select_objects(n, n_objects_4_2, rng_42, "retrieval.domain_study.objects_4_2")
    return {
        "azimuths": list(aligned.azimuths),
        "ci": {"level": level, "method": "Student t interval of the mean; fig_4_1: over the V views "
                                         "(V - 1 dof), fig_4_2: over the N objects (N - 1 dof)"},
        "fig_4_1": figure_4_1_numbers(aligned, o41, level, chunk_size),
        "objects_4_1": o41,
        "fig_4_2": figure_4_2_numbers(aligned, o42, level),
    }


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, np.integer, np.bool_)):
        return x.item()
    return x


def write_numbers(result: dict, out_json: Path, out_csv: Path, notice: str | None = None) -> None:
    """The figures' numbers: a JSON (matrices, intervals, summaries; ``summary`` for ``dvc metrics``) and a long CSV.

    CSV columns: figure, pair, row, column, distance, ci_low, ci_high (rows and columns are shape
    ids in fig_4_1, ``<domain> <azimuth>`` in fig_4_2).
    """
    doc = {"notice": notice} if notice else {}
    doc["summary"] = {fig: {p: v["summary"] for p, v in result[fig]["pairs"].items()} for fig in ("fig_4_1", "fig_4_2")}
    doc.update({k: v for k, v in result.items() if k != "objects_4_1"})
    records = []
    az = result["azimuths"]
    for fig in ("fig_4_1", "fig_4_2"):
        for name, p in result[fig]["pairs"].items():
            if fig == "fig_4_1":
                rlab = clab = result[fig]["shape_ids"]
            else:
                rlab = [f"{p['rows']} {a:g}" for a in az]
                clab = [f"{p['columns']} {a:g}" for a in az]
            for r, rl in enumerate(rlab):
                for c, cl in enumerate(clab):
                    records.append({"figure": fig, "pair": name, "row": rl, "column": cl,
                                    "distance": p["distance"][r, c], "ci_low": p["ci_low"][r, c],
                                    "ci_high": p["ci_high"][r, c]})
    with atomic_path(out_json) as tmp:
        tmp.write_text(json.dumps(_jsonable(doc), indent=1) + "\n")
    with atomic_path(out_csv) as tmp:
        pd.DataFrame.from_records(records).to_csv(tmp, index=False, float_format="%.9g")


def _sketch_paths(sketches_dir: Path, image_ids: np.ndarray) -> list[list[Path]]:
    from sketch3d.imageset import read_index

    index = read_index(sketches_dir).set_index("image_id")["path"]
    missing = sorted(set(image_ids.ravel()) - set(index.index))
    if missing:
        raise ValueError(f"domain_study: sketch image(s) {missing[:5]} are not in {sketches_dir}/index.csv; "
                         "give the sketch image set the sketch features were extracted from")
    return [[Path(index[i]) for i in row] for row in image_ids]


def domain_study(features: Mapping[str, tuple[Path, Path]], sketches_dir: Path, azimuths: Sequence[float], seed: int,
                 n_objects_4_1: int, n_objects_4_2: int, level: float, out_fig_4_1: Path, out_fig_4_2: Path,
                 out_json: Path, out_csv: Path, demo: bool, chunk_size: int = 64) -> dict:
    """Figures 4.1 and 4.2 and their numbers from the three domains' feature files.

    ``features``: domain name -> (``.npy``, ``.csv``) for each of :data:`DOMAINS`;
    ``sketches_dir``: the sketch image set (the thumbnails of Fig. 4.1). Everything is checked
    (files, alignment, object counts) before any distance is computed.
    """
    from sketch3d import DEMO_NOTICE
    from sketch3d.retrieval.domain_figures import figure_4_1, figure_4_2

    absent = [d for d in DOMAINS if d not in features]
    if absent:
        raise ValueError(f"domain_study: no feature files for domain(s) {absent}; give one .npy and .csv per domain {DOMAINS}")
    aligned = align_views([load_domain(d, *features[d]) for d in DOMAINS], azimuths)
    for what, n in (("retrieval.domain_study.objects_4_1", n_objects_4_1), ("retrieval.domain_study.objects_4_2", n_objects_4_2)):
        _check_count(len(aligned.shape_ids), n, what)  # before any distance is computed
    t_interval(np.zeros(2), level=level)  # check the level before compute
    thumbs_all = _sketch_paths(sketches_dir, aligned.image_ids["sketch"])
    log.info("domain_study: %d objects with %d views in %s", len(aligned.shape_ids), len(aligned.azimuths), DOMAINS)
    result = run_study(aligned, seed, n_objects_4_1, n_objects_4_2, level, chunk_size)
    write_numbers(result, out_json, out_csv, DEMO_NOTICE if demo else None)
    figure_4_1(result["fig_4_1"], [thumbs_all[i] for i in result["objects_4_1"]], result["azimuths"], out_fig_4_1,
               level, demo)
    figure_4_2(result["fig_4_2"], result["azimuths"], out_fig_4_2, level, demo)
    return result
