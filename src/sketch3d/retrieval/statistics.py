"""Numbers beside acc@k in the chapter's method tables (4.8, B.2, ...): a confidence interval for every accuracy
cell and a paired test between each row and the table's reference row, from the stored ranks.

Confidence interval (``retrieval.stats``): the percentile bootstrap over queries. A resample draws the
category's n queries with replacement, and acc@k is recounted on it; the interval is the
((1 - level) / 2, (1 + level) / 2) quantiles of ``bootstrap`` resampled accuracies (numpy's linear
interpolation between order statistics). The resamples are drawn from the ``seed`` of params.yaml and a named
stream per (category, split) (:func:`bootstrap_rng`): every row of a table, and every table, that scores the
same queries uses the same resamples, so one method's interval is the same number in every table it appears
in, and the intervals of two rows come from paired resamples.

Paired test: McNemar's test on acc@1. For a row and the reference row, on the same queries, only the
discordant queries count: b = hit by the reference only, c = hit by the row only. Under the null (equal
acc@1), c ~ Binomial(b + c, 1/2). Below ``mcnemar_exact_below`` discordant queries the exact binomial test,
two-sided: p = min(1, 2 P(X <= min(b, c))); from it on, the chi-square approximation with one degree of
freedom and Edwards' continuity correction, (max(0, |b - c| - 1))^2 / (b + c) (the max keeps b = c at p = 1,
as the exact test has it). The table says which test gave each p.

Reference row (``retrieval.methods.REFERENCE_ROWS``): per table the row its question is asked against, named by
its thesis row label (so that a method renamed or split keeps its place), each with its reason.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable

import numpy as np

BOOTSTRAP_STREAM = "retrieval.bootstrap"
_CHUNK = 256  # resamples drawn at a time (a fixed size: the draws do not depend on memory)


def reference_method(number: str) -> tuple[str, str]:
    """(method name, reason) of Table ``number``'s reference row: the row whose thesis row is the one named in
    ``retrieval.methods.REFERENCE_ROWS``."""
    from sketch3d.retrieval.methods import REFERENCE_ROWS, get_method, get_table

    table = get_table(number)
    if table.number not in REFERENCE_ROWS:
        raise ValueError(f"Table {table.number} has no reference row for its paired tests: name one in "
                         "sketch3d.retrieval.methods.REFERENCE_ROWS")
    label, why = REFERENCE_ROWS[table.number]
    found = [m for m in table.methods if get_method(m).thesis_row(table.number) == label]
    if len(found) != 1:
        raise ValueError(f"Table {table.number}: its reference row is the thesis's {label!r}, which "
                         f"{len(found)} of its rows {list(table.methods)} compare with (need exactly one)")
    return found[0], why


# ------------------------------------------------------------------ bootstrap
def bootstrap_rng(seed: int, category: str, split: str) -> np.random.Generator:
    """The resamples' generator: params.yaml's ``seed`` and the stream ``retrieval.bootstrap:<category>:<split>``."""
    key = zlib.crc32(f"{BOOTSTRAP_STREAM}:{category}:{split}".encode())
    return np.random.default_rng(np.random.SeedSequence([int(seed), key]))


def bootstrap_accuracy(ranks: np.ndarray, ks: Iterable[int], resamples: int,
                       rng: np.random.Generator) -> np.ndarray:
    """[len(ks), resamples] acc@k in percent of each resample of the queries (the same resamples for every k)."""
    ranks = np.asarray(ranks)
    ks = [int(k) for k in ks]
    if ranks.ndim != 1 or ranks.size == 0:
        raise ValueError(f"bootstrap: ranks must be a non-empty 1-D array, got shape {ranks.shape}")
    if int(resamples) < 1:
        raise ValueError(f"bootstrap: resamples must be >= 1, got {resamples} (retrieval.stats.bootstrap)")
    n = ranks.size
    hits = np.stack([ranks < k for k in ks]).astype(np.int64)  # [K, n]
    out = np.empty((len(ks), int(resamples)))
    for start in range(0, int(resamples), _CHUNK):
        size = min(_CHUNK, int(resamples) - start)
        idx = rng.integers(0, n, size=(size, n))
        out[:, start:start + size] = 100.0 * hits[:, idx].sum(axis=2) / n
    return out


def percentile_interval(samples: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The percentile interval at ``level`` of the last axis of ``samples``: its (1-level)/2 and (1+level)/2
    quantiles."""
    if not 0 < level < 1:
        raise ValueError(f"confidence level must lie in (0, 1), got {level} (retrieval.stats.ci_level)")
    lo, hi = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2], axis=-1)
    return lo, hi


def accuracy_intervals(ranks: np.ndarray, ks: Iterable[int], resamples: int, level: float,
                       rng: np.random.Generator) -> dict[int, tuple[float, float]]:
    """k -> (low, high) percentile-bootstrap interval of acc@k in percent."""
    ks = [int(k) for k in ks]
    lo, hi = percentile_interval(bootstrap_accuracy(ranks, ks, resamples, rng), level)
    return {k: (float(a), float(b)) for k, a, b in zip(ks, lo, hi)}


# ------------------------------------------------------------------ McNemar
@dataclass(frozen=True)
class McNemar:
    p: float
    test: str            # "exact" (binomial) or "chi2" (continuity-corrected)
    only_reference: int  # b: queries the reference gets right and the row wrong
    only_row: int        # c: the other way round


def exact_binomial_p(b: int, c: int) -> float:
    """Two-sided exact p of b vs c discordant pairs under Binomial(b + c, 1/2): min(1, 2 P(X <= min(b, c))),
    summed in exact integers."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1))
    return float(min(Fraction(1), Fraction(2 * tail, 2 ** n)))


def chi2_p(b: int, c: int) -> float:
    """p of McNemar's chi-square with Edwards' continuity correction, one degree of freedom."""
    n = b + c
    if n == 0:
        return 1.0
    stat = max(0, abs(b - c) - 1) ** 2 / n
    return math.erfc(math.sqrt(stat / 2))  # the chi-square(1) survival function


def mcnemar(reference_hits: np.ndarray, row_hits: np.ndarray, exact_below: int) -> McNemar:
    """McNemar's test between two paired boolean hit vectors (the same queries, in the same order)."""
    a, r = np.asarray(reference_hits, bool), np.asarray(row_hits, bool)
    if a.shape != r.shape or a.ndim != 1:
        raise ValueError(f"mcnemar: paired hit vectors of one shape needed, got {a.shape} and {r.shape}")
    b, c = int(np.sum(a & ~r)), int(np.sum(~a & r))
    if b + c < int(exact_below):
        return McNemar(exact_binomial_p(b, c), "exact", b, c)
    return McNemar(chi2_p(b, c), "chi2", b, c)


# ------------------------------------------------------------------ a table's statistics
def _load_ranks(path: Path) -> tuple[list[str], np.ndarray]:
    try:
        with np.load(path) as z:
            return [str(q) for q in z["query_ids"]], np.asarray(z["ranks"])
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"{path}: not a retrieval ranks file (sketch3d retrieve's .npz with query_ids and "
                         f"ranks): {exc}; rerun the retrieve job that writes it") from None


def table_statistics(number: str, metrics: list[dict], rank_files: list[Path], metric_files: list[Path],
                     stats: dict, seed: int, split: str, labels: list[str] | None = None,
                     reference_label: str | None = None) -> tuple[dict, dict]:
    """Per (row, category): the acc@k intervals (``ci``: acc@k -> (low, high)), mAP, MRR, median rank, and
    McNemar against the reference row. ``metrics``: the parsed metric files (``metric_files``, for messages),
    ``rank_files`` theirs, in the same order; ``labels``: each one's row (default its method; a method under
    two choices of box and transforms is two rows), ``reference_label``: the reference method's row among them
    (default its method name). Returns ({(row, category): numbers}, {"reference": method, "why": reason})."""
    from sketch3d.retrieval.metrics import accuracy_at_k

    if len(rank_files) != len(metrics):
        raise ValueError(f"Table {number}: {len(rank_files)} ranks files for {len(metrics)} metric files; give "
                         "the .npz beside each metric file, in the same order")
    reference, why = reference_method(number)
    labels = labels or [m["method"] for m in metrics]
    reference_label = reference_label or reference
    runs: dict[tuple[str, str], tuple[list[str], np.ndarray]] = {}
    for m, label, mf, rf in zip(metrics, labels, metric_files, rank_files):
        if Path(rf).with_suffix("") != Path(mf).with_suffix(""):
            raise ValueError(f"Table {number}: ranks file {rf} is not the one beside metric file {mf}")
        ids, ranks = _load_ranks(Path(rf))
        ks = [int(k.split("@")[1]) for k in m if k.startswith("acc@")]
        recount = accuracy_at_k(ranks, ks)
        if len(ids) != m["n_queries"] or any(abs(recount[k] - m[f"acc@{k}"]) > 1e-3 for k in ks):
            raise ValueError(f"{rf}: its ranks do not give the numbers of {mf} (n_queries, acc@k); rerun the "
                             "retrieve job that writes both")
        missing = [k for k in ("mAP", "MRR", "median_rank") if k not in m]
        if missing:
            raise ValueError(f"{mf} lacks {missing} (written by an older sketch3d retrieve): rerun it")
        runs[(label, m["category"])] = (ids, ranks)
    out = {}
    for m, label in zip(metrics, labels):
        key = (label, m["category"])
        ids, ranks = runs[key]
        ks = sorted(int(k.split("@")[1]) for k in m if k.startswith("acc@"))
        rng = bootstrap_rng(seed, m["category"], split)
        ci = accuracy_intervals(ranks, ks, stats["bootstrap"], stats["ci_level"], rng)
        row = {"ci": {f"acc@{k}": (round(lo, 4), round(hi, 4)) for k, (lo, hi) in ci.items()},
               **{k: m[k] for k in ("mAP", "MRR", "median_rank")}}
        ref = runs.get((reference_label, m["category"]))
        if label != reference_label and ref is not None:
            ref_ids, ref_ranks = ref
            if ref_ids != ids:
                raise ValueError(f"Table {number}, {m['category']}: {label} and the reference row "
                                 f"{reference_label} ranked different queries; rerun their retrieve jobs")
            row["mcnemar"] = mcnemar(ref_ranks < 1, ranks < 1, stats["mcnemar_exact_below"])
        out[key] = row
    return out, {"reference": reference, "why": why}
