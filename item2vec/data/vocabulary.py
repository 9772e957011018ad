"""The vocabulary: item id <-> dense row index, with the count of each item.

Rows are ordered by descending count, ties by first appearance in the corpus, so row 0 is
the most frequent item; the embedding table has exactly ``len(vocabulary)`` rows (after
:meth:`item2vec.Item2Vec.update`, each update's new items follow the rows before them, in
descending count among themselves: rows never move). Built by
:class:`~item2vec.data.sessions.Sessions` (in memory) and
:class:`~item2vec.sampling.corpus.ParquetCorpus` (streamed), saved with every model.
"""

from __future__ import annotations

import difflib
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..checks import check_int
from ..exceptions import DataError, ParameterError, UnknownItemError

__all__ = ["Vocabulary"]


@dataclass(frozen=True, eq=False)
class Vocabulary:
    """Item id <-> dense row index, with the count of each item in the corpus.

    Rows are ordered by descending count, ties by first appearance in the corpus, so row 0
    is the most frequent item. The embedding table has exactly ``len(vocabulary)`` rows.

    Attributes
    ----------
    ids : ndarray, shape (n_items,)
        Item id of each row (int64, or object array of str).
    counts : ndarray of int64, shape (n_items,)
        Occurrences of each item in the training corpus.
    dropped_items, dropped_events : int
        Items (and their events) removed by ``min_count`` / ``max_items`` / short sessions.
    """

    ids: np.ndarray
    counts: np.ndarray
    dropped_items: int = 0
    dropped_events: int = 0
    _lookup: dict = field(default=None, init=False, repr=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        ids = np.asarray(self.ids)
        if ids.dtype.kind not in "iu":
            ids = ids.astype(object)
            if not all(isinstance(i, str) for i in ids.tolist()):
                ids = np.array([str(i) for i in ids.tolist()], dtype=object)
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "counts", np.asarray(self.counts, dtype=np.int64))
        if ids.ndim != 1 or ids.shape != self.counts.shape:
            raise DataError(
                f"vocabulary ids and counts must be 1-D of one length, got shapes "
                f"{ids.shape} and {self.counts.shape}"
            )
        object.__setattr__(self, "_lookup", {k: i for i, k in enumerate(ids.tolist())})
        if len(self._lookup) != len(ids):
            raise DataError("vocabulary ids are not unique")

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, item: Hashable) -> bool:
        return self._key(item) in self._lookup

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocabulary):
            return NotImplemented
        return (
            self.ids.dtype.kind == other.ids.dtype.kind
            and np.array_equal(self.ids, other.ids)
            and np.array_equal(self.counts, other.counts)
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def is_numeric(self) -> bool:
        return self.ids.dtype.kind in "iu"

    def _key(self, item: Hashable) -> Hashable:
        if not self.is_numeric:
            return item if isinstance(item, str) else str(item)
        if isinstance(item, str):
            try:
                return int(item.strip())
            except ValueError:
                return item
        if isinstance(item, float | np.floating) and float(item).is_integer():
            return int(item)
        if isinstance(item, np.integer):
            return int(item)
        return item

    def index(self, item: Hashable) -> int:
        """Row of one item; raises :class:`UnknownItemError` naming it (and a close id)."""
        try:
            return self._lookup[self._key(item)]
        except (KeyError, TypeError):
            raise UnknownItemError(self._unknown_message(item)) from None

    def _unknown_message(self, item: Hashable) -> str:
        msg = f"unknown item {item!r}: not in the vocabulary of {len(self)} items"
        if 0 < len(self) <= 200_000:
            names = [str(i) for i in self.ids.tolist()]
            close = difflib.get_close_matches(str(item), names, n=1, cutoff=0.6)
            if close:
                msg += f"; did you mean {self.ids.tolist()[names.index(close[0])]!r}?"
        return msg

    def encode(self, items: Iterable[Hashable], *, missing: str = "raise") -> np.ndarray:
        """Rows of many items as int32. ``missing="raise"`` or ``"ignore"`` (gives -1)."""
        if missing not in ("raise", "ignore"):
            raise ParameterError(f"missing must be 'raise' or 'ignore', got {missing!r}")
        rows = []
        for it in items:
            try:
                row = self._lookup.get(self._key(it), -1)
            except TypeError:  # unhashable
                row = -1
            if row < 0 and missing == "raise":
                raise UnknownItemError(self._unknown_message(it))
            rows.append(row)
        return np.asarray(rows, dtype=np.int32)

    def decode(self, rows: Any) -> np.ndarray:
        """Item ids of rows (any shape); rows must lie in ``[0, len(self))``."""
        rows = np.asarray(rows)
        if rows.size and (rows.dtype.kind not in "iu" or rows.min() < 0 or rows.max() >= len(self)):
            bad = rows[(rows < 0) | (rows >= len(self))] if rows.dtype.kind in "iu" else rows
            raise ParameterError(
                f"rows must be integers in [0, {len(self)}), got {bad.ravel()[:5].tolist()}"
            )
        return self.ids[rows]

    @classmethod
    def from_codes(
        cls,
        codes: np.ndarray,
        uniques: np.ndarray,
        *,
        min_count: int = 1,
        max_items: int | None = None,
    ) -> tuple[Vocabulary, np.ndarray]:
        """Build from factorized events; returns the vocabulary and each event's row (-1: dropped).

        ``codes`` index into ``uniques`` in order of first appearance (``pd.factorize``).
        """
        check_int("min_count", min_count, 1)
        if max_items is not None:
            check_int("max_items", max_items, 1)
        counts = np.bincount(codes, minlength=len(uniques)).astype(np.int64)
        # descending count, ties by first appearance (codes are in appearance order)
        order = np.lexsort((np.arange(len(counts)), -counts))
        keep = order[counts[order] >= min_count][:max_items]
        row_of_code = np.full(len(uniques), -1, dtype=np.int32)
        row_of_code[keep] = np.arange(len(keep), dtype=np.int32)
        vocab = cls(
            ids=np.asarray(uniques)[keep],
            counts=counts[keep],
            dropped_items=int(len(uniques) - len(keep)),
            dropped_events=int(len(codes) - counts[keep].sum()),
        )
        return vocab, row_of_code[codes]
