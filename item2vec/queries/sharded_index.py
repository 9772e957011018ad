"""Several :class:`~item2vec.queries.index.ItemIndex` shards over consecutive row ranges, as one.

For catalogues too large to build or hold as one FAISS index (see ``docs/scaling.md``). Its
only callers are users and the tests: the estimator builds one :class:`ItemIndex`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..arrays import as_matrix, as_row_set, per_query_rows
from ..checks import check_int, check_k
from ..exceptions import ModelFormatError, ParameterError
from .filters import clamp_k
from .index import ItemIndex

__all__ = ["ShardedIndex"]


class ShardedIndex:
    """Several :class:`ItemIndex` shards over consecutive row ranges, searched as one.

    For catalogues too large to build or hold as one FAISS index (tens of millions of
    items): each shard covers rows ``[start, start + len)`` and can be built, saved and
    loaded on its own (build shards in separate processes and join them with
    :meth:`from_shards`). A search asks every shard for its top ``k`` and merges them by
    score, so an exact sharded search equals an exact unsharded one. Same ``search``
    arguments and rules as :class:`ItemIndex` (rows are global).

    Parameters
    ----------
    vectors : array-like (n, dim)
    n_shards : number of shards (rows split as evenly as possible).
    **kwargs : passed to every :class:`ItemIndex` (``metric``, ``kind``, knobs).
    """

    def __init__(self, vectors: Any, *, n_shards: int, **kwargs: Any) -> None:
        x, _ = as_matrix(vectors, "vectors")
        n_shards = check_int("n_shards", n_shards, 1)
        if n_shards > len(x):
            raise ParameterError(
                f"n_shards must be <= the number of vectors ({len(x)}), got {n_shards}"
            )
        bounds = np.linspace(0, len(x), n_shards + 1).astype(np.int64)
        shards = [ItemIndex(x[a:b], **kwargs) for a, b in zip(bounds[:-1], bounds[1:])]
        self._set(shards)

    @classmethod
    def from_shards(cls, shards: list[ItemIndex]) -> ShardedIndex:
        """Join shards built elsewhere; shard ``i`` holds the rows after shard ``i - 1``."""
        if not shards:
            raise ParameterError("shards must hold at least one ItemIndex, got []")
        if len({(s.dim, s.metric) for s in shards}) != 1:
            raise ParameterError("all shards must have the same dim and metric")
        self = cls.__new__(cls)
        self._set(list(shards))
        return self

    def _set(self, shards: list[ItemIndex]) -> None:
        self.shards = shards
        self.starts = np.cumsum([0] + [s.n_items for s in shards])[:-1].astype(np.int64)
        self.n_items = int(sum(s.n_items for s in shards))
        self.dim, self.metric = shards[0].dim, shards[0].metric

    def __repr__(self) -> str:
        return f"ShardedIndex(shards={len(self.shards)}, n_items={self.n_items}, dim={self.dim})"

    def search(
        self, queries: Any, k: int = 10, *, exclude: Any = None, allowed: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k global rows by score, best first; see :meth:`ItemIndex.search`."""
        q, single = as_matrix(queries, "queries", self.dim)
        k = check_k(k)
        per_row = None if exclude is None else per_query_rows(exclude, len(q), self.n_items)
        shared = None if exclude is None or per_row is not None else as_row_set(
            exclude, "exclude", self.n_items
        )  # fmt: skip
        allowed_rows = None if allowed is None else as_row_set(allowed, "allowed", self.n_items)
        found, scores = [], []
        for shard, start in zip(self.shards, self.starts):
            ex = None
            if per_row is not None:
                ex = _local(per_row, start, shard.n_items)
            elif shared is not None:
                ex = _local(shared, start, shard.n_items)
                ex = ex[ex >= 0]
            al = None
            if allowed_rows is not None:
                al = _local(allowed_rows, start, shard.n_items)
                al = al[al >= 0]
                if len(al) == 0:
                    continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # clamped once, below
                r, s = shard.search(q, k, exclude=ex if ex is None or ex.size else None, allowed=al)
            found.append(r + start)
            scores.append(s)
        width = clamp_k(k, sum(r.shape[1] for r in found))
        rows, vals = np.hstack(found), np.hstack(scores)
        order = np.argsort(-vals, axis=1, kind="stable")[:, :width]
        rows = np.take_along_axis(rows, order, axis=1)
        vals = np.take_along_axis(vals, order, axis=1)
        return (rows[0], vals[0]) if single else (rows, vals)

    def save(self, directory: str | os.PathLike) -> None:
        """Write every shard (``shard-00000.faiss`` + sidecar) into ``directory``."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        for i, shard in enumerate(self.shards):
            shard.save(d / f"shard-{i:05d}.faiss")

    @classmethod
    def load(cls, directory: str | os.PathLike) -> ShardedIndex:
        """Read the shards written by :meth:`save`, in order."""
        paths = sorted(Path(directory).glob("shard-*.faiss"))
        if not paths:
            raise ModelFormatError(f"no shard-*.faiss files in {directory}")
        return cls.from_shards([ItemIndex.load(p) for p in paths])


def _local(rows: np.ndarray, start: int, n: int) -> np.ndarray:
    """Global rows as rows of the shard ``[start, start + n)``; -1 outside it."""
    inside = (rows >= start) & (rows < start + n)
    return np.where(inside, rows - start, -1)
