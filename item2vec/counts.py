"""Counts of a corpus as sparse matrices: neighbour pairs and session membership.

The count baselines (:mod:`item2vec.baselines`), session-based kNN and the ``"blend"`` score
of :class:`~item2vec.Item2Vec` read the corpus through these matrices
(``scipy.sparse.csr_matrix``, rows and columns are vocabulary rows):

- :func:`pair_matrix`: ``M[a, b]`` = how often ``b`` follows ``a`` within ``window`` places
  of the same session (both ways when ``symmetric``), a pair at distance ``d`` weighing
  ``1 / d``; ``a == b`` pairs are skipped, sessions never cross.
- :func:`next_counts`: what the ``"blend"`` score counts: ``F + beta F.T`` for the forward
  pair counts ``F``, the backward pairs weighted by how unordered the log looks
  (:func:`order_weight`).
- :func:`session_matrix`: ``X[s, i] = 1`` when item ``i`` occurs in session ``s``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .data import Sessions

__all__ = ["next_counts", "order_weight", "pair_matrix", "session_matrix"]


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
    items, n = sessions.items, len(sessions.vocabulary)
    session = np.repeat(np.arange(len(sessions), dtype=np.int64), sessions.lengths)
    rows, cols, weights = [], [], []
    for d in range(1, window + 1):
        a, b = items[:-d], items[d:]
        ok = (session[:-d] == session[d:]) & (a != b)
        pairs = [(a[ok], b[ok]), (b[ok], a[ok])] if symmetric else [(a[ok], b[ok])]
        for x, y in pairs:
            rows.append(x)
            cols.append(y)
            weights.append(np.full(len(x), 1.0 / d))
    m = sp.csr_matrix(
        (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )
    m.sum_duplicates()  # also sorts the indices
    return m


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


def next_counts(sessions: Sessions) -> sp.csr_matrix:
    """Counts of what follows each item (window 1): ``F + order_weight(F) * F.T``, float64
    CSR (n_items, n_items). Symmetric co-occurrence on an unordered log, transitions on one
    that only moves forward, in between otherwise."""
    forward = pair_matrix(sessions, window=1, symmetric=False)
    out = (forward + order_weight(forward) * forward.T).tocsr()
    out.sort_indices()
    return out


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
