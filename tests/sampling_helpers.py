"""Shared pieces of the sampler tests (``from sampling_helpers import ...``): small corpora
built straight from item rows, brute-force pair counts, and the hypothesis settings."""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st

from item2vec.data.sessions import Sessions, Vocabulary

FAST = settings(max_examples=40, deadline=None)


def corpus(lists: list[list[int]], n_items: int | None = None, counts=None) -> Sessions:
    """Sessions straight from item rows (no sessionisation), with the given counts."""
    items = np.asarray([i for s in lists for i in s], np.int32)
    offsets = np.zeros(len(lists) + 1, np.int64)
    np.cumsum([len(s) for s in lists], out=offsets[1:])
    n = n_items if n_items is not None else max(int(items.max(initial=0)) + 1, 10)
    if counts is None:
        counts = np.maximum(np.bincount(items, minlength=n), 1)
    vocab = Vocabulary(ids=np.arange(n, dtype=np.int64), counts=np.asarray(counts))
    return Sessions(items, offsets, vocab)


def brute_pairs(lists, window) -> Counter:
    """(context, target) multiset: every pair within ``window`` ("session": all) of a session."""
    out: Counter = Counter()
    for s in lists:
        for i, t in enumerate(s):
            for j, c in enumerate(s):
                if j != i and (window == "session" or abs(i - j) <= window):
                    out[(c, t)] += 1
    return out


def positives(obj) -> Counter:
    """(context, target) multiset of the positive couples of Couples or Units."""
    if hasattr(obj, "labels"):
        pos = obj.labels == 1
        return Counter(zip(obj.contexts[pos].tolist(), obj.targets[pos].tolist(), strict=True))
    rows, cols = np.nonzero(obj.contexts >= 0)
    ctx, tgt = obj.contexts[rows, cols].tolist(), obj.targets[rows].tolist()
    return Counter(zip(ctx, tgt, strict=True))


session_lists = st.lists(
    st.lists(st.integers(0, 9), min_size=1, max_size=12), min_size=1, max_size=8
).filter(lambda ls: sum(map(len, ls)) >= 2)


def tv(counts: np.ndarray, p: np.ndarray) -> float:
    return 0.5 * float(np.abs(counts / counts.sum() - p).sum())
