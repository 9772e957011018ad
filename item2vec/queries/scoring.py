"""Top-k over vectors in numpy, and the next-item scores: the engine of the vector recommenders.

A *recommender* is any callable ``fn(queries, k) -> ranked`` taking query rows of shape
``(n,)`` and returning an int array of shape ``(n, k)`` of rows, best first, padded with
``-1`` where fewer than ``k`` candidates exist (:data:`Recommender`). The recommenders of
the package answer a whole batch with array operations (no per-query search).

The scores (:data:`item2vec.checks.SCORES`) of a query row ``q`` and a candidate ``t``:

- ``"cosine"``: cosine of ``E[q]`` and ``E[t]`` (what ``Item2Vec.similar`` ranks by);
- ``"logit"``: ``E[q] . E[t] + b[t]``, the trained score;
- ``"log_prob"``: the logit plus the per-item log prior of
  :func:`item2vec.sampling.log_prior`, an estimate of ``log P(t | q)`` up to a constant;
- ``"blend"``: the observed neighbour counts of ``q`` (:func:`item2vec.queries.counts.next_counts`)
  smoothed towards the model: ``P(t | q) = (C[q, t] + a P_model(t | q)) / (C[q] + a)``, with
  ``P_model`` the softmax of the log_prob scores over all items and ``a =``
  :data:`PRIOR_EVENTS` pseudo-events (a Dirichlet prior). Where ``q`` has been seen next to
  many items the counts speak; where it has few neighbours, the embedding fills in.

**Histories.** Queries may also be a 2-D array of histories, ``(n, N)`` rows oldest first,
padded with ``-1`` on the left. ``log_prob`` and ``blend`` then rank by the mixture
``P(t | h) = sum_j w_j P(t | h_j)`` of the per-item distributions, with recency weights
``w_j`` proportional to ``RECENCY ** age`` (age 0 for the newest item; :func:`recency_weights`);
``cosine`` and ``logit`` by the same weighted sum of per-item scores, which is the score of
one query vector ``q = sum_j w_j E[h_j]`` (unit rows for ``cosine``), so that an index answers
them. Every history item is left out of the list. A history of one item ranks as that item
does. The exhaustive scores of every item are :func:`history_scores`; the query engine
(:mod:`item2vec.queries.recommend`) computes the same on a candidate set.

:func:`score_biases` is the one place that turns a score name into the per-item term added
to the inner product; :func:`score_recommender` builds the recommender that ranks by it.
``Item2Vec.recommend`` (FAISS, :class:`~item2vec.queries.index.ItemIndex`) and the evaluation
recommenders (numpy, :func:`vector_recommender`) both use it, so they rank alike.
:data:`MIXTURES` are the scores ranked by a mixture of distributions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..arrays import check_rows, normalise
from ..checks import SCORES, check_choice, check_k
from ..exceptions import ParameterError

__all__ = [
    "MIXTURES",
    "PRIOR_EVENTS",
    "RECENCY",
    "Recommender",
    "check_histories",
    "recency_weights",
    "history_scores",
    "exclude_histories",
    "backfill",
    "vector_recommender",
    "check_score",
    "score_biases",
    "score_recommender",
]

Recommender = Callable[[np.ndarray, int], np.ndarray]
"""``fn(queries, k) -> ranked (n, k)``: rows best first, ``-1`` padding. ``queries`` is
``(n,)`` query rows, or ``(n, N)`` histories (oldest first, ``-1`` padding on the left) whose
items are all left out of the lists."""

RECENCY = 0.5
"""Weight of a history item relative to the next newer one: each step back halves it."""
MIXTURES = ("log_prob", "blend")
"""The scores that rank a history by the mixture of its items' next-item distributions."""
PRIOR_EVENTS = 10.0
"""Strength of the model's prior in the ``"blend"`` score, in pseudo-events of neighbour counts."""


def check_histories(name: str, values: Any, n_items: int) -> np.ndarray:
    """Histories as an ``(n, N)`` int64 array of rows in ``[0, n_items)`` or ``-1`` (padding).

    A 1-D array is ``n`` histories of one item. Every history must hold at least one row.
    """
    arr = np.asarray(values)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] == 0 or (arr.size and arr.dtype.kind not in "iu"):
        raise ParameterError(
            f"{name} must be rows of shape (n,) or histories of shape (n, N), got {arr.shape}"
        )
    if arr.size and (arr.min() < -1 or arr.max() >= n_items):
        bad = arr[(arr < -1) | (arr >= n_items)][0]
        raise ParameterError(f"{name} must be vocabulary rows in [0, {n_items}) or -1, got {bad}")
    if len(arr) and not (arr >= 0).any(axis=1).all():
        raise ParameterError(f"{name}: every history needs at least one item, got an empty one")
    return arr.astype(np.int64)


def recency_weights(histories: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Mixture weights of ``(n, N)`` histories: ``RECENCY ** age`` over the valid entries
    (``histories >= 0``, or ``valid``), age counted back from the newest valid one; each row
    sums to 1 (all zeros where no entry is valid)."""
    ok = histories >= 0 if valid is None else valid
    age = np.cumsum(ok[:, ::-1], axis=1)[:, ::-1] - 1  # valid entries after this one
    w = np.where(ok, RECENCY ** np.maximum(age, 0), 0.0)
    total = w.sum(axis=1, keepdims=True)
    return np.divide(w, total, out=np.zeros_like(w), where=total > 0)


def history_scores(
    histories: np.ndarray,
    vectors: np.ndarray,
    biases: np.ndarray | None,
    *,
    known: np.ndarray,
    targets: np.ndarray | None = None,
    counts: Any = None,
    prior_events: float = PRIOR_EVENTS,
    mixture: bool | None = None,
) -> np.ndarray:
    """Scores of every item after each history: float64 ``(n, n_items)``, ``-inf`` where an
    item is unknown. History entries that are ``-1`` or unknown are skipped.

    Parameters
    ----------
    histories : int64 (n, N), rows oldest first, ``-1`` padding (:func:`check_histories`)
    vectors : float32 (n_items, dim); unit rows for the cosine score
    biases : float32 (n_items,) or None
        The per-item term of the score (:func:`score_biases`); ``None`` ranks by cosine,
        by the recency-weighted sum of per-item scores. With biases the per-item scores are
        turned into distributions (a softmax over the known items) and mixed.
    known : bool (n_items,)
    targets : float32 (n_items, dim), optional: a separate output table for the candidates.
    counts : scipy.sparse CSR (n_items, n_items), optional
        Neighbour counts: the ``"blend"`` score (needs ``biases``).
    prior_events : the blend's prior strength ``a``.
    mixture : rank by the mixture of the per-item softmax distributions (``log_prob``,
        ``blend``) rather than by the weighted sum of per-item scores (``cosine``,
        ``logit``); default: a mixture when ``biases`` are given.
    """
    mixture = biases is not None if mixture is None else mixture
    valid = (histories >= 0) & known[np.maximum(histories, 0)]
    w = recency_weights(histories, valid)
    rows = np.maximum(histories, 0)
    mask = np.where(known, 0.0, -np.inf)
    out_table = vectors if targets is None else targets
    # one 2-D product (BLAS); numpy's stacked 3-D matmul is ~30x slower here
    s = (vectors[rows.ravel()] @ out_table.T).reshape(*rows.shape, -1).astype(np.float64)
    if not mixture:
        out = np.einsum("hn,hnm->hm", w, s) + mask
        if biases is not None:
            out += biases
    else:
        s += biases.astype(np.float64) + mask
        s -= s.max(axis=2, keepdims=True)
        p = np.exp(s)
        p /= p.sum(axis=2, keepdims=True)
        if counts is not None:
            c = counts[rows.ravel()].toarray().reshape(p.shape)
            p = (c + prior_events * p) / (c.sum(axis=2, keepdims=True) + prior_events)
        with np.errstate(divide="ignore"):
            out = np.log(np.einsum("hn,hnm->hm", w, p)) + mask
    out[~valid.any(axis=1)] = -np.inf  # nothing known in the history: no candidates
    return out


def check_score(score: Any, allowed: tuple[str, ...] = SCORES, name: str = "score") -> str:
    """``score`` if it is one of ``allowed`` (default :data:`~item2vec.checks.SCORES`).

    ``name`` is the parameter named in the error (``"ranking"`` for the evaluation API).
    """
    return check_choice(name, score, allowed)


def score_biases(biases: np.ndarray, log_prior: np.ndarray, score: str) -> np.ndarray | None:
    """The per-item term added to ``E[q] . E[t]`` to rank by ``score``.

    Parameters
    ----------
    biases : float32 array (n_items,)
        The trained biases ``b``.
    log_prior : float32 array (n_items,)
        :func:`item2vec.sampling.log_prior` of the training counts.
    score : one of :data:`~item2vec.checks.SCORES`

    Returns
    -------
    None for ``"cosine"`` (no bias: vectors are compared by cosine), ``biases`` for
    ``"logit"``, ``biases + log_prior`` for ``"log_prob"`` and ``"blend"`` (whose model part
    is the log_prob distribution).
    """
    check_score(score)
    if score == "cosine":
        return None
    return biases if score == "logit" else biases + log_prior


def score_recommender(
    vectors: np.ndarray,
    biases: np.ndarray,
    log_prior: np.ndarray,
    score: str = "log_prob",
    *,
    known: np.ndarray | None = None,
    counts: Any = None,
) -> Recommender:
    """A :func:`vector_recommender` ranking by ``score`` (see :func:`score_biases`).

    Parameters
    ----------
    vectors : float array (n_items, dim)
    biases, log_prior : float arrays (n_items,)
    score : one of :data:`~item2vec.checks.SCORES`
    known : bool array (n_items,), optional; rows that may be queried and returned.
    counts : scipy.sparse CSR (n_items, n_items): the neighbour counts ``"blend"`` needs.
    """
    if score == "blend" and counts is None:
        raise ParameterError("score='blend' needs the neighbour counts (counts=...)")
    return vector_recommender(
        vectors,
        biases=score_biases(biases, log_prior, score),
        known=known,
        counts=counts if score == "blend" else None,
        mixture=score in MIXTURES,
    )


def backfill(out: np.ndarray, queries: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Fill the trailing -1 slots of ``out`` (n, k) in place with the first items of
    ``order`` that are neither a query row (``queries`` (n,), or histories (n, N) with -1
    padding) nor already listed."""
    n, k = out.shape
    filled = (out >= 0).sum(axis=1)
    if n == 0 or (filled == k).all():
        return out
    queries = np.asarray(queries)
    queries = queries[:, None] if queries.ndim == 1 else queries
    width = k + queries.shape[1]  # that many candidates always suffice
    cand = np.full(width, -1, np.int32)
    cand[: min(width, len(order))] = order[:width]
    step = max(1, 2**24 // (width * (k + queries.shape[1])))
    for s in range(0, n, step):
        o, q = out[s : s + step], queries[s : s + step]
        c = np.broadcast_to(cand, (len(o), width))
        taken = np.concatenate([o, q], axis=1)
        ok = (c >= 0) & ~(c[:, :, None] == taken[:, None, :]).any(axis=2)
        col = filled[s : s + step, None] + np.cumsum(ok, axis=1) - 1
        r, j = np.nonzero(ok & (col < k))
        o[r, col[r, j]] = c[r, j]
    return out


def exclude_histories(scores: np.ndarray, histories: np.ndarray) -> None:
    """No history item in its own list: ``-inf`` at each history's rows of ``scores``
    ``(n, n_items)``, in place (``histories`` ``(n, N)``, ``-1`` padding ignored)."""
    r, c = np.nonzero(histories >= 0)
    scores[r, histories[r, c]] = -np.inf


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` columns of each row of ``scores`` (m, n), best first (argpartition, then a
    stable sort); ``(rows int32 (m, k), scores (m, k))``, ``-1`` / ``-inf`` past the finite ones."""
    m, n = scores.shape
    kk = min(k, n)
    if kk < n:
        top = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
    else:
        top = np.broadcast_to(np.arange(n), scores.shape)
    value = np.take_along_axis(scores, top, axis=1)
    by = np.argsort(-value, axis=1, kind="stable")
    top, value = np.take_along_axis(top, by, 1), np.take_along_axis(value, by, 1)
    rows = np.full((m, k), -1, np.int32)
    best = np.full((m, k), -np.inf, value.dtype)
    rows[:, :kk] = np.where(np.isfinite(value), top, -1)
    best[:, :kk] = value
    return rows, best


def vector_recommender(
    vectors: np.ndarray,
    *,
    biases: np.ndarray | None = None,
    targets: np.ndarray | None = None,
    exclude_query: bool = True,
    known: np.ndarray | None = None,
    fallback: np.ndarray | None = None,
    chunk_size: int | None = None,
    counts: Any = None,
    prior_events: float = PRIOR_EVENTS,
    mixture: bool | None = None,
) -> Recommender:
    """Best rows by cosine similarity (or by ``dot + bias``), with batched matrix products
    and argpartition.

    The evaluation's exact top-k engine. It is not :class:`~item2vec.queries.index.ItemIndex`
    (``kind="exact"``) because its contract differs: unknown rows (``known``, zero vectors)
    are never queried nor returned, short lists are padded with ``-1`` (or ``fallback``)
    where the index clamps ``k`` with a warning, a separate output table (``targets``) is
    allowed, and equal scores keep row order. Both share :func:`item2vec.arrays.normalise`.

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
    counts : scipy.sparse CSR (n_items, n_items), optional, with ``biases``: neighbour counts,
        for the ``"blend"`` score (see the module docstring).
    prior_events : the blend's prior strength.
    mixture : histories with ``biases``: rank by the mixture of the per-item distributions
        (default) or, ``False``, by the weighted sum of the per-item scores (``logit``).

    Queries of shape ``(n, N)`` are histories, ranked as the module docstring says (as are
    1-D queries with ``counts``); every history item is excluded.
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
        unit = np.where(ok[:, None], normalise(v), 0).astype(np.float32)
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
        k = check_k(k)
        if np.ndim(queries) != 1 or counts is not None:
            return recommend_histories(check_histories("queries", queries, n_items), k)
        q = check_rows("queries", queries, n_items=n_items)
        out = np.full((len(q), k), -1, np.int32)
        for s in range(0, len(q), step):
            qs = q[s : s + step]
            sims = unit[qs] @ out_table.T + mask
            sims[~ok[qs]] = -np.inf
            if exclude_query:
                sims[np.arange(len(qs)), qs] = -np.inf
            out[s : s + len(qs)] = top_k(sims, k)[0]
        return out if fallback is None else backfill(out, q, np.asarray(fallback))

    def recommend_histories(h: np.ndarray, k: int) -> np.ndarray:
        out = np.full((len(h), k), -1, np.int32)
        per = max(1, 2**24 // (n_items * h.shape[1]))
        for s in range(0, len(h), per):
            hs = h[s : s + per]
            sims = history_scores(
                hs, unit, None if biases is None else mask, known=ok, targets=targets,
                counts=counts, prior_events=prior_events, mixture=mixture,
            )  # fmt: skip
            if exclude_query:
                exclude_histories(sims, hs)
            out[s : s + len(hs)] = top_k(sims, k)[0]
        return out if fallback is None else backfill(out, h, np.asarray(fallback))

    return recommend
