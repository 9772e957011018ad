"""The row groups of a Parquet log: listing, reading and assigning them to workers.

The reading half of :class:`~item2vec.sampling.corpus.ParquetCorpus`.
:func:`open_row_groups` lists a dataset's non-empty row groups as :class:`Piece` s;
:class:`RowGroupReader` decodes the session, item (and time) columns of one, ``batch_rows``
rows at a time, into its valid rows (:class:`~item2vec.data.session_rows.Rows`), counting
what it drops; :func:`piece_rows` gives the rows of the sessions that start in a piece,
reading on into the following ones; :func:`balance_row_groups` gives each worker whole row
groups, balanced by their events.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..data.columns import needed_columns, normalize_ids, parse_time
from ..data.session_rows import MISSING, RowLookup, Rows, factorize_column
from ..exceptions import DataError

__all__ = [
    "Piece",
    "RowGroupReader",
    "balance_row_groups",
    "open_row_groups",
    "piece_rows",
    "with_bounds",
]


@dataclass(frozen=True)
class Piece:
    """One row group and what the scan learned about its session boundaries."""

    fragment: Any  # pyarrow.dataset.ParquetFileFragment restricted to the row group
    path: str
    row_group: int
    rows: int
    first_key: Any = None  # session id of the first valid row (None: no valid rows)
    last_key: Any = None
    head_continues: bool = False  # the first session started in an earlier row group
    tail_open: bool = False  # the last session goes on in a later row group
    events: int = 0  # events (after cleaning) of the sessions that start here


def with_bounds(
    pieces: list[Piece], bounds: list[tuple[Any, Any, bool]], events: np.ndarray
) -> list[Piece]:
    """``pieces`` with the session boundaries a scan found: ``bounds`` holds each piece's
    ``(first_key, last_key, head_continues)``, ``events`` the events of its sessions."""
    out = []
    for k, (p, (fk, lk, head)) in enumerate(zip(pieces, bounds, strict=True)):
        nxt = next((b for b in bounds[k + 1 :] if b[0] is not None), None)
        tail = fk is not None and nxt is not None and bool(nxt[2])
        out.append(dataclasses.replace(p, first_key=fk, last_key=lk, head_continues=head,
                                       tail_open=tail, events=int(events[k])))  # fmt: skip
    return out


class RowGroupReader:
    """Reads the valid rows of row groups, ``batch_rows`` rows at a time.

    Keeps a cache of the last item dictionary it decoded (Parquet row groups of one file
    often share it): :meth:`fresh` gives a reader with the same settings and an empty
    cache, :meth:`clear_cache` empties this one (needed when ``encode`` changes).
    """

    def __init__(
        self, columns: list, *, session: str, item: str, time: str | None, batch_rows: int
    ) -> None:
        self.columns = columns
        self.session, self.item, self.time = session, item, time
        self.batch_rows = batch_rows
        self._dicts: dict[str, tuple[Any, np.ndarray]] = {}  # cache: column -> (dict, mapped)

    def fresh(self) -> RowGroupReader:
        """A reader of the same columns with its own, empty cache."""
        return RowGroupReader(self.columns, session=self.session, item=self.item,
                              time=self.time, batch_rows=self.batch_rows)  # fmt: skip

    def clear_cache(self) -> None:
        self._dicts.clear()

    def batches(self, piece: Piece) -> Iterator[Any]:
        """The record batches of a piece (errors as :class:`DataError` naming it)."""
        import pyarrow as pa

        try:
            yield from piece.fragment.to_batches(columns=self.columns, batch_size=self.batch_rows)
        except (pa.ArrowException, OSError) as e:
            raise DataError(f"cannot read row group {piece.row_group} of {piece.path}: {e}") from e

    def _item_codes(self, batch: Any, encode: Any) -> np.ndarray:
        """Item code of each row: ``encode`` maps normalised unique ids; -1 where missing."""
        inv, uniques, bad = factorize_column(batch, self.item)
        cached = self._dicts.get(self.item)
        if (
            cached is not None
            and len(cached[0]) == len(uniques)
            and (cached[0] is uniques or np.array_equal(cached[0], uniques))
        ):
            mapped = cached[1]
        else:
            mapped = np.full(len(uniques), MISSING, np.int64)
            ok = np.flatnonzero(~bad)
            if len(ok):
                mapped[ok] = encode(normalize_ids(uniques[ok], self.item))
            self._dicts[self.item] = (uniques, mapped)
        return np.append(mapped, MISSING)[inv]  # inv -1 (missing) reads the appended code

    def read(self, piece: Piece, encode: Any, counts: dict | None = None) -> Iterator[Rows]:
        """Valid rows of a piece, batch by batch; ``counts`` collects what was dropped."""
        for batch in self.batches(piece):
            key_inv, key_uniques, _ = factorize_column(batch, self.session)
            items = self._item_codes(batch, encode)
            bad_item = items == MISSING
            bad_key = (key_inv < 0) & ~bad_item
            keep = ~(bad_item | bad_key)
            times = None
            if self.time is not None:
                times = parse_time(batch.column(self.time).to_pandas(), self.time)
                bad_time = (
                    np.zeros(len(times), bool) if times.dtype.kind in "iu" else pd.isna(times)
                )
                if counts is not None:
                    counts["time"] += int((bad_time & keep).sum())
                keep &= ~bad_time
            if counts is not None:
                counts["rows"] += batch.num_rows
                counts["item"] += int(bad_item.sum())
                counts["session"] += int(bad_key.sum())
            if not keep.all():
                key_inv, items = key_inv[keep], items[keep]
                times = None if times is None else times[keep]
            yield Rows(key_inv, key_uniques, items, times)


def open_row_groups(
    path: str | os.PathLike, *, session: str, item: str, time: str | None, batch_rows: int
) -> tuple[RowGroupReader, list[Piece]]:
    """A reader of the log at ``path`` and its non-empty row groups, in dataset order
    (files as ``pyarrow.dataset`` lists them, row groups in file order)."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    try:
        fmt = ds.ParquetFileFormat(
            read_options=ds.ParquetReadOptions(dictionary_columns=[session, item])
        )
        dataset = ds.dataset(path, format=fmt, partitioning="hive")
        columns = needed_columns(dataset.schema.names, session=session, item=item, time=time)
        pieces = []
        for frag in dataset.get_fragments():
            for rg in frag.split_by_row_group():
                info = rg.row_groups[0]
                if info.num_rows:
                    pieces.append(Piece(rg, frag.path, info.id, info.num_rows))
    except DataError:
        raise
    except (pa.ArrowException, OSError, ValueError, TypeError) as e:
        raise DataError(f"cannot read {path} as Parquet: {e}") from e
    if not pieces:
        raise DataError(f"the log is empty (0 rows in {path})")
    reader = RowGroupReader(columns, session=session, item=item, time=time,
                            batch_rows=batch_rows)  # fmt: skip
    return reader, pieces


def piece_rows(
    reader: RowGroupReader, pieces: list[Piece], k: int, lookup: RowLookup
) -> Iterator[Rows]:
    """Rows of the sessions that start in piece ``k`` (reading on into later pieces)."""
    p = pieces[k]
    skip = p.head_continues
    for rows in reader.read(p, lookup):
        if skip:
            c = rows.code_of(p.first_key)
            other = np.flatnonzero(rows.key_inv != c)
            if len(other) == 0:
                continue
            rows, skip = rows.slice(int(other[0])), False
        yield rows
    if not p.tail_open or skip:
        return
    for j in range(k + 1, len(pieces)):
        for rows in reader.read(pieces[j], lookup):
            c = rows.code_of(p.last_key)
            other = np.flatnonzero(rows.key_inv != c)
            if len(other) == 0:
                yield rows
                continue
            yield rows.slice(0, int(other[0]))
            return


def balance_row_groups(events: np.ndarray, count: int) -> np.ndarray:
    """The worker (of ``count``) that owns each row group: largest first (stable), each to
    the least loaded worker so far, by ``events``."""
    load = np.zeros(count, np.int64)
    owner = np.empty(len(events), np.int64)
    for k in np.argsort(-events, kind="stable").tolist():
        w = int(np.argmin(load))
        owner[k] = w
        load[w] += events[k]
    return owner
