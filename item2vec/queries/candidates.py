"""Candidates of a history, and the exact mixture scores on them.

The next-item engine (:mod:`item2vec.queries.recommend`) ranks a history by ``log_prob`` or
``blend`` (:mod:`item2vec.queries.scoring`) without scoring the whole catalogue:

1. **candidates**: each history item's strongest count neighbours (:func:`count_tops`, the
   largest entries of its row of the neighbour counts) and its own top items by the model
   (an index search), and an index search of the history's query vector; merged, each once
   (:func:`merge`);
2. **scores**: the exact mixture of :func:`item2vec.queries.scoring.history_scores` on those
   rows only (:func:`mixture_scores`): ``log sum_j w_j P_j(t)``, with
   ``P_j(t) = exp(s_j(t) - Z_j)`` (``log_prob``) or ``(C[h_j, t] + a exp(s_j(t) - Z_j)) /
   (C_j + a)`` (``blend``), where ``Z_j`` is the item's normaliser
   (:class:`~item2vec.queries.normaliser.Normalisers`) and ``C_j`` its row sum.

Any candidate's score is therefore the exhaustive score; only an item outside every list
can be missed, and the lists hold what the mixture is made of.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .scoring import PRIOR_EVENTS

__all__ = ["count_tops", "count_values", "merge", "mixture_scores", "row_sums"]


def row_sums(counts: Any) -> np.ndarray:
    """``C_j``: the sum of each row of the neighbour counts, float64 (n,)."""
    return np.asarray(counts.sum(axis=1), np.float64).ravel()


def _entries(counts: Any, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stored entries of ``rows`` of a CSR matrix: (owner position in ``rows``, column,
    value), owners ascending and each row's columns in its stored order."""
    start, end = counts.indptr[rows], counts.indptr[rows + 1]
    lengths = (end - start).astype(np.int64)
    owner = np.repeat(np.arange(len(rows), dtype=np.int64), lengths)
    at = np.repeat(start - (np.cumsum(lengths) - lengths), lengths) + np.arange(lengths.sum())
    return owner, counts.indices[at].astype(np.int64), counts.data[at].astype(np.float64)


def count_tops(counts: Any, rows: np.ndarray, width: int) -> np.ndarray:
    """The ``width`` strongest neighbours of each of ``rows`` in the CSR ``counts``: int64
    ``(len(rows), width)``, largest count first (ties by column), ``-1`` padding."""
    owner, col, val = _entries(counts, rows)
    order = np.lexsort((col, -val, owner))
    owner, col = owner[order], col[order]
    first = np.searchsorted(owner, np.arange(len(rows)))
    rank = np.arange(len(owner)) - first[owner]
    keep = rank < width
    out = np.full((len(rows), width), -1, np.int64)
    out[owner[keep], rank[keep]] = col[keep]
    return out


def count_values(counts: Any, hist: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """``C[hist[i, j], cand[i, c]]`` as float64 ``(m, N, C)`` (0 where either is -1)."""
    m, width = hist.shape
    n = counts.shape[1]
    used, inverse = np.unique(np.maximum(hist, 0), return_inverse=True)
    owner, col, val = _entries(counts, used)
    keys = owner * n + col
    order = np.argsort(keys, kind="stable")  # rows ascending; columns may be unsorted
    keys, val = keys[order], val[order]
    want = inverse.reshape(m, width, 1).astype(np.int64) * n + np.maximum(cand, 0)[:, None, :]
    if len(keys) == 0:
        return np.zeros(want.shape)
    pos = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
    out = np.where(keys[pos] == want, val[pos], 0.0)
    out[(hist < 0)[:, :, None] | (cand < 0)[:, None, :]] = 0.0
    return out


def merge(*parts: np.ndarray) -> np.ndarray:
    """Candidate rows ``(m, c_i)`` joined: ``(m, C)`` int64, each row's rows sorted and once,
    ``-1`` after them (columns holding only ``-1`` dropped)."""
    rows = np.sort(np.concatenate([np.asarray(p, np.int64) for p in parts], axis=1), axis=1)
    rows[:, 1:][rows[:, 1:] == rows[:, :-1]] = -1
    rows = -np.sort(-rows, axis=1)  # valid rows first, descending
    width = int((rows >= 0).sum(axis=1).max(initial=0))
    return rows[:, : max(width, 1)]


def mixture_scores(
    hist: np.ndarray,
    weights: np.ndarray,
    cand: np.ndarray,
    vectors: np.ndarray,
    biases: np.ndarray,
    z: np.ndarray,
    *,
    counts: Any = None,
    sums: np.ndarray | None = None,
    prior_events: float = PRIOR_EVENTS,
) -> np.ndarray:
    """The exact mixture score of each candidate: float64 ``(m, C)``, ``-inf`` at ``-1``.

    Parameters
    ----------
    hist : int64 (m, N), history rows oldest first, ``-1`` padding
    weights : float64 (m, N), :func:`~item2vec.queries.scoring.recency_weights` of ``hist``
    cand : int64 (m, C), candidate rows, ``-1`` padding
    vectors : float32 (n, dim); biases : float64 (n,) the ``B`` of the score
    z : float64 (m, N), each history item's normaliser (any value at padding)
    counts, sums : the neighbour counts (CSR) and their :func:`row_sums`, for ``blend``
    prior_events : the blend's prior strength ``a``
    """
    h, c = np.maximum(hist, 0), np.maximum(cand, 0)
    s = np.matmul(vectors[h], vectors[c].transpose(0, 2, 1)).astype(np.float64)  # (m, N, C)
    s += biases[c][:, None, :]
    s -= np.where(hist >= 0, z, 0.0)[:, :, None]
    p = np.exp(s)
    if counts is not None:
        assert sums is not None
        p = (count_values(counts, hist, cand) + prior_events * p) / (
            sums[h][:, :, None] + prior_events
        )
    with np.errstate(divide="ignore"):
        out = np.log(np.einsum("mn,mnc->mc", weights, p))
    out[cand < 0] = -np.inf
    return out
