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
session id. Reading the row groups (and assigning them to workers) is
:mod:`item2vec.sampling.row_groups`, the vocabulary pass :mod:`item2vec.sampling.corpus_scan`,
the row-level work (valid rows of a batch, complete sessions)
:mod:`item2vec.data.session_rows`; this module holds the corpus and its epochs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from ..checks import SHARD_MODES, check_choice, check_int
from ..data.columns import check_path
from ..data.session_rows import (
    Block,
    RowLookup,
    SessionBuilder,
    concat_sessions,
    order_and_collapse,
)
from ..data.sessions import Sessions
from ..exceptions import DataError, ParameterError
from .corpus_scan import scan_corpus
from .negatives import expected_units
from .row_groups import Piece, balance_row_groups, open_row_groups, piece_rows
from .streaming import check_stream
from .units import Units, rebatch
from .windows import WindowPlan, chunk_units

__all__ = ["ParquetCorpus"]


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
        self._reader, pieces = open_row_groups(
            self.path, session=session, item=item, time=time, batch_rows=self.batch_rows
        )
        self.shard_index, self.shard_count, self.shard_by = 0, 1, "row_groups"
        self._owned = list(range(len(pieces)))
        scan = scan_corpus(
            self._reader, pieces, min_count=self.min_count, min_length=self.min_length,
            collapse_repeats=self.collapse_repeats,
        )  # fmt: skip
        self._pieces: list[Piece] = scan.pieces
        self.vocabulary, self.report = scan.vocabulary, scan.report
        self.n_sessions, self.n_events = scan.n_sessions, scan.n_events
        self._row_lookup = RowLookup(self.vocabulary)
        self._reader.clear_cache()

    # ------------------------------------------------------------------ pass 2: epochs
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
        for items, lengths, _ in self._placed_sessions(k):
            yield items, lengths

    def _placed_sessions(self, k: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Row group ``k``'s sessions (of this shard) as ``(items, lengths, places)``: each
        session's place in the corpus is ``k << 32 | j`` for the ``j``-th session starting in
        row group ``k`` (counted before sharding and cleaning: the same in every shard)."""
        hashed = self.shard_by == "hash" and self.shard_count > 1
        builder = SessionBuilder(hashed=hashed)
        j = 0
        for rows in piece_rows(self._reader, self._pieces, k, self._row_lookup):
            block = builder.feed(rows, k)
            if block is not None:
                yield from self._clean(block, (k << 32) + j)
                j += len(block.lengths)
        block = builder.flush()
        if block is not None:
            yield from self._clean(block, (k << 32) + j)

    def _clean(
        self, block: Block, first: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        places = first + np.arange(len(block.lengths), dtype=np.int64)
        if block.hashes is not None:  # hash sharding: keep this shard's sessions
            mine = block.hashes % np.uint64(self.shard_count) == np.uint64(self.shard_index)
            if not mine.any():
                return
            ev = np.repeat(mine, block.lengths)
            t = None if block.times is None else block.times[ev]
            block = Block(block.items[ev], block.lengths[mine], t, block.origins[mine], None)
            places = places[mine]
        items, sid = order_and_collapse(block, self.collapse_repeats)
        kept = items >= 0
        items, sid = items[kept], sid[kept]
        lengths = np.bincount(sid, minlength=len(block.lengths))
        long_ = lengths >= self.min_length
        if long_.any():
            yield items[long_[sid]].astype(np.int32), lengths[long_], places[long_]

    def _seed_sequence(self, seed: int, epoch: int) -> np.random.SeedSequence:
        return np.random.SeedSequence([seed, epoch, self.shard_index, self.shard_count])

    def keyed_sessions(
        self, chunk_events: int = 1_000_000
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """This shard's sessions in file order, in blocks of about ``chunk_events`` events:
        ``(items int32, lengths int64, places int64)``, ``places`` each session's place in
        the whole corpus (increasing in file order, the same whichever shard reads it): what
        the neighbour counts are counted from, chunk by chunk
        (:class:`~item2vec.queries.pair_counts.PairCounter`)."""
        check_int("chunk_events", chunk_events, 1)
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        size = 0
        for k in self._owned:
            for part in self._placed_sessions(k):
                parts.append(part)
                size += len(part[0])
                if size >= chunk_events:
                    yield _concat(parts)
                    parts, size = [], 0
        if parts:
            yield _concat(parts)

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
        out._reader = self._reader.fresh()
        out.shard_index, out.shard_count, out.shard_by = int(index), int(count), by
        if by == "hash" or count == 1:
            out._owned = list(range(len(self._pieces)))
        else:
            owner = balance_row_groups(np.array([p.events for p in self._pieces]), count)
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
        seed: int = 0, epoch: int = 0, chunk_events: int = 1_000_000, direction: str = "both",
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
            direction=direction,
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


def _concat(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]
