"""Timing shared by the benchmarks (run as scripts: `python benchmarks/bench_<x>.py`, so this folder is on the
import path)."""
from __future__ import annotations

import time
from typing import Callable


def seconds_per_call(fn: Callable[[], object], repeats: int) -> float:
    """Mean wall-clock seconds of ``fn()`` over ``repeats`` calls, after one warm-up call (first calls
    allocate)."""
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats
