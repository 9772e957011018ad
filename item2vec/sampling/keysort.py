"""The packed-key shuffles' sort, and their block loops, on up to two threads.

The samplers shuffle couples by sorting 64-bit keys whose high bits are random
(:mod:`item2vec.sampling.keras_skipgrams`, :mod:`item2vec.sampling.windows`); the sort is
most of their time.
:func:`sort_keys` sorts such an array in place with a SIMD ``partition`` at the median
followed by each half's ``sort`` on its own thread (numpy releases the GIL in both): a sort
is a sort, so the result is the same whatever the thread count, and it stays a function of
the seed alone. :func:`run_parts` runs independent pieces of work (cache-sized block loops
over disjoint slices) the same way.

Threads: :data:`THREADS` (two where the process may run on two cores, else one); inputs
below :data:`PARALLEL_FROM` elements stay on the calling thread, where starting work on a
second costs more than it saves.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

__all__ = ["PARALLEL_FROM", "THREADS", "part_streams", "run_parts", "sort_keys"]

T = TypeVar("T")

THREADS = min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
"""Threads the shuffles use: two where the process may run on two or more cores."""
PARALLEL_FROM = 1 << 19
"""Arrays shorter than this are sorted on the calling thread."""

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="item2vec-keysort")
        return _POOL


def part_streams(rng: np.random.Generator, n: int = 2) -> list[np.random.Generator]:
    """``n`` generators seeded from ``rng`` (one draw of it), one per part of the work, so
    that what the parts draw depends on the seed alone, never on which thread runs them."""
    seeds = np.random.SeedSequence(rng.integers(2**63, size=4)).spawn(n)
    return [np.random.default_rng(s) for s in seeds]


def run_parts(fn: Callable[[T], None], parts: Sequence[T], threads: int = THREADS) -> None:
    """``fn(part)`` for each part; with ``threads >= 2`` and two parts, the first runs on a
    helper thread while the calling thread runs the second. The parts must not share
    output. An exception in either is raised here."""
    if threads < 2 or len(parts) != 2:
        for p in parts:
            fn(p)
        return
    other = _pool().submit(fn, parts[0])
    try:
        fn(parts[1])
    finally:
        other.result()


def sort_keys(keys: np.ndarray, threads: int = THREADS) -> None:
    """Sort the 1-D array ``keys`` in place; the same result as ``keys.sort()``.

    On two threads: ``keys.partition(n // 2)`` puts the smaller half first (a SIMD select,
    about an eighth of a sort's time), then the halves are sorted side by side.
    Measured on 3.6 M random uint64 keys (2-core VM): 17.5 ms against 28 ms for one
    ``sort``.
    """
    n = len(keys)
    if threads < 2 or n < PARALLEL_FROM:
        keys.sort()
        return
    half = n // 2
    keys.partition(half)
    run_parts(np.ndarray.sort, [keys[:half], keys[half:]], threads)
