"""Baselines every report puts beside item2vec: popularity, transitions, co-occurrence and
session-based kNN.

Each baseline is ``make(train: Sessions) -> Recommender`` (see
:data:`item2vec.queries.scoring.Recommender`): it counts what it needs on the training corpus once,
then answers a batch of queries with array operations. A query is one item row (``(n,)``) or
a history (``(n, N)`` rows, oldest first, ``-1`` padding on the left): the count baselines
then sum the counts of every history item with the recency weights of
:func:`item2vec.queries.scoring.recency_weights` (the newest item weighs most). Lists are
backfilled with popularity and never hold a query item. :data:`BASELINES` names them for
reports; a new baseline goes here and into that dict.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from ..arrays import check_rows
from ..checks import check_int, check_k
from ..data.sessions import Sessions
from ..queries.counts import pair_matrix, session_matrix
from ..queries.scoring import (
    Recommender,
    backfill,
    check_histories,
    exclude_histories,
    recency_weights,
    top_k,
)

__all__ = [
    "popular_order",
    "popularity",
    "transitions",
    "cooccurrence",
    "pair_counts",
    "sknn",
    "BASELINES",
]


def popular_order(train: Sessions) -> np.ndarray:
    """Rows seen in ``train`` by descending count (ties: lower row first); (n_seen,)."""
    counts = np.bincount(train.items, minlength=len(train.vocabulary))
    seen = np.flatnonzero(counts)
    return seen[np.argsort(-counts[seen], kind="stable")].astype(np.int32)


def popularity(train: Sessions) -> Recommender:
    """Most frequent items of ``train`` (by train counts), the query item excluded."""
    order, n_items = popular_order(train), len(train.vocabulary)

    def recommend(queries: np.ndarray, k: int) -> np.ndarray:
        k = check_k(k)
        if np.ndim(queries) == 1:
            q = check_rows("queries", queries, n_items=n_items)
        else:
            q = check_histories("queries", queries, n_items)
        return backfill(np.full((len(q), k), -1, np.int32), q, order)

    return recommend


def transitions(train: Sessions) -> Recommender:
    """Item-to-item transition counts: after ``a``, the items most often seen next.

    Counts consecutive pairs a -> b within sessions (never across two; a == b skipped),
    stored CSR-style by ``a`` (numpy only). Ties go to the more popular item; lists shorter
    than ``k`` are backfilled with popularity; the query is never recommended.
    """
    return pair_counts(train, window=1, symmetric=False)


def cooccurrence(train: Sessions, window: int = 1) -> Recommender:
    """Neighbour counts in both directions: the items most often seen within ``window``
    places of ``a`` (before or after it), a pair at distance ``d`` counting ``1 / d``.

    :func:`transitions` without the order. As there: within sessions only, ``a == b``
    skipped, ties to the more popular item, popularity backfill, never the query.
    """
    return pair_counts(train, window=check_int("window", window, 1), symmetric=True)


def pair_counts(train: Sessions, window: int, symmetric: bool) -> Recommender:
    """Items most often seen within ``window`` places after ``a`` (before it too when
    ``symmetric``), a pair at distance ``d`` counting ``1 / d``; the engine of
    :func:`transitions` and :func:`cooccurrence` (their docstrings give the rules)."""
    items, n_items = train.items, len(train.vocabulary)
    pop = popular_order(train)
    session = np.repeat(np.arange(len(train), dtype=np.int64), train.lengths)
    src_parts, dst_parts, w_parts = [], [], []
    for d in range(1, window + 1):
        a, b = items[:-d].astype(np.int64), items[d:].astype(np.int64)
        ok = (session[:-d] == session[d:]) & (a != b)
        a, b = a[ok], b[ok]
        pairs = [(a, b), (b, a)] if symmetric else [(a, b)]
        for x, y in pairs:
            src_parts.append(x)
            dst_parts.append(y)
            w_parts.append(np.full(len(x), 1.0 / d))
    codes = np.concatenate(src_parts) * n_items + np.concatenate(dst_parts)
    codes, inverse = np.unique(codes, return_inverse=True)
    counts = np.bincount(inverse, weights=np.concatenate(w_parts), minlength=len(codes))
    src, dst = codes // n_items, codes % n_items
    pop_rank, tie = _popularity_ranks(pop, n_items)
    order = np.lexsort((pop_rank[dst], -counts, src))
    succ = dst[order].astype(np.int32)
    indptr = np.zeros(n_items + 1, np.int64)
    np.cumsum(np.bincount(src, minlength=n_items), out=indptr[1:])

    def recommend(queries: np.ndarray, k: int) -> np.ndarray:
        if np.ndim(queries) != 1:
            return summed(check_histories("queries", queries, n_items), check_k(k))
        q, k = check_rows("queries", queries, n_items=n_items), check_k(k)
        start = indptr[q]
        length = np.minimum(indptr[q + 1] - start, k)
        col = np.arange(k)
        idx = np.minimum(start[:, None] + col, max(len(succ) - 1, 0))
        src_vals = succ[idx] if len(succ) else np.zeros(idx.shape, np.int32)
        out = np.where(col < length[:, None], src_vals, -1).astype(np.int32)
        return backfill(out, q, pop)

    matrix: list[sp.csr_matrix] = []  # built on the first history query

    def summed(h: np.ndarray, k: int) -> np.ndarray:
        if not matrix:
            matrix.append(pair_matrix(train, window, symmetric))
        out = np.full((len(h), k), -1, np.int32)
        step = max(1, 2**24 // n_items)
        for s in range(0, len(h), step):
            scores = _weighted_rows(h[s : s + step], matrix[0]).toarray()
            scores = np.where(scores > 0, scores + tie, -np.inf)
            exclude_histories(scores, h[s : s + step])
            out[s : s + step] = top_k(scores, k)[0]
        return backfill(out, h, pop)

    return recommend


def _weighted_rows(h: np.ndarray, m: sp.csr_matrix) -> sp.csr_matrix:
    """``sum_j w_j m[h_j]`` for each history (recency weights); CSR (len(h), m.shape[1])."""
    w = recency_weights(h)
    r, c = np.nonzero(h >= 0)
    weights = sp.csr_matrix((w[r, c], (r, h[r, c])), shape=(len(h), m.shape[0]))
    return weights @ m


def _popularity_ranks(pop: np.ndarray, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Rank of each row in ``pop`` (unseen rows last), and a tie-break below any count
    difference (``1e-9`` scaled by rank) that puts the more popular of equal scores first."""
    rank = np.full(n_items, n_items, np.int64)
    rank[pop] = np.arange(len(pop))
    return rank, (1.0 - rank / (n_items + 1.0)) * 1e-9


def sknn(train: Sessions, neighbours: int = 100) -> Recommender:
    """Session-based kNN (Jannach & Ludewig, RecSys 2017): the training sessions most like
    the query vote for their items.

    A history ``h`` (a set of items; one item for a 1-D query) and a training session ``s``
    have the cosine similarity ``|h & s| / sqrt(|h| |s|)`` of their binary item vectors. The
    ``neighbours`` most similar sessions (ties to the earlier session) each add their
    similarity to every item they hold; items are ranked by that sum (ties to the more
    popular), history items left out, popularity backfill.
    """
    neighbours = check_int("neighbours", neighbours, 1)
    n_items = len(train.vocabulary)
    pop = popular_order(train)
    tie = _popularity_ranks(pop, n_items)[1]
    x = session_matrix(train)  # (n_sessions, n_items), binary
    size = np.sqrt(np.asarray(x.sum(axis=1)).ravel())
    earlier = 1e-12 * (1.0 - np.arange(len(train)) / (len(train) + 1.0))  # equal: earlier wins
    x_t = x.T.tocsr()

    def recommend(queries: np.ndarray, k: int) -> np.ndarray:
        k = check_k(k)
        if np.ndim(queries) == 1:
            h = check_rows("queries", queries, n_items=n_items)[:, None]
        else:
            h = check_histories("queries", queries, n_items)
        out = np.full((len(h), k), -1, np.int32)
        step = max(1, 2**24 // max(len(train), n_items))
        for s in range(0, len(h), step):
            hs = h[s : s + step]
            r, c = np.nonzero(hs >= 0)
            q = sp.csr_matrix((np.ones(len(r)), (r, hs[r, c])), shape=(len(hs), n_items))
            q.sum_duplicates()
            q.data[:] = 1.0
            q_size = np.sqrt(np.asarray(q.sum(axis=1)).ravel())
            sim = (q @ x_t).toarray() / np.maximum(q_size[:, None] * size[None, :], 1e-12)
            nb, value = top_k(np.where(sim > 0, sim + earlier, -np.inf), neighbours)
            rows = np.repeat(np.arange(len(hs)), nb.shape[1])
            keep = nb.ravel() >= 0
            votes = sp.csr_matrix(
                (value.ravel()[keep], (rows[keep], nb.ravel()[keep])), shape=(len(hs), len(train))
            )
            scores = (votes @ x).toarray()
            scores = np.where(scores > 0, scores + tie, -np.inf)
            exclude_histories(scores, hs)
            out[s : s + len(hs)] = top_k(scores, k)[0]
        return backfill(out, h if np.ndim(queries) != 1 else h[:, 0], pop)

    return recommend


#: The simple baselines every report puts beside item2vec: name -> ``fn(train) -> recommender``.
BASELINES: dict[str, Callable[[Sessions], Recommender]] = {
    "transitions": transitions,
    "co-occurrence": cooccurrence,
    "sknn": sknn,
    "popularity": popularity,
}
