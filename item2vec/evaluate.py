"""Next-event evaluation: the split, HR@K / NDCG@K / MRR, baselines, gensim peer, intervals.

Protocol (see ``docs/design.md``): every session with at least ``min_length`` items loses its
last item in the training corpus; a seeded sample of those sessions is the test set, where
item n-1 is the query and item n the answer. Everything works on vocabulary *rows*.

A *recommender* is any callable ``fn(queries, k) -> ranked`` taking query rows of shape
``(n,)`` and returning an int array of shape ``(n, k)`` of rows, best first, padded with
``-1`` where fewer than ``k`` candidates exist. All recommenders here answer a whole batch
with array operations (no per-query search).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .data import Sessions, Vocabulary
from .exceptions import DataError, ParameterError, check_int

__all__ = [
    "NextEventSplit",
    "Recommender",
    "next_event_split",
    "validation_split",
    "validation_pool",
    "answer_ranks",
    "case_metrics",
    "rank_metrics",
    "popularity",
    "transitions",
    "cooccurrence",
    "BASELINES",
    "vector_recommender",
    "model_recommender",
    "RANKINGS",
    "gensim_recommender",
    "gensim_model_recommender",
    "evaluate",
    "evaluate_seeds",
    "compare",
    "results_table",
    "format_table",
    "bootstrap_interval",
    "t_interval",
]

Recommender = Callable[[np.ndarray, int], np.ndarray]


# ----------------------------------------------------------------------------- the split
@dataclass(frozen=True)
class NextEventSplit:
    """A next-event split.

    Attributes
    ----------
    train : Sessions
        Every session with >= ``min_length`` items minus its last item; shorter sessions
        whole. Same vocabulary rows as the input; ``vocabulary.counts`` are recounted on the
        training events (held-out answers are not counted; an item may have count 0).
    queries, answers : ndarray of int32, shape (n_cases,)
        Item n-1 and item n of each test session.
    test_sessions : ndarray of int64, shape (n_cases,)
        Index (in the input corpus, same in ``train``) of each case's session, ascending
        (repeated when a validation split holds out several events per session).
    seed : int
    min_length : int
    """

    train: Sessions
    queries: np.ndarray
    answers: np.ndarray
    test_sessions: np.ndarray
    seed: int
    min_length: int = 3

    def __post_init__(self) -> None:
        n = len(self.queries)
        for name in ("answers", "test_sessions"):
            if np.shape(getattr(self, name)) != (n,):
                raise ParameterError(
                    f"{name} has shape {np.shape(getattr(self, name))}, queries has ({n},)"
                )

    def __len__(self) -> int:
        return len(self.queries)


def _strip(sessions: Sessions, drop: np.ndarray) -> Sessions:
    """Remove the last ``drop[i]`` items of each session i; counts are recounted."""
    lengths = sessions.lengths
    ends = np.repeat(sessions.offsets[1:], lengths)
    keep = np.arange(sessions.n_events) < ends - np.repeat(drop, lengths)
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths - drop, out=offsets[1:])
    items = sessions.items[keep]
    v = sessions.vocabulary
    counts = np.bincount(items, minlength=len(v)).astype(np.int64)
    vocab = Vocabulary(v.ids, counts, v.dropped_items, v.dropped_events)
    report = dict(sessions.report, **{"next-event: last items held out": int(drop.sum())})
    return Sessions(items, offsets, vocab, report)


def _strip_last(sessions: Sessions, min_length: int) -> tuple[Sessions, np.ndarray, np.ndarray]:
    """Remove the last item of each session with >= min_length items.

    Returns the new corpus, the eligible session indices (n_elig,) and the positions of
    their last items in ``sessions.items`` (n_elig,).
    """
    long = sessions.lengths >= min_length
    eligible = np.flatnonzero(long)
    return _strip(sessions, long.astype(np.int64)), eligible, sessions.offsets[eligible + 1] - 1


def _draw(pool: int, n: int | None, fraction: float, seed: int, what: str) -> np.ndarray:
    """Sorted positions of ``n`` (or ``fraction`` of ``pool``) draws without replacement."""
    if n is None:
        if (
            isinstance(fraction, bool)
            or not isinstance(fraction, int | float)
            or not (0 < fraction <= 1)
        ):
            raise ParameterError(f"{what}_fraction must be in (0, 1], got {fraction!r}")
        n = max(1, round(fraction * pool))
    else:
        check_int(f"n_{what}", n, 1)
        if n > pool:
            raise ParameterError(f"n_{what}={n} exceeds the {pool} sessions available for it")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(pool, size=n, replace=False))


def next_event_split(
    sessions: Sessions,
    *,
    n_test: int | None = None,
    test_fraction: float = 0.1,
    seed: int = 0,
    min_length: int = 3,
) -> NextEventSplit:
    """Hold out the last item of every long session; test on a seeded sample of them.

    Parameters
    ----------
    sessions : Sessions
    n_test : number of test sessions; overrides ``test_fraction``.
    test_fraction : share of the eligible sessions drawn as the test set (at least 1).
    seed : seed of the draw.
    min_length : sessions with fewer items stay whole in ``train`` and are never tested.
    """
    check_int("min_length", min_length, 2)
    train, eligible, last = _strip_last(sessions, min_length)
    if len(eligible) == 0:
        raise DataError(
            f"no session has >= {min_length} items; the next-event protocol needs "
            f"sessions of length >= {min_length}"
        )
    pick = _draw(len(eligible), n_test, test_fraction, seed, "test")
    items = sessions.items
    return NextEventSplit(
        train, items[last[pick] - 1], items[last[pick]], eligible[pick], seed, min_length
    )


def validation_pool(split: NextEventSplit, events: int = 1) -> np.ndarray:
    """Sessions of ``split.train`` that :func:`validation_split` may draw, ascending: those
    outside the test set with at least ``min_length + events - 1`` items."""
    pool = np.flatnonzero(split.train.lengths >= split.min_length + events - 1)
    return pool[~np.isin(pool, split.test_sessions)]


def validation_split(
    split: NextEventSplit,
    *,
    n_valid: int | None = None,
    valid_fraction: float = 0.1,
    seed: int | None = None,
    events: int = 1,
) -> NextEventSplit:
    """Carve a validation split out of ``split.train`` the same way, disjoint from the test.

    Every session of ``split.train`` with >= ``min_length`` items loses its last item again;
    the validation sessions are drawn among those that are *not* test sessions. Tune on the
    returned split, then refit on ``split.train`` and report on ``split``.

    Parameters
    ----------
    split : NextEventSplit
    n_valid, valid_fraction : number (or share) of validation *sessions*, drawn as
        ``n_test``/``test_fraction``.
    seed : seed of the draw; ``split.seed`` when None.
    events : held-out events per validation session. With ``events=m`` each validation
        session loses its last ``m`` items and gives ``m`` cases (the item before each held-out
        item predicts it), so it needs ``min_length + m - 1`` items; ``test_sessions`` then
        repeats each session ``m`` times. More cases per session lower the noise of the
        validation metric when the sessions available are few.
    """
    check_int("events", events, 1)
    lengths = split.train.lengths
    need = split.min_length + events - 1
    pool = validation_pool(split, events)
    if len(pool) == 0:
        extra = "" if events == 1 else f" (min_length {split.min_length} + events {events} - 1)"
        raise DataError(f"no session outside the test set has >= {need} items{extra}; the "
                        f"validation split needs one")  # fmt: skip
    seed = split.seed if seed is None else seed
    pick = pool[_draw(len(pool), n_valid, valid_fraction, seed, "valid")]
    drop = (lengths >= split.min_length).astype(np.int64)
    drop[pick] = events
    pos = (split.train.offsets[pick + 1, None] - events + np.arange(events)).ravel()
    items = split.train.items
    return NextEventSplit(
        _strip(split.train, drop), items[pos - 1], items[pos], np.repeat(pick, events),
        seed, split.min_length,
    )  # fmt: skip


# ----------------------------------------------------------------------------- metrics
def _check_k(k: Any, name: str = "k") -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise ParameterError(f"{name} must be an integer >= 1, got {k!r}")
    if k < 1:
        raise ParameterError(f"{name} must be >= 1, got {k}")
    return int(k)


def _check_ks(ks: Sequence[int]) -> tuple[int, ...]:
    ks = (ks,) if isinstance(ks, int | np.integer) else tuple(ks)
    if not ks:
        raise ParameterError("ks must name at least one cutoff, got ()")
    return tuple(sorted({_check_k(k) for k in ks}))


def _rows(name: str, values: Any, n: int | None = None, n_items: int | None = None) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise ParameterError(f"{name} must be a 1-D integer array of rows, got shape {arr.shape}")
    if n is not None and len(arr) != n:
        raise ParameterError(f"{name} has {len(arr)} entries, expected {n} (one per case)")
    if n_items is not None and arr.size and (arr.min() < 0 or arr.max() >= n_items):
        bad = arr[(arr < 0) | (arr >= n_items)][0]
        raise ParameterError(f"{name} must be vocabulary rows in [0, {n_items}), got {bad}")
    return arr.astype(np.int64)


def answer_ranks(
    ranked: np.ndarray, answers: np.ndarray, queries: np.ndarray | None = None
) -> np.ndarray:
    """1-based rank of each answer in its list, 0 when absent; shape (n,).

    ``ranked`` is (n, k); where ``queries`` is given and equals the answer, the rank is 1.
    """
    ranked = np.asarray(ranked)
    if ranked.ndim != 2:
        raise ParameterError(f"ranked must be 2-D (n_cases, k), got shape {ranked.shape}")
    answers = _rows("answers", answers, len(ranked))
    if len(answers) == 0:
        raise DataError("no test cases: answers is empty")
    hit = ranked == answers[:, None]
    ranks = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, 0)
    if queries is not None:
        ranks[_rows("queries", queries, len(ranked)) == answers] = 1
    return ranks


def case_metrics(ranks: np.ndarray, ks: Sequence[int] = (10, 20)) -> dict[str, np.ndarray]:
    """Per-case ``HR@K``, ``NDCG@K`` and ``MRR`` (cut at max K) from ranks; each (n,)."""
    ks = _check_ks(ks)
    ranks = np.asarray(ranks)
    found = ranks >= 1
    gain = np.where(found, 1.0 / np.log2(np.maximum(ranks, 1) + 1.0), 0.0)
    out: dict[str, np.ndarray] = {}
    for k in ks:
        in_k = found & (ranks <= k)
        out[f"HR@{k}"] = in_k.astype(np.float64)
        out[f"NDCG@{k}"] = np.where(in_k, gain, 0.0)
    in_max = found & (ranks <= ks[-1])
    out["MRR"] = np.where(in_max, 1.0 / np.maximum(ranks, 1), 0.0)
    return out


def rank_metrics(
    ranked: np.ndarray,
    answers: np.ndarray,
    ks: Sequence[int] = (10, 20),
    queries: np.ndarray | None = None,
    n_items: int | None = None,
) -> dict[str, float]:
    """Mean HR@K, NDCG@K (binary relevance, 1/log2(rank+1)), MRR within the largest K.

    Parameters
    ----------
    ranked : int array, shape (n, >= max(ks)); recommended rows, best first; -1 = empty.
    answers : int array, shape (n,).
    ks : cutoffs.
    queries : int array, shape (n,), optional; a query equal to its answer is a hit at rank 1.
    n_items : catalogue size; adds ``coverage@K``, the share of it in any top-K list.

    Returns
    -------
    dict with ``HR@K``, ``NDCG@K`` per K, ``MRR``, ``coverage@K`` and ``n_cases``.
    """
    return _metrics(ranked, answers, ks, queries, n_items)[0]


def _metrics(
    ranked: np.ndarray,
    answers: np.ndarray,
    ks: Sequence[int],
    queries: np.ndarray | None,
    n_items: int | None,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    ks = _check_ks(ks)
    ranked = np.asarray(ranked)
    if ranked.ndim != 2 or ranked.shape[1] < ks[-1] or ranked.dtype.kind not in "iu":
        raise ParameterError(
            f"ranked must be an integer array of shape (n_cases, >= {ks[-1]}), "
            f"got {ranked.dtype} {ranked.shape}"
        )
    ranked = ranked[:, : ks[-1]]
    cases = case_metrics(answer_ranks(ranked, answers, queries), ks)
    out = {name: float(v.mean()) for name, v in cases.items()}
    if n_items is not None:
        check_int("n_items", n_items, 1)
        for k in ks:
            top = ranked[:, :k]
            out[f"coverage@{k}"] = len(np.unique(top[top >= 0])) / n_items
    out["n_cases"] = len(ranked)
    return out, cases


# ----------------------------------------------------------------------------- baselines
def _popular_order(train: Sessions) -> np.ndarray:
    """Rows seen in ``train`` by descending count (ties: lower row first); (n_seen,)."""
    counts = np.bincount(train.items, minlength=len(train.vocabulary))
    seen = np.flatnonzero(counts)
    return seen[np.argsort(-counts[seen], kind="stable")].astype(np.int32)


def _backfill(out: np.ndarray, queries: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Fill the trailing -1 slots of ``out`` (n, k) in place with the first items of
    ``order`` that are neither the query nor already listed."""
    n, k = out.shape
    filled = (out >= 0).sum(axis=1)
    if n == 0 or (filled == k).all():
        return out
    cand = np.full(k + 1, -1, np.int32)  # k+1 candidates always suffice
    cand[: min(k + 1, len(order))] = order[: k + 1]
    step = max(1, 2**24 // ((k + 1) * k))
    for s in range(0, n, step):
        o, q = out[s : s + step], queries[s : s + step]
        c = np.broadcast_to(cand, (len(o), k + 1))
        ok = (c >= 0) & (c != q[:, None]) & ~(c[:, :, None] == o[:, None, :]).any(axis=2)
        col = filled[s : s + step, None] + np.cumsum(ok, axis=1) - 1
        r, j = np.nonzero(ok & (col < k))
        o[r, col[r, j]] = c[r, j]
    return out


def popularity(train: Sessions) -> Recommender:
    """Most frequent items of ``train`` (by train counts), the query item excluded."""
    order, n_items = _popular_order(train), len(train.vocabulary)

    def recommend(queries: np.ndarray, k: int) -> np.ndarray:
        q, k = _rows("queries", queries, n_items=n_items), _check_k(k)
        return _backfill(np.full((len(q), k), -1, np.int32), q, order)

    return recommend


def transitions(train: Sessions) -> Recommender:
    """Item-to-item transition counts: after ``a``, the items most often seen next.

    Counts consecutive pairs a -> b within sessions (never across two; a == b skipped),
    stored CSR-style by ``a`` (numpy only). Ties go to the more popular item; lists shorter
    than ``k`` are backfilled with popularity; the query is never recommended.
    """
    return _pair_counts(train, window=1, symmetric=False)


def cooccurrence(train: Sessions, window: int = 1) -> Recommender:
    """Neighbour counts in both directions: the items most often seen within ``window``
    places of ``a`` (before or after it), a pair at distance ``d`` counting ``1 / d``.

    :func:`transitions` without the order. As there: within sessions only, ``a == b``
    skipped, ties to the more popular item, popularity backfill, never the query.
    """
    return _pair_counts(train, window=check_int("window", window, 1), symmetric=True)


#: The simple baselines every report puts beside item2vec: name -> ``fn(train) -> recommender``.
BASELINES: dict[str, Callable[[Sessions], Recommender]] = {
    "transitions": transitions,
    "co-occurrence": cooccurrence,
    "popularity": popularity,
}


def _pair_counts(train: Sessions, window: int, symmetric: bool) -> Recommender:
    items, n_items = train.items, len(train.vocabulary)
    pop = _popular_order(train)
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
    pop_rank = np.full(n_items, n_items, np.int64)
    pop_rank[pop] = np.arange(len(pop))
    order = np.lexsort((pop_rank[dst], -counts, src))
    succ = dst[order].astype(np.int32)
    indptr = np.zeros(n_items + 1, np.int64)
    np.cumsum(np.bincount(src, minlength=n_items), out=indptr[1:])

    def recommend(queries: np.ndarray, k: int) -> np.ndarray:
        q, k = _rows("queries", queries, n_items=n_items), _check_k(k)
        start = indptr[q]
        length = np.minimum(indptr[q + 1] - start, k)
        col = np.arange(k)
        idx = np.minimum(start[:, None] + col, max(len(succ) - 1, 0))
        src_vals = succ[idx] if len(succ) else np.zeros(idx.shape, np.int32)
        out = np.where(col < length[:, None], src_vals, -1).astype(np.int32)
        return _backfill(out, q, pop)

    return recommend


def vector_recommender(
    vectors: np.ndarray,
    *,
    biases: np.ndarray | None = None,
    targets: np.ndarray | None = None,
    exclude_query: bool = True,
    known: np.ndarray | None = None,
    fallback: np.ndarray | None = None,
    chunk_size: int | None = None,
) -> Recommender:
    """Best rows by cosine similarity (or by ``dot + bias``), with batched matrix products
    and argpartition.

    Parameters
    ----------
    vectors : float array, shape (n_items, dim); row i is the vector of vocabulary row i.
    biases : float array, shape (n_items,), optional; if given, candidates ``t`` of query
        ``q`` are ranked by ``vectors[q] . vectors[t] + biases[t]`` (unnormalised) instead of
        by cosine.
    targets : float array, shape (n_items, dim), optional, with ``biases``: a separate
        output table; candidates are ranked by ``vectors[q] . targets[t] + biases[t]``.
    exclude_query : never return the query row itself.
    known : bool array, shape (n_items,), optional; rows that may be returned and queried
        (rows with a zero vector are always unknown). Unknown queries get no neighbours.
    fallback : int array of rows, optional; fills lists shorter than ``k`` (e.g. popularity).
    chunk_size : queries per matrix product; default keeps a chunk's scores near 128 MiB.
    """
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim != 2 or len(v) == 0:
        raise ParameterError(f"vectors must have shape (n_items, dim), got {v.shape}")
    n_items = len(v)
    norms = np.linalg.norm(v, axis=1)
    ok = norms > 0
    if known is not None:
        known = np.asarray(known, dtype=bool)
        if known.shape != (n_items,):
            raise ParameterError(f"known must have shape ({n_items},), got {known.shape}")
        ok &= known
    if biases is None:
        unit = np.where(ok[:, None], v / np.where(ok, norms, 1)[:, None], 0).astype(np.float32)
        mask = np.where(ok, 0, -np.inf).astype(np.float32)
    else:
        bias = np.asarray(biases, dtype=np.float32)
        if bias.shape != (n_items,) or not np.isfinite(bias).all():
            raise ParameterError(
                f"biases must be finite with shape ({n_items},), got shape {bias.shape}"
            )
        unit, mask = v, np.where(ok, bias, -np.inf).astype(np.float32)
    out_table = unit
    if targets is not None:
        out_table = np.asarray(targets, dtype=np.float32)
        if biases is None or out_table.shape != v.shape:
            raise ParameterError(
                f"targets needs biases and the shape of vectors {v.shape}, got "
                f"{out_table.shape}" + ("" if biases is not None else " without biases")
            )
    step = chunk_size or max(1, 2**25 // n_items)

    def recommend(queries: np.ndarray, k: int) -> np.ndarray:
        q, k = _rows("queries", queries, n_items=n_items), _check_k(k)
        kk = min(k, n_items)
        out = np.full((len(q), k), -1, np.int32)
        for s in range(0, len(q), step):
            qs = q[s : s + step]
            sims = unit[qs] @ out_table.T + mask
            sims[~ok[qs]] = -np.inf
            if exclude_query:
                sims[np.arange(len(qs)), qs] = -np.inf
            if kk < n_items:
                top = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
            else:
                top = np.broadcast_to(np.arange(n_items), sims.shape)
            score = np.take_along_axis(sims, top, axis=1)
            by = np.argsort(-score, axis=1, kind="stable")
            top, score = np.take_along_axis(top, by, 1), np.take_along_axis(score, by, 1)
            out[s : s + len(qs), :kk] = np.where(np.isfinite(score), top, -1)
        return out if fallback is None else _backfill(out, q, np.asarray(fallback))

    return recommend


RANKINGS = ("cosine", "logit", "log_prob")


def check_ranking(ranking: Any, allowed: Sequence[str] = RANKINGS) -> str:
    if ranking not in allowed:
        raise ParameterError(f"ranking must be one of {tuple(allowed)}, got {ranking!r}")
    return ranking


def model_recommender(model: Any, train: Sessions, ranking: str = "log_prob") -> Recommender:
    """A fitted :class:`~item2vec.Item2Vec` as a recommender over ``train``'s rows.

    ``ranking``: ``"cosine"`` (what :meth:`~item2vec.Item2Vec.similar` returns),
    ``"logit"`` (``E[q] . E[t] + b[t]``, the trained score) or ``"log_prob"`` (the logit
    plus :func:`item2vec.sampling.log_prior`, an estimate of ``log P(t | q)``; what
    ``Item2Vec.recommend(..., score="log_prob")`` returns). Rows the model does not know
    (unseen in ``train``, or dropped by ``min_count``) get no candidates and are never
    recommended.
    """
    check_ranking(ranking)
    n = len(train.vocabulary)
    vectors, biases = model.item_vectors_, model.item_biases_
    if ranking == "log_prob":
        biases = biases + model.item_log_prior_
    if model.vocabulary_ is not train.vocabulary:  # min_count, or a model saved elsewhere
        rows = train.vocabulary.encode(model.vocabulary_.ids.tolist(), missing="ignore")
        mine = rows >= 0
        vectors = _scatter(vectors[mine], rows[mine], n)
        biases = _scatter(biases[mine], rows[mine], n)
    known = train.vocabulary.counts > 0  # rows left at zero are unknown too
    return vector_recommender(vectors, biases=None if ranking == "cosine" else biases, known=known)


def _scatter(values: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((n, *values.shape[1:]), values.dtype)
    out[rows] = values
    return out


def gensim_recommender(
    train: Sessions,
    *,
    dim: int = 64,
    window: int = 5,
    negatives: int = 5,
    ns_exponent: float = 0.75,
    sample: float = 1e-3,
    epochs: int = 5,
    min_count: int = 1,
    workers: int = 2,
    seed: int = 0,
    sg: int = 1,
    ranking: str = "cosine",
) -> tuple[Recommender, Any]:
    """Train gensim ``Word2Vec(sg=1, hs=0, ...)`` on ``train``; recommend cosine neighbours.

    Items are the strings of their row numbers. Items gensim dropped (``min_count``) are
    never returned; short lists (and queries gensim does not know) are backfilled with
    popularity over the known items. ``ranking="log_prob"`` ranks by gensim's own trained
    score, ``wv[q] . syn1neg[t]``, plus :func:`item2vec.sampling.log_prior` (the ranking
    item2vec's ``"log_prob"`` uses, with gensim's separate output table and no bias).
    Returns ``(recommender, model)``.
    """
    check_ranking(ranking, ("cosine", "log_prob"))
    try:
        from gensim.models import Word2Vec
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("gensim is not installed: pip install 'item2vec[bench]'") from e
    sizes = dict(dim=dim, window=window, epochs=epochs, min_count=min_count, workers=workers)
    for name, val in sizes.items():
        check_int(name, val, 1)
    check_int("negatives", negatives, 0)
    words = train.items.astype(str).tolist()
    o = train.offsets.tolist()
    sentences = [words[o[i] : o[i + 1]] for i in range(len(train)) if o[i + 1] > o[i]]
    if not sentences:
        raise DataError("the training corpus is empty: no sessions to train gensim on")
    model = Word2Vec(
        sentences=sentences,
        vector_size=dim,
        window=window,
        negative=negatives,
        hs=0,
        ns_exponent=ns_exponent,
        sample=sample,
        epochs=epochs,
        min_count=min_count,
        workers=workers,
        seed=seed,
        sg=sg,
    )
    return gensim_model_recommender(model, train, ranking), model


def gensim_model_recommender(model: Any, train: Sessions, ranking: str = "cosine") -> Recommender:
    """A gensim ``Word2Vec`` trained on ``train`` (items named by their row numbers, as
    :func:`gensim_recommender` does) as a recommender; ``ranking`` as there."""
    check_ranking(ranking, ("cosine", "log_prob"))
    rows = np.asarray([int(w) for w in model.wv.index_to_key], dtype=np.int64)
    vectors = np.zeros((len(train.vocabulary), model.wv.vector_size), np.float32)
    vectors[rows] = model.wv.vectors
    known = np.zeros(len(vectors), dtype=bool)
    known[rows] = True
    pop = _popular_order(train)
    if ranking == "cosine":
        return vector_recommender(vectors, known=known, fallback=pop[known[pop]])
    from .sampling import log_prior

    out = np.zeros_like(vectors)
    out[rows] = model.syn1neg
    prior = log_prior(train.vocabulary.counts, model.ns_exponent, model.sample)
    return vector_recommender(vectors, biases=prior, targets=out, known=known,
                              fallback=pop[known[pop]])  # fmt: skip


# ----------------------------------------------------------------------------- evaluation
def _evaluate(
    recommend: Recommender, split: NextEventSplit, ks: Sequence[int]
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    ks = _check_ks(ks)
    n = len(split)
    if n == 0:
        raise DataError("the split has no test cases")
    ranked = np.asarray(recommend(split.queries, ks[-1]))
    if ranked.ndim != 2 or ranked.shape[0] != n or ranked.shape[1] < ks[-1]:
        raise ParameterError(
            f"recommend returned shape {ranked.shape} for {n} queries and k={ks[-1]}; "
            f"expected ({n}, {ks[-1]})"
        )
    return _metrics(ranked, split.answers, ks, split.queries, len(split.train.vocabulary))


def evaluate(
    recommend: Recommender, split: NextEventSplit, ks: Sequence[int] = (10, 20)
) -> dict[str, float]:
    """Metrics of ``recommend`` on ``split`` (one batched call with all queries).

    Returns :func:`rank_metrics` output, with coverage over the split's vocabulary.
    """
    return _evaluate(recommend, split, ks)[0]


def _t_quantile(p: float, dof: int) -> float:
    """Quantile of Student's t (no scipy): with t = sqrt(dof) tan(u), the CDF is
    1/2 + c * integral_0^u cos(x)^(dof-1) dx, tabulated on a fine grid and inverted."""
    u = np.linspace(0.0, np.pi / 2, 200_001)
    f = np.cos(u) ** (dof - 1)
    cdf = np.concatenate([[0.0], np.cumsum((f[1:] + f[:-1]) / 2) * (u[1] - u[0])])
    c = math.exp(math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2)) / math.sqrt(math.pi)
    return float(math.sqrt(dof) * math.tan(np.interp(p - 0.5, c * cdf, u)))


def t_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean of ``values`` (n >= 2), e.g. one per seed."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or len(v) < 2:
        raise ParameterError(f"values must be 1-D with >= 2 entries, got shape {v.shape}")
    if not 0 < level < 1:
        raise ParameterError(f"level must be in (0, 1), got {level!r}")
    half = _t_quantile((1 + level) / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return float(v.mean() - half), float(v.mean() + half)


def bootstrap_interval(
    values: np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-case ``values`` (n,)."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or len(v) == 0:
        raise ParameterError(f"values must be 1-D and non-empty, got shape {v.shape}")
    check_int("n_boot", n_boot, 1)
    if not 0 < level < 1:
        raise ParameterError(f"level must be in (0, 1), got {level!r}")
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    step = max(1, 2**22 // len(v))
    for s in range(0, n_boot, step):
        b = min(step, n_boot - s)
        means[s : s + b] = v[rng.integers(0, len(v), size=(b, len(v)))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def _accepts_seed(fn: Callable) -> bool:
    try:
        return "seed" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def evaluate_seeds(
    make_recommender: Callable[..., Recommender],
    sessions: Sessions,
    seeds: Sequence[int] = (0, 1, 2),
    *,
    ks: Sequence[int] = (10, 20),
    n_test: int | None = None,
    test_fraction: float = 0.1,
    min_length: int = 3,
    level: float = 0.95,
    n_boot: int = 1000,
) -> dict[str, Any]:
    """Split, fit and evaluate once per seed; mean and interval of every metric.

    Parameters
    ----------
    make_recommender : ``f(train) -> recommender``; if it has a ``seed`` parameter it also
        receives the seed (so model randomness varies with it).
    sessions, seeds, ks, n_test, test_fraction, min_length : see :func:`next_event_split`.
    level : confidence level of the intervals.
    n_boot : bootstrap resamples, used when there is a single seed.

    Returns
    -------
    dict: for each metric ``m``, ``m`` (mean over seeds), ``"m low"``, ``"m high"``; plus
    ``n_cases`` (per seed), ``n_seeds`` and ``interval`` (``"t over seeds"`` with >= 2 seeds,
    else ``"bootstrap over cases"``; coverage gets no bootstrap, its interval is the value).
    """
    seeds = _check_seeds(seeds)
    split_kw = dict(n_test=n_test, test_fraction=test_fraction, min_length=min_length)
    return _summary(
        *_seed_runs(make_recommender, sessions, seeds, ks, split_kw), seeds, level, n_boot
    )


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    seeds = list(seeds)
    if not seeds:
        raise ParameterError("seeds must name at least one seed, got ()")
    return seeds


def _seed_runs(
    make_recommender: Callable[..., Recommender],
    sessions: Sessions,
    seeds: list[int],
    ks: Sequence[int],
    split_kw: dict[str, Any],
) -> tuple[list[dict[str, float]], dict[str, np.ndarray]]:
    """Metrics of every seed's split, and the per-case values of the last one."""
    per_seed, cases = [], {}
    for seed in seeds:
        split = next_event_split(sessions, seed=seed, **split_kw)
        kw = {"seed": seed} if _accepts_seed(make_recommender) else {}
        metrics, cases = _evaluate(make_recommender(split.train, **kw), split, ks)
        per_seed.append(metrics)
    return per_seed, cases


def _summary(
    per_seed: list[dict[str, float]],
    cases: dict[str, np.ndarray],
    seeds: list[int],
    level: float,
    n_boot: int,
) -> dict[str, Any]:
    """Mean and interval of each metric: t over seeds, or a bootstrap over the cases."""
    out: dict[str, Any] = {}
    for name in (m for m in per_seed[0] if m != "n_cases"):
        vals = np.array([m[name] for m in per_seed])
        if len(seeds) >= 2:
            lo, hi = t_interval(vals, level)
        elif name in cases:
            lo, hi = bootstrap_interval(cases[name], n_boot, seeds[0], level)
        else:
            lo = hi = float(vals[0])
        out.update({name: float(vals.mean()), f"{name} low": lo, f"{name} high": hi})
    out["n_cases"] = per_seed[0]["n_cases"]
    out["n_seeds"] = len(seeds)
    out["interval"] = "t over seeds" if len(seeds) >= 2 else "bootstrap over cases"
    return out


def results_table(results: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Rows = method, columns = metric means, ``"<metric> low"``/``"high"`` and counts."""
    return pd.DataFrame.from_dict({k: dict(v) for k, v in results.items()}, orient="index")


def compare(
    methods: Mapping[str, Callable[..., Recommender]],
    sessions: Sessions,
    seeds: Sequence[int] = (0, 1, 2),
    *,
    reference: str | None = None,
    **kwargs: Any,
) -> pd.DataFrame:
    """:func:`evaluate_seeds` for each named method on the same splits (``kwargs``: its
    keyword arguments, ``ks``, ``n_test``, ``level``, ...); a :func:`results_table`.

    With ``reference`` (one of the names), every other row also gets ``"<m> diff"``,
    ``"<m> diff low"`` and ``"<m> diff high"`` for each per-case metric ``m`` (HR, NDCG,
    MRR): the paired difference *row minus reference*, split by split. Its interval is a t
    interval over the per-seed differences (>= 2 seeds) or a bootstrap over the per-case
    differences (one seed), so the variance the methods share through the test customers
    cancels: this, not two overlapping per-method intervals, says whether one method beats
    another. The reference row holds NaN there.
    """
    if reference is not None and reference not in methods:
        raise ParameterError(
            f"reference must be one of the methods ({', '.join(map(repr, methods))}), "
            f"got {reference!r}"
        )
    bound = inspect.signature(evaluate_seeds).bind_partial(seeds=seeds, **kwargs)
    bound.apply_defaults()  # evaluate_seeds' defaults, kept in one place
    opts = bound.arguments
    seeds, level, n_boot = _check_seeds(opts["seeds"]), opts["level"], opts["n_boot"]
    split_kw = {k: opts[k] for k in ("n_test", "test_fraction", "min_length")}
    runs = {
        name: _seed_runs(f, sessions, seeds, opts["ks"], split_kw) for name, f in methods.items()
    }
    rows = {name: _summary(*run, seeds, level, n_boot) for name, run in runs.items()}
    if reference is not None:
        ref_seeds, ref_cases = runs[reference]
        for name, (per_seed, cases) in runs.items():
            diff_seeds = [{m: a[m] - b[m] for m in cases} | {"n_cases": a["n_cases"]}
                          for a, b in zip(per_seed, ref_seeds, strict=True)]  # fmt: skip
            diff_cases = {m: cases[m] - ref_cases[m] for m in cases}
            diff = _summary(diff_seeds, diff_cases, seeds, level, n_boot)
            for m in cases:
                for suffix in ("", " low", " high"):
                    rows[name][f"{m} diff{suffix}"] = (
                        np.nan if name == reference else diff[m + suffix]
                    )
    return results_table(rows)


def format_table(
    table: pd.DataFrame,
    metrics: Sequence[str] | None = None,
    digits: int = 3,
    markdown: bool = False,
) -> str:
    """Text (or Markdown) table with cells such as ``0.123 ± 0.004`` (mean ± half interval)."""
    if metrics is None:
        metrics = [c for c in table.columns if f"{c} low" in table.columns]
    missing = [m for m in metrics if m not in table.columns]
    if missing:
        raise ParameterError(f"metrics not in the table: {missing}")
    cells = pd.DataFrame(index=table.index)
    for m in metrics:
        half = (table[f"{m} high"] - table[f"{m} low"]) / 2 if f"{m} low" in table else None
        cells[m] = [
            "-"
            if np.isnan(v)
            else f"{v:.{digits}f}" + ("" if half is None else f" ± {h:.{digits}f}")
            for v, h in zip(table[m], half if half is not None else table[m], strict=True)
        ]
    if "n_cases" in table:
        cells["cases"] = table["n_cases"].astype(int).astype(str)
    if not markdown:
        return cells.to_string()
    head = ["method", *cells.columns]
    rows = [[str(i), *map(str, r)] for i, r in zip(cells.index, cells.to_numpy(), strict=True)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
