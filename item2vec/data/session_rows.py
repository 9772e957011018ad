"""From record batches of a log grouped by session to complete, cleaned sessions.

The row-level pieces of :class:`~item2vec.sampling.corpus.ParquetCorpus`, which reads a log batch by
batch and never holds it whole:

* :func:`factorize_column` turns an Arrow column into codes and uniques (missing ids: -1);
* :class:`ItemCoder` gives item ids codes in order of first sight (the vocabulary pass),
  :class:`RowLookup` gives them their vocabulary rows (the epochs);
* :class:`Rows` holds the valid rows of one batch, :class:`SessionBuilder` cuts a stream of
  them into :class:`Block` s of complete sessions, carrying the session still open;
* :func:`order_and_collapse` orders a block's events by time, :func:`concat_sessions` and
  :func:`grow` are the array bookkeeping of both passes.

Item codes are ``>= 0`` for items, :data:`MISSING` for a missing id and :data:`DROPPED` for
an id outside the vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import DataError
from .vocabulary import Vocabulary

__all__ = [
    "DROPPED",
    "MISSING",
    "Block",
    "ItemCoder",
    "RowLookup",
    "Rows",
    "SessionBuilder",
    "concat_sessions",
    "factorize_column",
    "grow",
    "order_and_collapse",
]

MISSING = -1
"""Item code of a row whose item id is missing (such rows are dropped first)."""
DROPPED = -2
"""Item code (and row) of an item id that is not in the vocabulary."""


def factorize_column(batch: Any, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One column of an Arrow record batch as codes into its unique values.

    Parameters
    ----------
    batch : pyarrow.RecordBatch
    name : str
        Column to read; dictionary-encoded columns are used as they are.

    Returns
    -------
    codes : ndarray of int64, shape (n_rows,)
        Index into ``uniques``; -1 where the value is missing (null, NaN, NaT, empty or
        blank string).
    uniques : ndarray, shape (n_uniques,)
        The column's dictionary, as numpy.
    missing : ndarray of bool, shape (n_uniques,)
        Which uniques are missing values.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = batch.column(name)
    if not pa.types.is_dictionary(arr.type):
        arr = pc.dictionary_encode(arr)
    inv = arr.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    uniques = arr.dictionary.to_numpy(zero_copy_only=False)
    if uniques.dtype == object:
        bad = np.array([v is None or (isinstance(v, str) and not v.strip()) for v in uniques],
                       bool)  # fmt: skip
    elif uniques.dtype.kind in "fmM":
        bad = pd.isna(uniques)
    else:
        bad = np.zeros(len(uniques), bool)
    if bad.any():
        inv = np.where(np.append(bad, False)[inv], -1, inv)
    return inv, uniques, bad


@dataclass
class Rows:
    """The valid rows of one record batch, in file order.

    Attributes
    ----------
    key_inv : ndarray of int64, shape (n,)
        Session of each row, as an index into ``key_uniques``.
    key_uniques : ndarray, shape (n_keys,)
        Session ids of this batch.
    items : ndarray of int64, shape (n,)
        Item code of each row (an :class:`ItemCoder` code or a vocabulary row), or
        :data:`DROPPED`.
    times : ndarray, shape (n,), or None
        Time of each row (see :func:`~item2vec.data.columns.parse_time`), if there is a time column.
    """

    key_inv: np.ndarray
    key_uniques: np.ndarray
    items: np.ndarray
    times: np.ndarray | None

    def __len__(self) -> int:
        return len(self.key_inv)

    def code_of(self, key: Any) -> int:
        """Index of session id ``key`` in ``key_uniques``; -1 if the batch does not hold it."""
        hit = np.flatnonzero(self.key_uniques == key) if len(self.key_uniques) else []
        return int(hit[0]) if len(hit) else -1

    def slice(self, a: int, b: int | None = None) -> Rows:
        """Rows ``a:b`` (views; ``key_uniques`` is shared)."""
        t = None if self.times is None else self.times[a:b]
        return Rows(self.key_inv[a:b], self.key_uniques, self.items[a:b], t)


@dataclass
class Block:
    """Complete sessions, their events concatenated in file order.

    Attributes
    ----------
    items : ndarray of int64, shape (n_events,)
        Item code of each event, session after session.
    lengths : ndarray of int64, shape (n_sessions,)
    times : ndarray, shape (n_events,), or None
    origins : ndarray of int64, shape (n_sessions,)
        The ``origin`` (row group) each session started in (see :meth:`SessionBuilder.feed`).
    hashes : ndarray of uint64, shape (n_sessions,), or None
        Stable hash of each session id (``pandas.util.hash_array``), if the builder hashes.
    """

    items: np.ndarray
    lengths: np.ndarray
    times: np.ndarray | None
    origins: np.ndarray
    hashes: np.ndarray | None


class SessionBuilder:
    """Cuts a stream of :class:`Rows` into complete sessions, carrying the open one.

    The rows of a session must be contiguous; a session may span batches. A session id that
    comes back after another session within one batch is a :class:`DataError`.

    Parameters
    ----------
    hashed : bool
        Fill :attr:`Block.hashes` (for sharding by a hash of the session id).

    Attributes
    ----------
    key : session id of the open session (None when there is none).
    sessions : int, complete sessions emitted so far.
    """

    def __init__(self, hashed: bool) -> None:
        self.hashed = hashed
        self.key: Any = None
        self.parts: list[Rows] = []
        self.origin = -1
        self.hash = np.uint64(0)
        self.sessions = 0  # sessions emitted so far

    @property
    def open(self) -> bool:
        """Whether a session is open (its rows may go on in the next batch)."""
        return bool(self.parts)

    def feed(self, rows: Rows, origin: int) -> Block | None:
        """The sessions that ``rows`` completes; the batch's last session stays open.

        ``origin`` is recorded for the sessions that start in ``rows``. Returns None when no
        session is complete yet.
        """
        if len(rows) == 0:
            return None
        inv = rows.key_inv
        starts = np.flatnonzero(inv[1:] != inv[:-1]) + 1
        run_codes = inv[np.concatenate([[0], starts])]
        if len(np.unique(run_codes)) != len(run_codes):
            _, first = np.unique(run_codes, return_index=True)
            again = run_codes[np.setdiff1d(np.arange(len(run_codes)), first)[0]]
            raise DataError(
                f"the data is not grouped by session: session {rows.key_uniques[again]!r} "
                "appears in two separate runs of rows; write the log sorted by session "
                "(e.g. df.sort_values([session, time]).to_parquet(...))"
            )
        hashes = _hash(rows.key_uniques)[run_codes] if self.hashed else None
        bounds = np.concatenate([[0], starts, [len(rows)]])
        first_run = 0
        if self.parts and rows.key_uniques[run_codes[0]] == self.key:  # the open one goes on
            self.parts.append(rows.slice(0, int(bounds[1])))
            first_run = 1
            if len(bounds) == 2:  # and is still open
                return None
        items, times, lengths, origins, keys = [], [], [], [], []
        if self.parts:  # the open session is complete
            done = _cat_rows(self.parts)
            items.append(done.items)
            times.append(done.times)
            lengths.append([len(done)])
            origins.append([self.origin])
            keys.append([self.hash])
        last = len(bounds) - 2  # the batch's last run stays open
        if last > first_run:  # complete runs of this batch: one slice, no loop per session
            lo, hi = int(bounds[first_run]), int(bounds[last])
            items.append(rows.items[lo:hi])
            times.append(None if rows.times is None else rows.times[lo:hi])
            lengths.append(np.diff(bounds[first_run : last + 1]))
            origins.append(np.full(last - first_run, origin))
            keys.append(hashes[first_run:last] if hashes is not None else [])
        self.parts = [rows.slice(int(bounds[last]), None)]
        self.key = rows.key_uniques[run_codes[last]]
        self.origin = origin
        self.hash = hashes[last] if hashes is not None else np.uint64(0)
        return self._block(items, times, lengths, origins, keys)

    def flush(self) -> Block | None:
        """The open session, now complete (at the end of the stream); None if there is none."""
        if not self.parts:
            return None
        done = _cat_rows(self.parts)
        self.parts, self.key = [], None
        return self._block([done.items], [done.times], [[len(done)]], [[self.origin]],
                           [[self.hash]])  # fmt: skip

    def _block(self, items: list, times: list, lengths: list, origins: list,
               keys: list) -> Block | None:  # fmt: skip
        if not items:
            return None
        ln = np.concatenate(lengths).astype(np.int64)
        self.sessions += len(ln)
        return Block(
            items=np.concatenate(items),
            lengths=ln,
            times=None if times[0] is None else np.concatenate(times),
            origins=np.concatenate(origins).astype(np.int64),
            hashes=np.concatenate(keys).astype(np.uint64) if self.hashed else None,
        )


def _cat_rows(parts: list[Rows]) -> Rows:
    """One session's rows read in several batches (only items and times are used)."""
    if len(parts) == 1:
        return parts[0]
    t = None if parts[0].times is None else np.concatenate([p.times for p in parts])
    items = np.concatenate([p.items for p in parts])
    return Rows(np.zeros(len(items), np.int64), parts[0].key_uniques, items, t)


def _hash(keys: np.ndarray) -> np.ndarray:
    """Stable 64-bit hash of session ids (the same in every process, unlike ``hash``)."""
    return pd.util.hash_array(np.asarray(keys, dtype=object if keys.dtype == object else None))


def order_and_collapse(block: Block, collapse: bool) -> tuple[np.ndarray, np.ndarray]:
    """Items of each session in time order (stable), consecutive repeats merged if asked.

    Returns
    -------
    items : ndarray of int64, shape (n,)
    session : ndarray of int64, shape (n,)
        Session number (index into ``block.lengths``) of each event.
    """
    sid = np.repeat(np.arange(len(block.lengths)), block.lengths)
    items = block.items
    if block.times is not None:
        order = np.lexsort((block.times, sid))
        items = items[order]
    if collapse:
        rep = np.zeros(len(items), bool)
        rep[1:] = (items[1:] == items[:-1]) & (sid[1:] == sid[:-1])
        items, sid = items[~rep], sid[~rep]
    return items, sid


class ItemCoder:
    """Codes of normalised item ids in order of first sight, looked up in C (``pd.Index``);
    the index is rebuilt only when a batch brings new ids.

    Call it with ids (``ndarray``, shape (n,)) to get their codes (int64, shape (n,));
    :meth:`ids` gives the id of every code so far.
    """

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []
        self.index = pd.Index([])

    def __len__(self) -> int:
        return len(self.index)

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        codes = self.index.get_indexer(ids) if len(self.index) else np.full(len(ids), -1)
        new = codes < 0
        if new.any():
            inv, fresh = pd.factorize(ids[new])  # a batch may repeat an id after normalising
            codes[new] = len(self.index) + inv
            self.parts.append(np.asarray(fresh, dtype=ids.dtype))
            self.index = pd.Index(np.concatenate(self.parts))
        return codes.astype(np.int64)

    def ids(self) -> np.ndarray:
        """Id of each code, shape (len(self),)."""
        return np.concatenate(self.parts) if self.parts else np.zeros(0, np.int64)


class RowLookup:
    """Vocabulary rows of normalised ids (:data:`DROPPED` where unknown), vectorised for ints.

    Call it with ids (``ndarray``, shape (n,)) to get their rows (int64, shape (n,)).
    """

    def __init__(self, vocabulary: Vocabulary) -> None:
        self.vocabulary = vocabulary
        if vocabulary.is_numeric:
            self.sorter = np.argsort(vocabulary.ids, kind="stable")
            self.sorted = vocabulary.ids[self.sorter]

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        if self.vocabulary.is_numeric and ids.dtype.kind in "iu":
            pos = np.minimum(np.searchsorted(self.sorted, ids), len(self.sorted) - 1)
            hit = self.sorted[pos] == ids
            return np.where(hit, self.sorter[pos], DROPPED).astype(np.int64)
        rows = self.vocabulary.encode(ids.tolist(), missing="ignore").astype(np.int64)
        return np.where(rows < 0, DROPPED, rows)


def concat_sessions(
    items: list[np.ndarray], lengths: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Blocks of sessions ``(items, lengths)`` joined into one CSR chunk.

    Returns
    -------
    items : ndarray, shape (n_events,)
    offsets : ndarray of int64, shape (n_sessions + 1,)
        Session ``s`` is ``items[offsets[s]:offsets[s + 1]]``.
    """
    ln = np.concatenate(lengths)
    offsets = np.zeros(len(ln) + 1, np.int64)
    np.cumsum(ln, out=offsets[1:])
    return np.concatenate(items), offsets


def grow(a: np.ndarray, n: int, fill: Any = 0) -> np.ndarray:
    """``a`` grown (geometrically) to at least ``n`` entries, new ones set to ``fill``."""
    if len(a) >= n:
        return a
    out = np.full(max(n, 2 * len(a)), fill, a.dtype)
    out[: len(a)] = a
    return out
