"""The filters every query shares: ``allowed``, ``exclude``, a history's own items, and ``k``.

One place for the rules that :class:`~item2vec.queries.index.ItemIndex`,
:class:`~item2vec.queries.sharded_index.ShardedIndex` and the next-item engine
(:mod:`item2vec.queries.recommend`) apply alike:

- ``k < 1`` raises :class:`~item2vec.exceptions.ParameterError` (:func:`item2vec.checks.check_k`);
- a ``k`` above the number of eligible rows (after ``allowed`` and ``exclude``, the smallest
  over a batch) is lowered to it with a ``UserWarning`` (:func:`clamp_k`), so that every
  row of a batch has the same length and no answer is padded.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np

__all__ = ["Eligible", "clamp_k", "eligible_rows"]


def clamp_k(k: int, limit: int, stacklevel: int = 3) -> int:
    """``k``, or ``limit`` with a ``UserWarning`` when ``k`` is more than ``limit`` eligible
    rows (``stacklevel`` as for :func:`warnings.warn`, counted from the caller)."""
    if k > limit:
        warnings.warn(
            f"k={k} is more than the {limit} eligible rows; returning {limit}",
            UserWarning,
            stacklevel=stacklevel,
        )
        return limit
    return k


class Eligible(NamedTuple):
    """Which rows a batch of queries may return.

    ``mask``: bool (n,), the rows allowed and not excluded for every query; ``rows``: the
    same as sorted rows when ``allowed`` was given (else None); ``per_query``: int64
    ``(m, e)`` rows excluded for one query each (``-1`` padding), or None; ``limit``: the
    fewest eligible rows of any query (what ``k`` is clamped to).
    """

    mask: np.ndarray
    rows: np.ndarray | None
    per_query: np.ndarray | None
    limit: int


def eligible_rows(
    n: int, allowed: np.ndarray | None, exclude: np.ndarray | None, per_query: np.ndarray | None
) -> Eligible:
    """The :class:`Eligible` rows of ``n`` given ``allowed`` rows (None: all), rows excluded
    from every query (``exclude``) and rows excluded per query (``per_query`` ``(m, e)``,
    ``-1`` padding; duplicates within a query count once)."""
    mask = np.ones(n, bool)
    if allowed is not None:
        mask[:] = False
        mask[allowed] = True
    if exclude is not None:
        mask[exclude] = False
    rows = np.flatnonzero(mask) if allowed is not None else None
    count = int(np.count_nonzero(mask))  # 20x faster than a bool sum at 1M rows
    if per_query is None or per_query.size == 0:
        return Eligible(mask, rows, None, count)
    p = np.sort(per_query, axis=1)
    hit = (p >= 0) & mask[np.maximum(p, 0)]
    hit[:, 1:] &= p[:, 1:] != p[:, :-1]  # a row excluded twice from one query counts once
    most = int(np.count_nonzero(hit, axis=1).max(initial=0))
    return Eligible(mask, rows, per_query, count - most)
