"""Counts of a corpus as sparse matrices: neighbour pairs and session membership.

The count baselines (:mod:`item2vec.evaluation.baselines`), session-based kNN and the
``"blend"`` score of :class:`~item2vec.Item2Vec` read the corpus through these matrices
(``scipy.sparse.csr_matrix``, rows and columns are vocabulary rows):

- :func:`pair_matrix`: ``M[a, b]`` = how often ``b`` follows ``a`` within ``window`` places
  of the same session (both ways when ``symmetric``), a pair at distance ``d`` weighing
  ``1 / d``; ``a == b`` pairs are skipped, sessions never cross.
- :func:`next_counts`: what the ``"blend"`` score counts: ``F + beta F.T`` for the forward
  pair counts ``F`` within a window, the window and the backward pairs' weight ``beta``
  being those that best predict each training session's last item from the one before
  (:func:`choose_window`, :func:`choose_order_weight`); :class:`DeferredCounts` computes
  them on first use, so that a fit whose model is only asked for vectors never pays them.
  Every training path counts with :class:`~item2vec.queries.pair_counts.PairCounter`
  (:func:`counts_from_counter`), each item keeping its :data:`MAX_NEIGHBOURS` strongest.
- :func:`session_matrix`: ``X[s, i] = 1`` when item ``i`` occurs in session ``s``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp

from ..data.sessions import Sessions
from .pair_counts import (
    PairCounter,
    counts_arrays,
    counts_from_arrays,
    in_threads,
    session_tails,
    top_neighbours,
    weigh_distances,
)

__all__ = [
    "ORDER_WEIGHTS",
    "COUNT_WINDOWS",
    "DeferredCounts",
    "NextCounts",
    "MAX_NEIGHBOURS",
    "blend_counts",
    "choose_order_weight",
    "counts_arrays",
    "counts_from_arrays",
    "counts_from_counter",
    "choose_window",
    "last_pairs",
    "last_histories",
    "loo_hit_rate",
    "loo_hits",
    "loo_history_hit_rate",
    "loo_history_hits",
    "next_counts",
    "order_weight",
    "pair_matrix",
    "pair_matrices",
    "session_matrix",
]

ORDER_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
"""Backward-pair weights :func:`choose_order_weight` tries, beside :func:`order_weight`."""
COUNT_WINDOWS = (1, 2, 3, 5)
"""Windows of the forward pair counts :func:`choose_window` tries."""
LOO_CASES = 20_000
"""At most this many sessions (drawn with a fixed seed) judge the candidates. A streamed fit
(``ParquetCorpus``, several workers) keeps a sample of this many sessions' tails while it
counts (:class:`~item2vec.queries.pair_counts.PairCounter`): all of them on a log of no
more sessions, hence the same choices as in memory there."""
MAX_NEIGHBOURS = 500
"""Neighbours kept per item in the blend's counts and the update's forward counts
(:func:`~item2vec.queries.pair_counts.top_neighbours`, after summing): the counts then grow
with the items (at most 500 per row, 6 KB) and not with the pairs. The smallest of 50, 100,
200 and 500 that left HR@10 of the blend unchanged on Online Retail customers and baskets
under both protocols (200 cost baskets' history protocol 0.0012: the cut also lowers each
row's sum, which the blend divides by); see benchmarks/README.md, "Counts on every training
path"."""
LOO_HISTORY = 5
"""Items before the last one that :func:`loo_history_hit_rate` queries with."""
LOO_HISTORY_CASES = 2_000
"""At most this many histories (of the :data:`LOO_CASES`) judge the windows: each one's
mixture is a row of its own, where the previous-item question shares rows."""


def pair_matrix(sessions: Sessions, window: int = 1, symmetric: bool = True) -> sp.csr_matrix:
    """Neighbour counts, float64 CSR of shape (n_items, n_items), sorted indices.

    Parameters
    ----------
    sessions : Sessions
    window : int >= 1
        Pairs up to ``window`` places apart; distance ``d`` adds ``1 / d``.
    symmetric : bool
        Count ``b`` before ``a`` too (co-occurrence); ``False`` counts only ``a -> b``
        (transitions).
    """
    return pair_matrices(sessions, (window,), symmetric)[0]


def pair_matrices(
    sessions: Sessions, windows: tuple[int, ...], symmetric: bool = False
) -> list[sp.csr_matrix]:
    """:func:`pair_matrix` for each of ``windows`` (ascending): the integer counts of each
    distance, weighed once (:func:`~item2vec.queries.pair_counts.weigh_distances`), as
    every training path counts them."""
    n = len(sessions.vocabulary)
    counter = PairCounter(n, max(windows, default=1))
    counter.add(sessions.items, sessions.lengths)
    per_distance = counter.distance_counts()
    if symmetric:
        per_distance = [(m + m.T).tocsr() for m in per_distance]
    return weigh_distances(per_distance, windows)


def order_weight(forward: sp.csr_matrix) -> float:
    """How much an item seen just *before* ``a`` says about what comes *after* it, in [0, 1].

    A dispersion test of the forward pair counts ``F``: if the log had no order (baskets),
    ``F[a, b]`` and ``F[b, a]`` would split each pair's total ``n`` like a fair coin, so
    ``R = sum((F - F.T) ** 2) / sum(F + F.T)`` would be about 1 whatever the log's size; the
    more the order matters, the larger ``R`` (about the mean pair count for a log that only
    moves forward). Returns ``min(1, 1 / R)``: 1 for baskets, near 0 for walks. Measured
    (seed 0): Online Retail customers 0.75, a 2,000-basket sample 0.71, synthetic walks 0.07.
    """
    diff = forward - forward.T
    total = forward.sum() * 2.0
    if total == 0:
        return 1.0
    r = float(diff.multiply(diff).sum()) / total
    return 1.0 if r <= 1.0 else 1.0 / r


def _tails(judge: Sessions | np.ndarray) -> np.ndarray:
    """The judges' sessions as tails (:func:`~item2vec.queries.pair_counts.session_tails`)."""
    if isinstance(judge, Sessions):
        return session_tails(judge.items, judge.lengths)
    return np.asarray(judge, np.int64)


def last_pairs(sessions: Sessions | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each session's last two items ``(a, b)`` (int64 rows), where the session has two and
    they differ; at most :data:`LOO_CASES` of them, drawn with a fixed seed. ``sessions``:
    a :class:`Sessions` or their tails (:func:`~item2vec.queries.pair_counts.session_tails`)."""
    tails = _tails(sessions)
    a, b = tails[:, -2], tails[:, -1]
    keep = np.flatnonzero(a != b)
    if len(keep) > LOO_CASES:
        keep = np.sort(np.random.default_rng(0).choice(keep, LOO_CASES, replace=False))
    return a[keep].astype(np.int64), b[keep].astype(np.int64)


def loo_hit_rate(counts: sp.csr_matrix, a: np.ndarray, b: np.ndarray, k: int = 10) -> float:
    """Share of the pairs ``a -> b`` whose ``b`` ranks in the top ``k`` of row ``a`` of
    ``counts`` once that pair's own forward count is taken out (leave one out). Ties count
    half; a ``b`` left with no count is a miss (counts alone cannot place it)."""
    return float(np.mean(loo_hits(counts, a, b, k))) if len(a) else 0.0


def loo_hits(counts: sp.csr_matrix, a: np.ndarray, b: np.ndarray, k: int = 10) -> np.ndarray:
    """:func:`loo_hit_rate` case by case: bool (len(a),)."""
    c = counts.tocsr()
    c.eliminate_zeros()
    own = np.asarray(c[a, b]).ravel() - 1.0  # b's score without the held-out pair
    lengths = c.indptr[a + 1] - c.indptr[a]
    used = np.unique(a)
    if lengths.sum() <= 3 * (c.indptr[used + 1] - c.indptr[used]).sum():
        # few cases per row (long logs): compare each case's row entries directly
        case = np.repeat(np.arange(len(a)), lengths)
        values = c.data[_ranges(c.indptr[a], lengths)]
        above = np.bincount(case, values > own[case], len(a))
        ties = np.bincount(case, values == own[case], len(a))
    else:  # many cases share each row (baskets): sort each row once
        above, ties = _above_and_ties(c, a, own)
    above -= 1  # b itself is above ``own``
    return (own > 0) & (above + ties / 2 < k)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The indices ``starts[i] .. starts[i] + lengths[i] - 1`` of every ``i``, concatenated."""
    return np.repeat(starts - (np.cumsum(lengths) - lengths), lengths) + np.arange(lengths.sum())


def _above_and_ties(c: sp.csr_matrix, rows: np.ndarray, own: np.ndarray) -> tuple[np.ndarray, ...]:
    """For each ``i``: how many stored values of row ``rows[i]`` of ``c`` exceed ``own[i]``,
    and how many equal it (values >= 0, compared as float32: the bits of a non-negative
    float32 order as the numbers do). Each row used is sorted once, as uint64 keys
    ``row << 32 | bits(value)``, and each case is three binary searches, however many cases
    share a row."""
    used, inv = np.unique(rows, return_inverse=True)
    sub = c[used]
    row_of = np.repeat(np.arange(len(used), dtype=np.uint64), np.diff(sub.indptr))
    keys = row_of << np.uint64(32)
    keys |= np.maximum(sub.data, 0).astype(np.float32).view(np.uint32)
    keys.sort()
    base = inv.astype(np.uint64) << np.uint64(32)
    at = base | np.maximum(own, 0).astype(np.float32).view(np.uint32)
    below_or_at = np.searchsorted(keys, at, side="left")
    up_to = np.searchsorted(keys, at, side="right")
    end = np.searchsorted(keys, base + np.uint64(1 << 32), side="left")
    return end - up_to, up_to - below_or_at


def last_histories(
    sessions: Sessions | np.ndarray, n: int = LOO_HISTORY
) -> tuple[np.ndarray, np.ndarray]:
    """Each session's last item and the up to ``n`` items before it: ``(histories (m, n)``
    int64 rows oldest first, ``-1`` padding on the left, ``last (m,))``, for the sessions of
    two or more items whose last item is not in its history (as the history protocol of
    :func:`item2vec.data.split.next_event_split` leaves those out); at most :data:`LOO_CASES`,
    drawn with a fixed seed. ``sessions``: a :class:`Sessions`, or their tails
    (:func:`~item2vec.queries.pair_counts.session_tails`, then ``n <= TAIL - 1``)."""
    if isinstance(sessions, Sessions):
        start, end = sessions.offsets[:-1], sessions.offsets[1:]
        long = sessions.lengths >= 2
        start, end = start[long], end[long]
        pos = end[:, None] - 1 - np.arange(n, 0, -1)[None, :]  # oldest first
        hist = np.where(pos >= start[:, None], sessions.items[np.maximum(pos, 0)], -1)
        hist = hist.astype(np.int64)
        last = sessions.items[end - 1].astype(np.int64)
    else:
        tails = np.asarray(sessions, np.int64)
        if not 1 <= n < tails.shape[1]:
            raise ValueError(f"tails of {tails.shape[1]} items hold histories of 1 to "
                             f"{tails.shape[1] - 1}, not {n}")  # fmt: skip
        hist, last = tails[:, -n - 1 : -1], tails[:, -1]
    keep = np.flatnonzero(~(hist == last[:, None]).any(axis=1))
    if len(keep) > LOO_CASES:
        keep = np.sort(np.random.default_rng(0).choice(keep, LOO_CASES, replace=False))
    return hist[keep], last[keep]


def loo_history_hit_rate(
    forward: sp.csr_matrix, beta: float, window: int, hist: np.ndarray, last: np.ndarray,
    k: int = 10, chunk: int = 2048,
) -> float:  # fmt: skip
    """HR@k of the counts-only history question, leave one out: each ``last`` ranked after
    ``hist`` (:func:`last_histories`) by the recency-weighted mixture
    (:func:`item2vec.queries.scoring.recency_weights`) of the history items' rows of
    ``C = F + beta F.T``, each row divided by its sum, as the ``"blend"`` score mixes them;
    history items are not candidates. Left out: the pairs the held-out item made with the
    history items, ``1 / d`` from row ``h`` for each history item ``d <= window`` places
    before it. Ties count half; a ``last`` with no count left is a miss."""
    if len(last) == 0:
        return 0.0
    return float(np.mean(loo_history_hits(forward, beta, window, hist, last, k, chunk)))


def loo_history_hits(
    forward: sp.csr_matrix, beta: float, window: int, hist: np.ndarray, last: np.ndarray,
    k: int = 10, chunk: int = 2048, backward: sp.csr_matrix | None = None,
) -> np.ndarray:  # fmt: skip
    """:func:`loo_history_hit_rate` case by case: bool (len(last),). ``backward``:
    ``forward.T`` as CSR, if already at hand."""
    from .scoring import recency_weights  # scoring is above counts in the package's layers

    backward = forward.T.tocsr() if backward is None else backward
    c = blend_rows(forward, backward, hist.ravel(), beta)
    row_sums = np.asarray(c.sum(axis=1)).ravel()
    n_items, width = c.shape[0], hist.shape[1]
    distance = np.arange(width, 0, -1)[None, :]  # of each history column from the last item
    held = np.where(distance <= window, 1.0 / distance, 0.0)
    # C[r, col] by binary search over C's entries in (row, column) order (C's indices are sorted)
    entry_keys = np.repeat(np.arange(n_items, dtype=np.int64), np.diff(c.indptr)) * n_items
    entry_keys += c.indices

    def at(r: np.ndarray, col: np.ndarray) -> np.ndarray:
        want = r * n_items + col
        if len(entry_keys) == 0:
            return np.zeros(len(want))
        pos = np.minimum(np.searchsorted(entry_keys, want), len(entry_keys) - 1)
        return np.where(entry_keys[pos] == want, c.data[pos], 0.0)

    hits = np.zeros(len(last), bool)
    for a in range(0, len(last), chunk):
        h, b = hist[a : a + chunk], last[a : a + chunk]
        m = len(b)
        ok = h >= 0
        case, col = np.nonzero(ok)
        rows = h[case, col]
        delta = np.broadcast_to(held, h.shape)[case, col]
        rest = row_sums[rows] - delta  # each history row's sum without the held-out pair
        wv = np.divide(
            recency_weights(h, ok)[case, col], rest, out=np.zeros(len(rows)), where=rest > 0
        )
        mix = (sp.csr_matrix((wv, (case, rows)), shape=(m, n_items)) @ c).tocsr()  # (m, n)
        # b's score and the history items' scores, from C's entries: sum_j wv_j C[h_j, t]
        raw_b = np.bincount(case, wv * at(rows, b[case]), m)
        own = raw_b - np.bincount(case, wv * delta, m)  # b's score without the held-out pairs
        row_of = np.repeat(np.arange(m, dtype=np.int64), np.diff(mix.indptr))
        above = np.bincount(row_of, mix.data > own[row_of], m)
        ties = np.bincount(row_of, mix.data == own[row_of], m)
        # not candidates: the history items (each once) and b itself (counted above or tied)
        pairs = np.unique(case * n_items + rows)
        hc, hr = pairs // n_items, pairs % n_items
        # each history entry (case, row) against each candidate (case, hr) of its case
        count = np.bincount(case, minlength=m)[hc]
        j = _ranges(np.searchsorted(case, hc), count)  # a case's entries are contiguous
        who = np.repeat(np.arange(len(hc)), count)
        hv = np.bincount(who, wv[j] * at(rows[j], hr[who]), len(hc))
        above -= np.bincount(hc, hv > own[hc], m)
        ties -= np.bincount(hc, (hv == own[hc]) & (hv != 0), m)
        above -= raw_b > own
        ties -= (raw_b == own) & (raw_b != 0)
        hits[a : a + m] = (own > 0) & (above + ties / 2 < k)
    return hits


def choose_order_weight(
    sessions: Sessions | np.ndarray, forward: sp.csr_matrix | None = None
) -> float:
    """The weight ``beta`` of the backward pairs in :func:`next_counts`.

    Candidates: :func:`order_weight` (the dispersion test) and :data:`ORDER_WEIGHTS`. Each is
    judged on the question the blend answers, asked of the training data: from each
    session's item before last, rank its last item by ``F + beta F.T`` with that pair left
    out (:func:`loo_hit_rate`, HR@10). The best wins; ties keep the dispersion test's value,
    which is also the answer when no session has two different items. Measured (seed 0): on
    Online Retail baskets 0.5 wins (the dispersion test says 0.16, which left the blend 0.003
    HR@10 below symmetric co-occurrence there); on customers (0.75), a 300-customer sample
    (0.96) and synthetic walks (0.08) the dispersion test's value is kept; on a 1,000-customer
    sample 0.75 wins against its 0.93. ``sessions`` may be the judges' tails
    (:func:`~item2vec.queries.pair_counts.session_tails`), then ``forward`` is needed.
    """
    if forward is None:
        if not isinstance(sessions, Sessions):
            raise ValueError("choose_order_weight on session tails needs the forward counts")
        forward = pair_matrix(sessions, window=1, symmetric=False)
    prior = order_weight(forward)
    a, b = last_pairs(sessions)
    if len(a) == 0:
        return prior
    candidates = (prior, *ORDER_WEIGHTS)
    backward = forward.T.tocsr()
    hits = in_threads(lambda w: loo_hit_rate(blend_rows(forward, backward, a, w), a, b),
                      ((w,) for w in candidates), 64 * forward.nnz)  # fmt: skip
    return candidates[int(np.argmax(hits))]


def blend_counts(forward: sp.csr_matrix, beta: float) -> sp.csr_matrix:
    """``forward + beta * forward.T`` as float64 CSR with sorted indices."""
    out = (forward + beta * forward.T).tocsr()
    out.sort_indices()
    return out


def blend_rows(
    forward: sp.csr_matrix, backward: sp.csr_matrix, rows: np.ndarray, beta: float
) -> sp.csr_matrix:
    """:func:`blend_counts` on ``rows`` only (the other rows left empty), for the
    leave-one-out judges, which read only their queries' rows: on a 5 M-event log the whole
    blend costs seconds per candidate. ``backward`` is ``forward.T`` as CSR."""
    rows = np.unique(rows[rows >= 0])
    sub = (forward[rows] + beta * backward[rows]).tocsr()
    sub.sort_indices()
    lengths = np.zeros(forward.shape[0], np.int64)
    lengths[rows] = np.diff(sub.indptr)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    return sp.csr_matrix((sub.data, sub.indices, indptr), shape=forward.shape)


class NextCounts(NamedTuple):
    """What :func:`next_counts` chose: the blend's ``counts`` (``F + beta F.T``), the forward
    counts ``forward`` (``F``, within ``window``), ``window`` and ``beta``."""

    counts: sp.csr_matrix
    forward: sp.csr_matrix
    window: int
    beta: float


def choose_window(
    sessions: Sessions | np.ndarray, beta: float, forwards: list[sp.csr_matrix] | None = None
) -> tuple[int, sp.csr_matrix]:
    """The window of the forward counts for the blend, and those counts ``F``.

    Each of :data:`COUNT_WINDOWS` is judged on both questions the blend answers, asked of
    the training data with the held-out pairs left out: each session's last item ranked
    from the one before (:func:`loo_hits`) and from the :data:`LOO_HISTORY` before it
    (:func:`loo_history_hits`), by ``F + beta F.T``; a window's score is the sum of its two
    HR@10. The smallest window within one standard error of the best score wins (the
    paired error of the two differences, the "one-standard-error rule"): a wider window
    must earn its place. Pairs ``d`` places apart weigh ``1 / d``, so a wider window adds
    evidence where adjacent pairs are few, and blurs the order where they are many.
    Measured (6 seeds, blend HR@10 against window 1, test splits of
    ``benchmarks/test_bench_next_item.py``): see ``benchmarks/README.md``. ``forwards``:
    :func:`pair_matrices` of :data:`COUNT_WINDOWS`, if already counted (needed when
    ``sessions`` are the judges' tails, :func:`~item2vec.queries.pair_counts.session_tails`).
    """
    if forwards is None:
        if not isinstance(sessions, Sessions):
            raise ValueError("choose_window on session tails needs the forward counts")
        forwards = pair_matrices(sessions, COUNT_WINDOWS)
    a, b = last_pairs(sessions)
    if len(a) == 0:
        return COUNT_WINDOWS[0], forwards[0]
    hist, last = (x[:LOO_HISTORY_CASES] for x in last_histories(sessions))

    def judge(w: int, f: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        back = f.T.tocsr()
        prev = loo_hits(blend_rows(f, back, a, beta), a, b)
        return prev, loo_history_hits(f, beta, w, hist, last, backward=back)

    hits = in_threads(judge, zip(COUNT_WINDOWS, forwards, strict=True), 64 * forwards[-1].nnz)
    scores = [p.mean() + (h.mean() if len(h) else 0.0) for p, h in hits]
    best = int(np.argmax(scores))
    for i, (p, h) in enumerate(hits):  # the smallest window within one error of the best
        dp, dh = hits[best][0] ^ p, hits[best][1] ^ h  # cases where the two differ
        diff = (hits[best][0].astype(float) - p).mean()
        if len(h):
            diff += (hits[best][1].astype(float) - h).mean()
        se = np.sqrt(dp.mean() / len(p) + (dh.mean() / len(h) if len(h) else 0.0))
        if diff <= se:
            return COUNT_WINDOWS[i], forwards[i]
    return COUNT_WINDOWS[best], forwards[best]  # pragma: no cover - best is within 0


def next_counts(
    sessions: Sessions, window: int | None = None, max_neighbours: int | None = MAX_NEIGHBOURS
) -> NextCounts:
    """The blend's neighbour counts of ``sessions``: ``F + beta F.T`` for the forward pair
    counts ``F`` within ``window`` (chosen by :func:`choose_window` when None, with the
    window-1 ``beta``) and ``beta`` from :func:`choose_order_weight` on those counts.
    Symmetric co-occurrence where what came before predicts as well as what came after,
    transitions on a log that only moves forward, in between otherwise. Each item keeps its
    ``max_neighbours`` strongest neighbours (:data:`MAX_NEIGHBOURS`; None keeps all)."""
    counter = PairCounter(len(sessions.vocabulary), max(COUNT_WINDOWS) if window is None
                          else window)  # fmt: skip
    counter.add(sessions.items, sessions.lengths)
    return counts_from_counter(counter, window, max_neighbours)


def counts_from_counter(
    counter: PairCounter, window: int | None = None,
    max_neighbours: int | None = MAX_NEIGHBOURS,
) -> NextCounts:  # fmt: skip
    """:func:`next_counts` from counts accumulated block by block (or summed over workers):
    the window and ``beta`` judged on the counter's tails (all of them, or its sample of
    :data:`LOO_CASES`), the kept counts cut to ``max_neighbours`` per item."""
    top_neighbours(sp.csr_matrix((1, 1)), max_neighbours)  # checks max_neighbours
    tails = counter.tails()
    beta = None
    if window is None:
        forwards = counter.forwards(COUNT_WINDOWS)  # forwards[0]: window 1
        beta_1 = choose_order_weight(tails, forwards[0])
        window, forward = choose_window(tails, beta_1, forwards)
        if forward is forwards[0]:  # window 1: its beta is already judged
            beta = beta_1
    else:
        forward = counter.forwards((window,))[0]
    if beta is None:
        beta = choose_order_weight(tails, forward)
    blend = blend_counts(forward, beta)
    counts, forward = in_threads(
        lambda m: top_neighbours(m, max_neighbours), [(blend,), (forward,)], 40 * blend.nnz
    )
    return NextCounts(counts, forward, window, beta)


class DeferredCounts:
    """:func:`next_counts` of ``sessions``, computed once, on the first :meth:`get`.

    What a fit keeps instead of the counts: they cost 1.3-1.4 s on Online Retail and
    2.6-3.6 s on a 5 M-event log of 10k items (Intel kind; 25-40% of a fit,
    benchmarks/README.md), and only ``score="blend"``, an update and saving need them.
    Holds a reference to ``sessions`` until then. Safe to call from several threads: one
    computes, the others wait for its result. ``sessions`` may also be a function of no
    arguments that returns the :class:`NextCounts` (a streamed corpus counted in a pass of
    its own, :func:`counts_from_counter`).
    """

    def __init__(self, sessions: Sessions | Callable[[], NextCounts]) -> None:
        self._sessions: Any = sessions
        self._value: NextCounts | None = None
        self._lock = threading.Lock()

    def get(self) -> NextCounts:
        """The counts, computed on the first call."""
        with self._lock:
            if self._value is None:
                assert self._sessions is not None
                source = self._sessions
                self._value = next_counts(source) if isinstance(source, Sessions) else source()
                self._sessions = None  # the counts no longer need the log
            return self._value


def session_matrix(sessions: Sessions) -> sp.csr_matrix:
    """Binary session x item incidence, float64 CSR of shape (n_sessions, n_items)."""
    session = np.repeat(np.arange(len(sessions), dtype=np.int64), sessions.lengths)
    x = sp.csr_matrix(
        (np.ones(sessions.n_events), (session, sessions.items)),
        shape=(len(sessions), len(sessions.vocabulary)),
    )
    x.sum_duplicates()
    x.data[:] = 1.0
    return x
