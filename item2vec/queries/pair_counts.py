"""Forward pair counts accumulated block by block: the same counts from any training path.

:class:`PairCounter` is what :func:`item2vec.queries.counts.next_counts` counts with, for a
:class:`~item2vec.data.sessions.Sessions` in memory (one block), a
:class:`~item2vec.sampling.corpus.ParquetCorpus` (its sessions chunk by chunk,
:meth:`~item2vec.sampling.corpus.ParquetCorpus.keyed_sessions`) and each worker of a
multi-worker fit (its shard; the workers' counters are summed with
:meth:`PairCounter.from_parts`). Pair counts are sums over sessions, so these agree
exactly however the sessions are cut into blocks or shards:

- for each distance ``d`` up to ``max_distance`` it keeps the *integer* count ``n_d[a, b]``
  of ``b`` coming ``d`` places after ``a`` in a session (``a != b``). Integers stored in
  float64 add up exactly in any order (below 2**53), so the blocks' order does not matter;
- :meth:`PairCounter.forwards` weighs them once, at the end: ``F_w = sum_{d <= w} n_d / d``,
  always in the order ``d = 1, 2, ...`` (:func:`weigh_distances`);
- a sample of at most ``sample`` sessions' *tails* (the last :data:`TAIL` items, what the
  leave-one-out judges of the window and the backward weight read) chosen by a hash of each
  session's place in the log (not by the order the sessions come in), sorted back into log
  order. With ``sample=None`` every tail is kept (the in-memory fit).

Memory while counting: the distinct pairs of the log (per distance), plus one block's pairs;
blocks are merged into the totals when the pending ones outgrow them (each entry is merged
O(log blocks) times). :func:`top_neighbours` then bounds what is kept per item.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..cores import usable_cores
from ..exceptions import ModelFormatError, ParameterError

__all__ = [
    "TAIL",
    "THREAD_BYTES",
    "PairCounter",
    "count_blocks",
    "counts_arrays",
    "counts_from_arrays",
    "distance_counts",
    "in_threads",
    "session_tails",
    "top_neighbours",
    "weigh_distances",
]

TAIL = 6
"""Items kept from the end of each sampled session: the last one, and the five before it
(:data:`item2vec.queries.counts.LOO_HISTORY`) that the history judge queries with."""

THREAD_BYTES = 256 << 20
"""Pieces of the counts run two at a time only while each one's temporaries stay below
this (:func:`in_threads`); the estimates, measured: 90 bytes an event for a distance's
pair keys (431 MB at 5 M events), 64 bytes a forward count for a judge (0.78 GB for two
judges of 11.8 M), 40 a stored count for :func:`top_neighbours`. With them the counts of a
1M-item, 5 M-event log peak at 2.07 GB as on one thread (two threads everywhere: 3.0 GB)."""

_MERGE_MIN = 1 << 22  # pending entries below this are not merged into the totals yet


def distance_counts(
    items: np.ndarray, lengths: np.ndarray, n_items: int, max_distance: int
) -> list[sp.csr_matrix]:
    """``n_d`` for ``d = 1 .. max_distance``: float64 CSR (n_items, n_items) of integer
    counts, sorted indices; ``n_d[a, b]`` = how often ``b`` comes ``d`` places after
    ``a != b`` in one of the sessions (``items`` concatenated, ``lengths`` each).

    Each distance's pairs are one sort of int64 keys ``a * n_items + b`` and a run-length
    count (2-4x faster than scipy's sum of duplicates, which sorts every row apart)."""
    items = np.asarray(items, np.int64)
    session = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)

    def count(d: int) -> sp.csr_matrix:
        a, b = items[:-d], items[d:]
        ok = (session[:-d] == session[d:]) & (a != b)
        keys = a[ok] * n_items + b[ok]
        keys.sort()
        first = np.flatnonzero(np.diff(keys, prepend=-1))  # each distinct pair's first place
        counts = np.diff(first, append=len(keys)).astype(np.float64)
        pairs = keys[first]
        rows = pairs // n_items
        indptr = np.searchsorted(rows, np.arange(n_items + 1))
        cols = (pairs - rows * n_items).astype(np.int32)
        return sp.csr_matrix((counts, cols, indptr), shape=(n_items, n_items))

    return in_threads(count, ((d,) for d in range(1, max_distance + 1)), 90 * len(items))


def in_threads(fn: Callable[..., Any], cases: Iterable[tuple], piece_bytes: int) -> list[Any]:
    """``[fn(*case) for case in cases]`` on up to two threads, the same results in the same
    order: for independent pieces of the counts (one per distance, one per judged window or
    weight), whose sorts and sparse sums release the GIL. The counts are built after
    training (on the first blend query, or a pass of their own), when the cores are free.

    Two pieces at once hold two pieces' temporaries, so the threads are used only where one
    piece's temporaries (``piece_bytes``, the caller's estimate) stay within
    :data:`THREAD_BYTES`."""
    cases = list(cases)
    workers = min(2, len(cases), usable_cores())
    if workers < 2 or piece_bytes > THREAD_BYTES:
        return [fn(*case) for case in cases]
    with ThreadPoolExecutor(workers, thread_name_prefix="item2vec-counts") as pool:
        return list(pool.map(lambda case: fn(*case), cases))


def weigh_distances(counts: Sequence[sp.csr_matrix], windows: Sequence[int]) -> list[sp.csr_matrix]:
    """``F_w = sum_{d <= w} counts[d - 1] / d`` for each of ``windows`` (ascending), added
    in the order ``d = 1, 2, ...``: the same bits from the same integer counts."""
    out, total = [], None
    for d, n_d in enumerate(counts[: max(windows, default=0)], start=1):
        part = n_d * (1.0 / d) if d > 1 else n_d.copy()
        total = part if total is None else (total + part).tocsr()
        if d in windows:
            m = total.tocsr(copy=True)
            m.sort_indices()
            out.append(m)
    return out


def session_tails(items: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The last :data:`TAIL` items of each session of two or more items: int64 (m, TAIL),
    oldest first, ``-1`` padding on the left."""
    lengths = np.asarray(lengths, np.int64)
    end = np.cumsum(lengths)
    start = end - lengths
    long_ = lengths >= 2
    start, end = start[long_], end[long_]
    pos = end[:, None] - TAIL + np.arange(TAIL)[None, :]
    items = np.asarray(items)
    if len(items) == 0:
        return np.zeros((0, TAIL), np.int64)
    return np.where(pos >= start[:, None], items[np.maximum(pos, 0)], -1).astype(np.int64)


def _mix(keys: np.ndarray) -> np.ndarray:
    """splitmix64 of uint64 keys: a fixed, well-spread hash (the sample's keys)."""
    z = keys.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


class PairCounter:
    """Integer pair counts per distance and a sample of session tails, block by block.

    Parameters
    ----------
    n_items : int, rows of the vocabulary the blocks' items index.
    max_distance : int >= 1, the widest window the counts serve.
    sample : int or None
        Sessions whose tails are kept (the smallest hashes of their places in the log);
        None keeps all.
    """

    def __init__(self, n_items: int, max_distance: int, sample: int | None = None) -> None:
        if not isinstance(max_distance, int | np.integer) or max_distance < 1:
            raise ParameterError(f"max_distance must be an integer >= 1, got {max_distance!r}")
        if sample is not None and (not isinstance(sample, int | np.integer) or sample < 1):
            raise ParameterError(f"sample must be None or an integer >= 1, got {sample!r}")
        self.n_items, self.max_distance, self.sample = int(n_items), int(max_distance), sample
        self._totals = [sp.csr_matrix((self.n_items, self.n_items)) for _ in range(max_distance)]
        self._pending: list[list[sp.csr_matrix]] = [[] for _ in range(max_distance)]
        self._pending_nnz = 0
        self._tails = np.zeros((0, TAIL), np.int64)
        self._places = np.zeros(0, np.int64)  # each kept tail's place in the log
        self._next_place = 0
        self.n_sessions = 0
        self.peak_bytes = 0  # the largest the counts (totals + pending) have been

    def add(self, items: np.ndarray, lengths: np.ndarray, places: np.ndarray | None = None) -> None:
        """Count a block of sessions (``items`` vocabulary rows, ``lengths`` per session).

        ``places``: int64 per session, its place in the whole log (increasing in log order;
        any unique numbers that sort as the log does); by default the sessions are numbered
        on from the previous blocks."""
        items = np.asarray(items)
        lengths = np.asarray(lengths, np.int64)
        if lengths.sum() != len(items):
            raise ParameterError(
                f"the lengths add up to {int(lengths.sum())} events but the block has {len(items)}"
            )
        if len(items) and (items.min() < 0 or items.max() >= self.n_items):
            raise ParameterError(f"items must be vocabulary rows in [0, {self.n_items})")
        if places is None:
            places = self._next_place + np.arange(len(lengths), dtype=np.int64)
        places = np.asarray(places, np.int64)
        if places.shape != lengths.shape:
            raise ParameterError(f"places must have one entry per session ({len(lengths)})")
        self._next_place = int(places.max()) + 1 if len(places) else self._next_place
        self.n_sessions += len(lengths)
        for d, m in enumerate(distance_counts(items, lengths, self.n_items, self.max_distance)):
            self._pending[d].append(m)
            self._pending_nnz += m.nnz
        self._keep_tails(session_tails(items, lengths), places[lengths >= 2])
        self._note_peak()
        if self._pending_nnz >= max(_MERGE_MIN, sum(t.nnz for t in self._totals)):
            self._merge()

    def _keep_tails(self, tails: np.ndarray, places: np.ndarray) -> None:
        self._tails = np.concatenate([self._tails, tails])
        self._places = np.concatenate([self._places, places])
        if self.sample is not None and len(self._places) > self.sample:
            keys = _mix(self._places.view(np.uint64))
            keep = np.argpartition(keys, self.sample - 1)[: self.sample]
            self._tails, self._places = self._tails[keep], self._places[keep]

    def _note_peak(self) -> None:
        mats = [*self._totals, *(m for p in self._pending for m in p)]
        size = sum(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes for m in mats)
        self.peak_bytes = max(self.peak_bytes, size)

    def _merge(self) -> None:
        for d, pending in enumerate(self._pending):
            if pending:
                total = self._totals[d]
                for m in pending:
                    total = total + m
                self._totals[d] = total.tocsr()
                self._totals[d].sort_indices()
            self._pending[d] = []
        self._pending_nnz = 0
        self._note_peak()

    def distance_counts(self) -> list[sp.csr_matrix]:
        """The summed ``n_d``, ``d = 1 .. max_distance``."""
        self._merge()
        return list(self._totals)

    def forwards(self, windows: Sequence[int]) -> list[sp.csr_matrix]:
        """Forward pair counts ``F_w`` for each of ``windows`` (ascending, each <=
        ``max_distance``), pairs ``d`` places apart weighing ``1 / d``."""
        if any(w > self.max_distance for w in windows):
            raise ParameterError(
                f"windows {tuple(windows)} go beyond the counted distance {self.max_distance}"
            )
        return weigh_distances(self.distance_counts(), windows)

    def tails(self) -> np.ndarray:
        """The sampled sessions' tails (:func:`session_tails`), in log order."""
        return self._tails[np.argsort(self._places, kind="stable")]

    # ------------------------------------------------------------------ several counters
    def to_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """This counter as two float64 arrays, for a collective between workers: the
        counts ``(3, nnz)`` (distance, ``a * n_items + b``, count; exact in float64 below
        2**53) and the tails ``(TAIL + 1, m)`` (place, then the tail's items)."""
        _check_keys(self.n_items, self.max_distance)
        parts = []
        for d, m in enumerate(self.distance_counts(), start=1):
            coo = m.tocoo()
            key = coo.row.astype(np.int64) * self.n_items + coo.col
            parts.append(np.stack([np.full(m.nnz, float(d)), key.astype(np.float64), coo.data]))
        counts = np.concatenate(parts, axis=1) if parts else np.zeros((3, 0))
        tails = np.vstack([self._places[None, :], self._tails.T]).astype(np.float64)
        return counts, tails

    @classmethod
    def from_parts(
        cls, n_items: int, max_distance: int, sample: int | None,
        parts: Iterable[tuple[np.ndarray, np.ndarray]],
    ) -> PairCounter:  # fmt: skip
        """The sum of counters given as :meth:`to_arrays` (e.g. one per worker): their
        counts added, their tail samples merged and cut to ``sample`` by the same hash."""
        _check_keys(n_items, max_distance)
        out = cls(n_items, max_distance, sample)
        for counts, tails in parts:
            d = counts[0].astype(np.int64)
            key = counts[1].astype(np.int64)
            a, b = key // n_items, key % n_items
            for k in range(1, max_distance + 1):
                sel = d == k
                m = sp.csr_matrix((counts[2][sel], (a[sel], b[sel])), shape=(n_items, n_items))
                m.sum_duplicates()
                out._pending[k - 1].append(m)
            out._keep_tails(tails[1:].T.astype(np.int64), tails[0].astype(np.int64))
            out.n_sessions += tails.shape[1]
        out._merge()
        return out


def _check_keys(n_items: int, max_distance: int) -> None:
    if n_items * n_items * max_distance >= 2**53:
        raise ParameterError(
            f"{n_items} items are too many to send pair counts between workers as float64 "
            f"keys (n_items ** 2 * {max_distance} must be below 2 ** 53)"
        )


def count_blocks(
    blocks: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]], n_items: int,
    max_distance: int, sample: int | None,
) -> PairCounter:  # fmt: skip
    """A :class:`PairCounter` fed with ``(items, lengths, places)`` blocks."""
    counter = PairCounter(n_items, max_distance, sample)
    for items, lengths, places in blocks:
        counter.add(items, lengths, places)
    return counter


def top_neighbours(counts: sp.csr_matrix, k: int | None) -> sp.csr_matrix:
    """Each row's ``k`` largest entries (ties: the smaller column first), float64 CSR with
    sorted indices; ``k=None`` keeps all. What the counts then cost grows with the items
    (at most ``k`` per row), not with the pairs of the log."""
    if k is not None and (not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 1):
        raise ParameterError(f"max_neighbours must be None or an integer >= 1, got {k!r}")
    counts = counts.tocsr()
    lengths = np.diff(counts.indptr)
    if k is None or lengths.max(initial=0) <= k:
        return counts
    if not counts.has_sorted_indices:
        counts = counts.copy()
        counts.sort_indices()
    # only the rows longer than k are ranked: (row, -value, column) order by two stable
    # sorts of their entries (3x faster than np.lexsort of the three keys, and on a log of
    # 1M items, where few rows pass k, a fraction of the memory of ranking every entry)
    long = np.flatnonzero(lengths > k)
    sizes = lengths[long]
    starts = np.cumsum(sizes) - sizes  # each long row's first place among their entries
    at = np.repeat(counts.indptr[long] - starts, sizes) + np.arange(sizes.sum())
    row = np.repeat(np.arange(len(long)), sizes)
    order = np.argsort(-counts.data[at], kind="stable")
    order = order[np.argsort(row[order], kind="stable")]
    rank = np.arange(len(order)) - starts[row[order]]
    keep = np.ones(counts.nnz, bool)
    keep[at] = False
    keep[at[order[rank < k]]] = True  # still in (row, column) order
    kept = np.minimum(lengths, k)
    indptr = np.concatenate([[0], np.cumsum(kept)])
    return sp.csr_matrix((counts.data[keep], counts.indices[keep], indptr), shape=counts.shape)


_COUNTS = ("neighbour_indptr", "neighbour_indices", "neighbour_counts")


def counts_arrays(counts: Any) -> dict[str, np.ndarray]:
    """The neighbour counts as the model directory stores them: CSR's three arrays."""
    if counts is None:
        return {}
    return dict(zip(_COUNTS, (counts.indptr, counts.indices, counts.data), strict=True))


def counts_from_arrays(extras: dict[str, np.ndarray], n: int, where: str) -> Any:
    """Neighbour counts back from :func:`counts_arrays` (None when the model has none)."""
    present = [name in extras for name in _COUNTS]
    if not any(present):
        return None
    try:
        if not all(present):
            raise ValueError("some of its arrays are missing")
        indptr, indices, data = (extras[name] for name in _COUNTS)
        counts = sp.csr_matrix((data, indices, indptr), shape=(n, n))
        counts.check_format(full_check=True)
    except ValueError as e:
        raise ModelFormatError(f"{where}: invalid neighbour counts: {e}") from None
    return counts
