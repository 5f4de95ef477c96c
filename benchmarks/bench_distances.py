"""Cost of CPU-independent rankings: shape_mse with near ties recomputed exactly, against the same
computation with plain BLAS values (exact_ties=False), measured in one run.

    python benchmarks/bench_distances.py [--dim 200704] [--queries 120] [--shapes 40] [--views 5]

Prints seconds and the ratio for three galleries: no ties (the usual case), 4 and 20 shapes
duplicated (every duplicate is an exact tie that must be recomputed).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from sketch3d.retrieval.distances import shape_mse


def _gallery(rng, n_shapes: int, views: int, dim: int, duplicated: int) -> np.ndarray:
    g = rng.standard_normal((n_shapes * views, dim)).astype(np.float16)
    for s in range(duplicated):  # shape s+1 becomes a copy of shape s (views for views)
        g[(s + 1) * views : (s + 2) * views] = g[s * views : (s + 1) * views]
    return g


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dim", type=int, default=200704)
    ap.add_argument("--queries", type=int, default=120)
    ap.add_argument("--shapes", type=int, default=40)
    ap.add_argument("--views", type=int, default=5)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    q = rng.standard_normal((a.queries, a.dim)).astype(np.float16)
    view_shape = np.repeat(np.arange(a.shapes), a.views)
    print(f"{a.queries} queries x {a.shapes} shapes x {a.views} views, D = {a.dim}")
    for duplicated in (0, 4, 20):
        g = _gallery(rng, a.shapes, a.views, a.dim, min(duplicated, a.shapes - 1))
        base = _time(lambda: shape_mse(q, g, view_shape, a.shapes, exact_ties=False))
        exact = _time(lambda: shape_mse(q, g, view_shape, a.shapes, exact_ties=True))
        print(f"duplicated shapes {duplicated:3d}: plain BLAS {base:6.2f} s, exact ties {exact:6.2f} s,"
              f" ratio {exact / base:5.2f}")


if __name__ == "__main__":
    main()
