"""Counts of a corpus as sparse matrices: neighbour pairs and session membership.

The count baselines (:mod:`item2vec.baselines`), session-based kNN and the ``"blend"`` score
of :class:`~item2vec.Item2Vec` read the corpus through these matrices
(``scipy.sparse.csr_matrix``, rows and columns are vocabulary rows):

- :func:`pair_matrix`: ``M[a, b]`` = how often ``b`` follows ``a`` within ``window`` places
  of the same session (both ways when ``symmetric``), a pair at distance ``d`` weighing
  ``1 / d``; ``a == b`` pairs are skipped, sessions never cross.
- :func:`session_matrix`: ``X[s, i] = 1`` when item ``i`` occurs in session ``s``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .data import Sessions

__all__ = ["pair_matrix", "session_matrix"]


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
