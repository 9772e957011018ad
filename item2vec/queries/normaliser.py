"""Per-item tables of the next-item engine, computed once per item on first use and cached.

The mixture scores (``log_prob``, ``blend``) need, for each history item ``h``, the model's
next-item distribution ``P(t | h) = exp(s(h, t) - Z(h))`` with ``s(h, t) = E[h] . E[t] + B[t]``
(``B`` = bias + log prior) and its softmax normaliser ``Z(h) = logsumexp_t s(h, t)`` over the
whole catalogue. :class:`Normalisers` keeps ``Z`` in one float64 array of ``n_items`` (8 MB
at 1M items), filled on demand: the first query that names an item pays for its ``Z``, every
later one reads it.

**Exact up to** :data:`EXACT_ITEMS` **items.** Above that, one exact ``Z`` costs a pass over
the catalogue (20-50 ms per item at 1M x 64 on two cores, measured), too much for a query;
``Z`` is then estimated with bounded work per item (about ``HEAD + SAMPLE + top`` dot
products), by the estimator of Mussmann and Ermon (2016, *Learning and inference via maximum
inner product search*) with a popularity stratum:

    Z(h) ~ log( sum_{t in H or T(h)} e^{s(h,t)}
                + |R(h)| / |U - T(h)| * sum_{t in U - T(h)} e^{s(h,t)} )

where ``H`` are the :data:`HEAD` items of largest ``B`` (the popular ones, which carry most of
the mass), ``T(h)`` the item's own top items by ``s(h, .)`` (an index search: the peak of its
distribution), ``U`` a fixed seeded uniform sample of :data:`SAMPLE` other items and ``R(h)``
everything outside ``H`` and ``T(h)``. The sum over ``H`` and ``T(h)`` is exact; the rest is an
unbiased estimate of the tail. It depends on ``h`` only, so that every query (single or
batched, in any order) uses the same ``Z(h)``. ``benchmarks/test_bench_queries.py`` measures
its error and the agreement it leaves with the exhaustive ranking.

:class:`RowCache` keeps each item's candidate lists (its top items by the model, its
strongest count neighbours), bounded: at most ``capacity`` items, emptied when full.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

__all__ = ["EXACT_ITEMS", "HEAD", "SAMPLE", "Normalisers", "RowCache"]

EXACT_ITEMS = 50_000
"""Catalogues up to this size get exact normalisers (about 2 ms per item at 50k x 64)."""
HEAD = 4_096
"""Items of largest ``B`` summed exactly by the estimate."""
SAMPLE = 16_384
"""Uniform sample of the other items that estimates the tail."""
BLOCK_FLOATS = 1 << 22
"""Scores per block of an exact pass (16 MB of float32): bounds its memory."""


class Normalisers:
    """``Z(h)`` of every item ``h``, computed on first use; see the module docstring.

    Parameters
    ----------
    vectors : float32 (n, dim)
    biases : float32 (n,), the ``B`` of the score (bias + log prior).
    tops : callable ``rows -> (len(rows), m)`` int rows (``-1`` padding), each row's top
        items by ``s``; used by the estimate only.
    exact_items, head, sample : :data:`EXACT_ITEMS`, :data:`HEAD`, :data:`SAMPLE`.
    seed : seeds the uniform sample.
    """

    def __init__(
        self,
        vectors: np.ndarray,
        biases: np.ndarray,
        tops: Callable[[np.ndarray], np.ndarray],
        *,
        exact_items: int = EXACT_ITEMS,
        head: int = HEAD,
        sample: int = SAMPLE,
        seed: int = 0,
    ) -> None:
        self.vectors, self.biases, self._tops = vectors, biases.astype(np.float64), tops
        n = len(vectors)
        self.exact = n <= exact_items
        self._z = np.full(n, np.nan)
        self.computed = 0  # items whose Z was computed (for tests and benchmarks)
        if not self.exact:
            order = np.argsort(-self.biases, kind="stable")
            head_rows = np.sort(order[: min(head, n)])
            rest = np.sort(order[min(head, n) :])
            rng = np.random.default_rng(seed)
            pick = np.sort(rng.choice(len(rest), min(sample, len(rest)), replace=False))
            self._head, self._sample = head_rows, rest[pick]
            self._fixed = np.concatenate([self._head, self._sample])
            # gathered once (HEAD + SAMPLE rows: 5 MB at dim 64), not per query
            self._fixed_vectors = np.ascontiguousarray(vectors[self._fixed])
            self._fixed_biases32 = self.biases[self._fixed].astype(np.float32)
            self._where = np.full(n, -1, np.int64)  # position in _fixed, or -1
            self._where[self._fixed] = np.arange(len(self._fixed))

    def get(self, rows: np.ndarray) -> np.ndarray:
        """``Z`` of ``rows`` (int, >= 0), float64; computes the missing ones."""
        z = self._z[rows]
        miss = np.isnan(z)
        if miss.any():
            todo = np.unique(rows[miss])
            values = self._exact(todo) if self.exact else self._estimate(todo)
            self._z[todo] = values  # same values whichever thread writes them
            self.computed += len(todo)
            z = self._z[rows]
        return z

    def _exact(self, rows: np.ndarray) -> np.ndarray:
        """log-sum-exp over the whole catalogue, one pass over it in blocks."""
        q, n = self.vectors[rows], len(self.vectors)
        block = max(1, BLOCK_FLOATS // len(rows))
        top, total = np.full(len(rows), -np.inf), np.zeros(len(rows))
        for a in range(0, n, block):
            s = (q @ self.vectors[a : a + block].T).astype(np.float64)
            s += self.biases[a : a + block]
            new = np.maximum(top, s.max(axis=1))
            total = total * np.exp(top - new) + np.exp(s - new[:, None]).sum(axis=1)
            top = new
        return top + np.log(total)

    def _estimate(self, rows: np.ndarray) -> np.ndarray:
        """The stratified estimate of the module docstring."""
        n, m, n_head = len(self.vectors), len(rows), len(self._head)
        q = self.vectors[rows]
        tops = np.asarray(self._tops(rows), np.int64)
        tops = np.where(tops == rows[:, None], -1, tops)  # the item itself: counted below
        tops = np.concatenate([rows[:, None], tops], axis=1)
        tops = _dedupe(tops)
        # the fixed items' scores, float32 (m, H + U) with rows contiguous for the
        # reductions below; for a few rows as F q^T transposed (OpenBLAS took 4 ms for
        # q F^T at 5 x 64 x 20k on two threads, 0.26 ms for F q^T), for many as q F^T
        # (the transposed copy then costs more than it saves); exp in float32, sums in
        # float64 (the terms are <= 1 after the shift)
        if m <= 64:
            fixed = np.ascontiguousarray((self._fixed_vectors @ q.T).T)
        else:
            fixed = q @ self._fixed_vectors.T
        fixed += self._fixed_biases32
        ok = tops >= 0
        t = np.maximum(tops, 0)
        peak = np.einsum("md,mkd->mk", q, self.vectors[t]).astype(np.float64) + self.biases[t]
        peak[~ok] = -np.inf
        shift = np.maximum(fixed.max(axis=1).astype(np.float64), peak.max(axis=1))
        fixed -= shift.astype(np.float32)[:, None]
        e_fixed = np.exp(fixed, out=fixed)
        e_peak = np.exp(peak - shift[:, None])
        pos = np.where(ok, self._where[t], -1)  # top items that are in H or U: not twice
        r, c = np.nonzero(pos >= 0)
        e_fixed[r, pos[r, c]] = 0.0
        in_head = np.zeros((m, tops.shape[1]), bool)
        in_head[r, c] = pos[r, c] < n_head
        in_sample = (pos >= 0) & ~in_head
        u_count = len(self._sample) - in_sample.sum(axis=1)
        rest = n - n_head - (ok & ~in_head).sum(axis=1)
        u_sum = e_fixed[:, n_head:].sum(axis=1, dtype=np.float64)
        scale = np.divide(rest, u_count, out=np.zeros(m), where=u_count > 0)
        total = e_fixed[:, :n_head].sum(axis=1, dtype=np.float64) + e_peak.sum(axis=1)
        total += scale * u_sum
        return shift + np.log(total)


class RowCache:
    """Per-item int rows of a fixed width (``-1`` padding), computed by ``compute(rows)`` on
    first use; at most ``capacity`` items are kept (the cache is emptied when full), so its
    memory is ``capacity * width * 4`` bytes plus ``4 n`` for the slot map. Thread-safe."""

    def __init__(
        self, n: int, width: int, compute: Callable[[np.ndarray], np.ndarray], capacity: int
    ) -> None:
        self.width, self._compute = width, compute
        self.capacity = max(1, min(n, capacity))
        self._slot = np.full(n, -1, np.int64)
        self._rows = np.full((self.capacity, width), -1, np.int32)
        self._used = 0
        self._lock = threading.Lock()

    def get(self, rows: np.ndarray) -> np.ndarray:
        """``(len(rows), width)`` int64 for ``rows`` (int, >= 0)."""
        out = np.empty((len(rows), self.width), np.int64)
        with self._lock:
            slot = self._slot[rows]
            hit = slot >= 0
            out[hit] = self._rows[slot[hit]]
        if hit.all():
            return out
        todo = np.unique(rows[~hit])
        values = np.full((len(todo), self.width), -1, np.int32)
        got = np.asarray(self._compute(todo))
        values[:, : min(self.width, got.shape[1])] = got[:, : self.width]
        out[~hit] = values[np.searchsorted(todo, rows[~hit])]
        with self._lock:
            fresh = todo[self._slot[todo] < 0]  # another thread may have stored some
            if self._used + len(fresh) > self.capacity:  # full: start again
                self._slot[:] = -1
                self._used = 0
                fresh = todo
            fresh = fresh[: self.capacity - self._used]
            new = np.arange(self._used, self._used + len(fresh))
            self._rows[new] = values[np.searchsorted(todo, fresh)]
            self._slot[fresh] = new
            self._used += len(fresh)
        return out


def _dedupe(rows: np.ndarray) -> np.ndarray:
    """Each line of ``rows`` (m, w) with repeated values replaced by -1 (order kept)."""
    order = np.argsort(rows, axis=1, kind="stable")
    s = np.take_along_axis(rows, order, axis=1)
    dup = np.zeros_like(s, bool)
    dup[:, 1:] = s[:, 1:] == s[:, :-1]
    out = rows.copy()
    np.put_along_axis(out, order, np.where(dup, -1, s), axis=1)
    return out
