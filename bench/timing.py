"""Shared by the bench scripts (run as `python bench/X.py`, so this folder is on sys.path)."""
from __future__ import annotations

import time
from typing import Callable


def best_ms(fn: Callable[[], object], runs: int) -> float:
    """The fastest of `runs` calls of `fn`, in milliseconds, after one warm-up call."""
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return min(times)
