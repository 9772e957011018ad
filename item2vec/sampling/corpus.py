"""Training data straight from a Parquet dataset larger than memory.

:class:`ParquetCorpus` never loads the log. It reads the session, item (and time) columns
row group by row group, ``batch_rows`` rows at a time, and keeps only what the model
needs anyway: the :class:`~item2vec.data.sessions.Vocabulary` and an index of row groups.

Requirement on the data: **the rows of a session are contiguous** in dataset order (files
in the order ``pyarrow.dataset`` lists them, row groups in file order), e.g. the log was
written sorted or grouped by session. A session may span row groups and files. Within a
session, events are ordered by ``time`` (stable) when it is given, otherwise by row order.
A session id that comes back after another session is an error when both runs fall in one
read batch; runs further apart are not detected and become two sessions. Rows with a
missing session, item or time are dropped and counted, as in :meth:`Sessions.from_frame`.

Two passes:

1. ``__init__`` scans the columns once (twice with ``min_count > 1``: raw counts first)
   and builds exactly the vocabulary :meth:`Sessions.from_parquet` would build from the
   same options: rows by descending count, ties by first appearance, items of dropped
   sessions removed. Memory: O(n_items + n_row_groups).
2. Each epoch (:meth:`ParquetCorpus.stream_units`) visits the row groups in a seeded
   random order. A session belongs to the row group where it starts: a row group skips
   the leading rows that continue the previous one's last session and reads on into the
   following row groups to complete its own last session. Complete sessions are gathered
   into chunks of about ``chunk_events`` events and handed to the sampler's
   :func:`~item2vec.sampling.windows.chunk_units` (the same windows, subsampling and negatives as
   :func:`item2vec.sampling.stream_units`), whose units are shuffled within the chunk and
   cut into batches by :func:`~item2vec.sampling.units.rebatch`.

Peak memory follows ``batch_rows`` (one decoded record batch; Arrow also holds the
compressed column chunks of the row group being read, so keep row groups at ~1M rows or
fewer) and ``chunk_events`` (the sampler's working set), never the corpus size.

:meth:`ParquetCorpus.shard` splits the sessions between workers for data-parallel
training (see :mod:`item2vec.distributed`): by whole row groups, or by a hash of the
session id. The row-level work (valid rows of a batch, complete sessions) is in
:mod:`item2vec.data.session_rows`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..checks import SHARD_MODES, check_choice, check_int
from ..data.columns import check_path, needed_columns, normalize_ids, parse_time
from ..data.session_rows import (
    MISSING,
    Block,
    ItemCoder,
    RowLookup,
    Rows,
    SessionBuilder,
    concat_sessions,
    factorize_column,
    grow,
    order_and_collapse,
)
from ..data.sessions import Sessions
from ..data.vocabulary import Vocabulary
from ..exceptions import DataError, ParameterError
from .negatives import expected_units
from .streaming import check_stream
from .units import Units, rebatch
from .windows import WindowPlan, chunk_units

__all__ = ["ParquetCorpus"]


@dataclass(frozen=True)
class _Piece:
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


class ParquetCorpus:
    """A Parquet log streamed as training units, with bounded memory.

    Parameters
    ----------
    path : Parquet file or dataset directory (hive partitions are read as columns).
    session, item : column names of the session (basket, order) id and the item id.
    time : optional column to order the events of a session by.
    min_count : drop items seen fewer times (counted before short sessions are removed).
    min_length : drop sessions shorter than this (after ``min_count``).
    collapse_repeats : merge consecutive repeats of an item within a session.
    batch_rows : rows decoded at a time; bounds the reader's memory.

    Attributes
    ----------
    vocabulary : Vocabulary, identical to the one :meth:`Sessions.from_parquet` builds.
    report : dict[str, int], what cleaning dropped, with the keys ``from_frame`` uses.
    n_sessions, n_events : int, after cleaning (of the whole corpus, not the shard).
    shard_index, shard_count : this view's shard (0 and 1 for the whole corpus).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        session: str,
        item: str,
        time: str | None = None,
        min_count: int = 1,
        min_length: int = 2,
        collapse_repeats: bool = False,
        batch_rows: int = 65_536,
    ) -> None:
        import pyarrow as pa
        import pyarrow.dataset as ds

        check_int("min_count", min_count, 1)
        check_int("min_length", min_length, 1)
        check_int("batch_rows", batch_rows, 1)
        if not isinstance(collapse_repeats, bool | np.bool_):
            raise ParameterError(
                f"collapse_repeats must be True or False, got {collapse_repeats!r}"
            )
        if session is None or item is None:
            raise DataError(f"give both session= and item= columns, got {session!r}, {item!r}")
        self.path = check_path(path, (".parquet", ".pq"), "ParquetCorpus", allow_dir=True)
        self.session, self.item, self.time = session, item, time
        self.min_count, self.min_length = int(min_count), int(min_length)
        self.collapse_repeats = bool(collapse_repeats)
        self.batch_rows = int(batch_rows)
        try:
            fmt = ds.ParquetFileFormat(
                read_options=ds.ParquetReadOptions(dictionary_columns=[session, item])
            )
            dataset = ds.dataset(self.path, format=fmt, partitioning="hive")
            self._columns = needed_columns(
                dataset.schema.names, session=session, item=item, time=time
            )
            pieces = []
            for frag in dataset.get_fragments():
                for rg in frag.split_by_row_group():
                    info = rg.row_groups[0]
                    if info.num_rows:
                        pieces.append(_Piece(rg, frag.path, info.id, info.num_rows))
        except DataError:
            raise
        except (pa.ArrowException, OSError, ValueError, TypeError) as e:
            raise DataError(f"cannot read {self.path} as Parquet: {e}") from e
        if not pieces:
            raise DataError(f"the log is empty (0 rows in {self.path})")
        self._pieces: list[_Piece] = pieces
        self._dicts: dict[str, tuple[Any, np.ndarray]] = {}  # cache: column -> (dict, mapped)
        self.shard_index, self.shard_count, self.shard_by = 0, 1, "row_groups"
        self._owned = list(range(len(pieces)))
        self._build_vocabulary()

    # ------------------------------------------------------------------ reading
    def _batches(self, piece: _Piece) -> Iterator[Any]:
        import pyarrow as pa

        try:
            yield from piece.fragment.to_batches(columns=self._columns, batch_size=self.batch_rows)
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

    def _read(self, piece: _Piece, encode: Any, counts: dict | None = None) -> Iterator[Rows]:
        """Valid rows of a piece, batch by batch; ``counts`` collects what was dropped."""
        for batch in self._batches(piece):
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

    # ------------------------------------------------------------------ pass 1: vocabulary
    def _build_vocabulary(self) -> None:
        encode = ItemCoder()
        keep = None
        if self.min_count > 1:  # raw counts first: min_count applies before short sessions
            raw = self._scan(encode, None)[0]
            keep = raw >= self.min_count
        raw, counts, first, stats = self._scan(encode, keep)
        n_codes = len(encode)
        raw = grow(raw, n_codes)[:n_codes]
        seen = raw > 0  # codes of unused dictionary entries or dropped rows have no events
        keep = raw >= self.min_count
        ids = encode.ids()
        del encode  # the vocabulary's own lookup serves the epochs
        counts = grow(counts, n_codes)[:n_codes]
        first = grow(first, n_codes, np.iinfo(np.int64).max)[:n_codes]
        dropped = seen & ~keep
        report = {
            "rows read": stats["rows"],
            "rows with missing or empty item id": stats["item"],
            f"rows with missing {self.session}": stats["session"],
        }
        if self.time is not None:
            report[f"rows with missing {self.time}"] = stats["time"]
        if self.collapse_repeats:
            report["consecutive repeats collapsed"] = stats["collapsed"]
        report["items dropped by min_count/max_items"] = int(dropped.sum())
        report["events dropped by min_count/max_items"] = int(raw[dropped].sum())
        report[f"sessions shorter than {self.min_length} dropped"] = stats["short"]
        report[f"events in sessions shorter than {self.min_length}"] = stats["short_events"]
        present = np.flatnonzero(counts)
        if len(present) == 0:
            raise DataError(
                f"no sessions of length >= {self.min_length} left after cleaning "
                f"({stats['sessions']} sessions before); report: {report}"
            )
        order = present[np.lexsort((first[present], -counts[present]))]
        vanished = int(keep.sum()) - len(present)
        report["items only in dropped sessions"] = vanished
        report["sessions"] = self.n_sessions = stats["kept_sessions"]
        report["events"] = self.n_events = int(counts.sum())
        report["items"] = len(order)
        self.vocabulary = Vocabulary(
            ids=ids[order],
            counts=counts[order],
            dropped_items=int(dropped.sum()) + vanished,
            dropped_events=int(raw[dropped].sum()),
        )
        self.report = report
        self._row_lookup = RowLookup(self.vocabulary)
        self._dicts.clear()

    def _scan(self, encode: Any, keep: np.ndarray | None) -> tuple:
        """One pass in file order: raw and final counts, first appearances, piece bounds."""
        raw = np.zeros(0, np.int64)
        counts = np.zeros(0, np.int64)
        first = np.zeros(0, np.int64)
        stats = dict.fromkeys(("rows", "item", "session", "time", "collapsed", "short",
                               "short_events", "sessions", "kept_sessions"), 0)  # fmt: skip
        piece_events = np.zeros(len(self._pieces), np.int64)
        bounds: list[tuple[Any, Any, bool]] = []
        builder = SessionBuilder(hashed=False)
        position = 0

        def take(block: Block | None) -> None:
            nonlocal raw, counts, first, position
            if block is None:
                return
            items, sid = order_and_collapse(block, self.collapse_repeats)
            stats["collapsed"] += len(block.items) - len(items)
            u, c = np.unique(items, return_counts=True)
            raw = grow(raw, int(u[-1]) + 1)
            raw[u] += c
            if keep is not None:
                k = grow(keep, int(u[-1]) + 1, False)[items]
                items, sid = items[k], sid[k]
            lengths = np.bincount(sid, minlength=len(block.lengths))
            long_ = lengths >= self.min_length
            ev = long_[sid]
            stats["short"] += int((~long_).sum())
            stats["short_events"] += int((~ev).sum())
            stats["kept_sessions"] += int(long_.sum())
            items = items[ev]
            np.add.at(piece_events, block.origins[long_], lengths[long_])
            if len(items):
                u, idx, c = np.unique(items, return_index=True, return_counts=True)
                counts = grow(counts, int(u[-1]) + 1)
                first = grow(first, int(u[-1]) + 1, np.iinfo(np.int64).max)
                counts[u] += c
                first[u] = np.minimum(first[u], position + idx)
                position += len(items)

        for k, piece in enumerate(self._pieces):
            first_key = last_key = None
            head = False
            seen = False
            for rows in self._read(piece, encode, stats):
                if len(rows) == 0:
                    continue
                if not seen:
                    first_key = rows.key_uniques[rows.key_inv[0]]
                    head = builder.open and first_key == builder.key
                    seen = True
                last_key = rows.key_uniques[rows.key_inv[-1]]
                take(builder.feed(rows, k))
            bounds.append((first_key, last_key, head) if seen else (None, None, False))
        take(builder.flush())
        stats["sessions"] = builder.sessions
        if keep is not None or self.min_count == 1:
            self._set_bounds(bounds, piece_events)
        return raw, counts, first, stats

    def _set_bounds(self, bounds: list[tuple[Any, Any, bool]], events: np.ndarray) -> None:
        pieces = []
        for k, (p, (fk, lk, head)) in enumerate(zip(self._pieces, bounds, strict=True)):
            nxt = next((b for b in bounds[k + 1 :] if b[0] is not None), None)
            tail = fk is not None and nxt is not None and bool(nxt[2])
            pieces.append(dataclasses.replace(p, first_key=fk, last_key=lk, head_continues=head,
                                              tail_open=tail, events=int(events[k])))  # fmt: skip
        self._pieces = pieces

    # ------------------------------------------------------------------ pass 2: epochs
    def _piece_rows(self, k: int) -> Iterator[Rows]:
        """Rows of the sessions that start in piece ``k`` (reading on into later pieces)."""
        p = self._pieces[k]
        skip = p.head_continues
        for rows in self._read(p, self._row_lookup):
            if skip:
                c = rows.code_of(p.first_key)
                other = np.flatnonzero(rows.key_inv != c)
                if len(other) == 0:
                    continue
                rows, skip = rows.slice(int(other[0])), False
            yield rows
        if not p.tail_open or skip:
            return
        for j in range(k + 1, len(self._pieces)):
            for rows in self._read(self._pieces[j], self._row_lookup):
                c = rows.code_of(p.last_key)
                other = np.flatnonzero(rows.key_inv != c)
                if len(other) == 0:
                    yield rows
                    continue
                yield rows.slice(0, int(other[0]))
                return

    def iter_sessions(
        self, *, seed: int | None = None, epoch: int = 0
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """This shard's sessions as blocks ``(items int32 (n,), lengths int64 (m,))``.

        ``items`` are vocabulary rows, sessions cleaned exactly as in the vocabulary pass.
        ``seed=None`` reads the row groups in file order; otherwise in the order of
        ``SeedSequence([seed, epoch, shard_index, shard_count])``.
        """
        order = np.asarray(self._owned)
        if seed is not None:
            rng = np.random.default_rng(self._seed_sequence(seed, epoch))
            order = order[rng.permutation(len(order))]
        for k in order.tolist():
            yield from self._piece_sessions(k)

    def _piece_sessions(self, k: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        hashed = self.shard_by == "hash" and self.shard_count > 1
        builder = SessionBuilder(hashed=hashed)
        for rows in self._piece_rows(k):
            yield from self._clean(builder.feed(rows, k))
        yield from self._clean(builder.flush())

    def _clean(self, block: Block | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if block is None:
            return
        if block.hashes is not None:  # hash sharding: keep this shard's sessions
            mine = block.hashes % np.uint64(self.shard_count) == np.uint64(self.shard_index)
            if not mine.any():
                return
            ev = np.repeat(mine, block.lengths)
            t = None if block.times is None else block.times[ev]
            block = Block(block.items[ev], block.lengths[mine], t, block.origins[mine], None)
        items, sid = order_and_collapse(block, self.collapse_repeats)
        kept = items >= 0
        items, sid = items[kept], sid[kept]
        lengths = np.bincount(sid, minlength=len(block.lengths))
        long_ = lengths >= self.min_length
        if long_.any():
            yield items[long_[sid]].astype(np.int32), lengths[long_]

    def _seed_sequence(self, seed: int, epoch: int) -> np.random.SeedSequence:
        return np.random.SeedSequence([seed, epoch, self.shard_index, self.shard_count])

    def to_sessions(self) -> Sessions:
        """This shard's sessions in memory, in file order (for small data and checks)."""
        blocks = list(self.iter_sessions())
        items = np.concatenate([b[0] for b in blocks]) if blocks else np.zeros(0, np.int32)
        lengths = np.concatenate([b[1] for b in blocks]) if blocks else np.zeros(0, np.int64)
        offsets = np.zeros(len(lengths) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return Sessions(items, offsets, self.vocabulary, dict(self.report))

    # ------------------------------------------------------------------ sharding
    def shard(self, index: int, count: int, *, by: str = "auto") -> ParquetCorpus:
        """The part of the corpus that worker ``index`` of ``count`` trains on.

        ``by="row_groups"`` gives each worker whole row groups, balanced by their events
        (largest first to the least loaded worker); each session belongs to the row group
        it starts in, so none is split or repeated. ``by="hash"`` keeps the sessions whose
        id hashes (``pandas.util.hash_array``, the same in every process) to ``index``:
        even shards whatever the layout, but every worker reads every row group.
        ``"auto"`` uses row groups when there are at least 4 per worker, else the hash.
        The vocabulary is the whole corpus's in every shard.
        """
        check_int("shard count", count, 1)
        check_int("shard index", index, 0)
        if index >= count:
            raise ParameterError(f"shard index must be < count ({count}), got {index}")
        check_choice("by", by, SHARD_MODES)
        if by == "auto":
            by = "row_groups" if len(self._pieces) >= 4 * count else "hash"
        out = object.__new__(ParquetCorpus)  # a shallow view sharing the scan's results
        out.__dict__.update(self.__dict__)
        out._dicts = {}
        out.shard_index, out.shard_count, out.shard_by = int(index), int(count), by
        if by == "hash" or count == 1:
            out._owned = list(range(len(self._pieces)))
        else:
            load = np.zeros(count, np.int64)
            owner = np.empty(len(self._pieces), np.int64)
            sizes = np.array([p.events for p in self._pieces])
            for k in np.argsort(-sizes, kind="stable").tolist():
                w = int(np.argmin(load))
                owner[k] = w
                load[w] += sizes[k]
            out._owned = np.flatnonzero(owner == index).tolist()
        return out

    @property
    def shard_events(self) -> int:
        """Events of this shard (exact for row groups; expected for the hash)."""
        if self.shard_count == 1:
            return self.n_events
        if self.shard_by == "hash":
            return round(self.n_events / self.shard_count)
        return int(sum(self._pieces[k].events for k in self._owned))

    @property
    def n_row_groups(self) -> int:
        return len(self._pieces)

    def expected_units(self, sample: float) -> float:
        """Expected window units per epoch of this shard (for the LR schedule)."""
        total = expected_units(self.vocabulary.counts, sample)
        return total * self.shard_events / max(self.n_events, 1)

    def __repr__(self) -> str:
        shard = "" if self.shard_count == 1 else (
            f", shard={self.shard_index}/{self.shard_count} by {self.shard_by}")  # fmt: skip
        return (
            f"ParquetCorpus({self.path!r}, n_sessions={self.n_sessions}, n_events="
            f"{self.n_events}, n_items={len(self.vocabulary)}, row_groups={self.n_row_groups}"
            f"{shard})"
        )

    # ------------------------------------------------------------------ units
    def stream_units(
        self, *, batch_size: int, window: int | str, negatives: int, ns_exponent: float = 0.75,
        sample: float = 1e-3, shrink_window: bool = True, max_contexts: int | None = None,
        seed: int = 0, epoch: int = 0, chunk_events: int = 1_000_000,
    ) -> Iterator[Units]:  # fmt: skip
        """One epoch of :class:`Units` in batches of ``batch_size`` (the last one smaller).

        Same parameters and windows as :func:`item2vec.sampling.stream_units`, without the
        ``sessions`` argument: a ``Trainer`` can call either. Row groups come in a random
        order seeded by ``(seed, epoch, shard)``; units are shuffled within chunks of
        about ``chunk_events`` events (plus at most ``batch_rows``).
        """
        plan = WindowPlan.from_vocabulary(
            self.vocabulary, window=window, negatives=negatives, ns_exponent=ns_exponent,
            sample=sample, shrink_window=shrink_window, max_contexts=max_contexts,
        )  # fmt: skip
        return self._stream(plan, *check_stream(batch_size, seed, epoch, chunk_events))

    def _stream(
        self, plan: WindowPlan, batch_size: int, seed: int, epoch: int, chunk: int
    ) -> Iterator[Units]:
        rng = np.random.default_rng(self._seed_sequence(seed, epoch))
        order = np.asarray(self._owned)[rng.permutation(len(self._owned))]
        chunks = (chunk_units(plan, i, o, rng) for i, o in self._chunks(order.tolist(), chunk))
        return rebatch(chunks, batch_size)

    def _chunks(self, order: list[int], chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        items: list[np.ndarray] = []
        lengths: list[np.ndarray] = []
        size = 0
        for k in order:
            for it, ln in self._piece_sessions(k):
                items.append(it)
                lengths.append(ln)
                size += len(it)
                if size >= chunk:
                    yield concat_sessions(items, lengths)
                    items, lengths, size = [], [], 0
        if size:
            yield concat_sessions(items, lengths)
