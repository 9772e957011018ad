"""Pass 1 of :class:`~item2vec.sampling.corpus.ParquetCorpus`: the vocabulary scan.

:func:`scan_corpus` reads the row groups once in file order (twice with ``min_count > 1``:
raw counts first) and builds exactly the vocabulary :meth:`Sessions.from_parquet` would
build from the same options (rows by descending count, ties by first appearance, items of
dropped sessions removed), the cleaning report, and each row group's session boundaries
(:func:`~item2vec.sampling.row_groups.with_bounds`) that the epochs read by.
Memory: O(n_items + n_row_groups).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.session_rows import Block, ItemCoder, SessionBuilder, grow, order_and_collapse
from ..data.vocabulary import Vocabulary
from ..exceptions import DataError
from .row_groups import Piece, RowGroupReader, with_bounds

__all__ = ["CorpusScan", "scan_corpus"]


@dataclass
class CorpusScan:
    """What the vocabulary pass learned about a corpus."""

    vocabulary: Vocabulary
    report: dict[str, int]
    n_sessions: int
    n_events: int
    pieces: list[Piece]  # the row groups, with their session boundaries


def scan_corpus(
    reader: RowGroupReader,
    pieces: list[Piece],
    *,
    min_count: int,
    min_length: int,
    collapse_repeats: bool,
) -> CorpusScan:
    """The vocabulary, the cleaning report and the row groups' bounds of a corpus."""
    encode = ItemCoder()
    keep = None
    if min_count > 1:  # raw counts first: min_count applies before short sessions
        raw = _scan(reader, pieces, encode, None, min_length, collapse_repeats)[0]
        keep = raw >= min_count
    raw, counts, first, stats, pieces = _scan(
        reader, pieces, encode, keep, min_length, collapse_repeats
    )
    n_codes = len(encode)
    raw = grow(raw, n_codes)[:n_codes]
    seen = raw > 0  # codes of unused dictionary entries or dropped rows have no events
    keep = raw >= min_count
    ids = encode.ids()
    del encode  # the vocabulary's own lookup serves the epochs
    counts = grow(counts, n_codes)[:n_codes]
    first = grow(first, n_codes, np.iinfo(np.int64).max)[:n_codes]
    dropped = seen & ~keep
    report = {
        "rows read": stats["rows"],
        "rows with missing or empty item id": stats["item"],
        f"rows with missing {reader.session}": stats["session"],
    }
    if reader.time is not None:
        report[f"rows with missing {reader.time}"] = stats["time"]
    if collapse_repeats:
        report["consecutive repeats collapsed"] = stats["collapsed"]
    report["items dropped by min_count/max_items"] = int(dropped.sum())
    report["events dropped by min_count/max_items"] = int(raw[dropped].sum())
    report[f"sessions shorter than {min_length} dropped"] = stats["short"]
    report[f"events in sessions shorter than {min_length}"] = stats["short_events"]
    present = np.flatnonzero(counts)
    if len(present) == 0:
        raise DataError(
            f"no sessions of length >= {min_length} left after cleaning "
            f"({stats['sessions']} sessions before); report: {report}"
        )
    order = present[np.lexsort((first[present], -counts[present]))]
    vanished = int(keep.sum()) - len(present)
    report["items only in dropped sessions"] = vanished
    report["sessions"] = n_sessions = stats["kept_sessions"]
    report["events"] = n_events = int(counts.sum())
    report["items"] = len(order)
    vocabulary = Vocabulary(
        ids=ids[order],
        counts=counts[order],
        dropped_items=int(dropped.sum()) + vanished,
        dropped_events=int(raw[dropped].sum()),
    )
    return CorpusScan(vocabulary, report, n_sessions, n_events, pieces)


def _scan(
    reader: RowGroupReader,
    pieces: list[Piece],
    encode: Any,
    keep: np.ndarray | None,
    min_length: int,
    collapse_repeats: bool,
) -> tuple:
    """One pass in file order: ``(raw, counts, first, stats, pieces)``: raw and final
    counts and first appearances by item code, what cleaning dropped, and ``pieces`` with
    the session bounds this pass found."""
    raw = np.zeros(0, np.int64)
    counts = np.zeros(0, np.int64)
    first = np.zeros(0, np.int64)
    stats = dict.fromkeys(("rows", "item", "session", "time", "collapsed", "short",
                           "short_events", "sessions", "kept_sessions"), 0)  # fmt: skip
    piece_events = np.zeros(len(pieces), np.int64)
    bounds: list[tuple[Any, Any, bool]] = []
    builder = SessionBuilder(hashed=False)
    position = 0

    def take(block: Block | None) -> None:
        nonlocal raw, counts, first, position
        if block is None:
            return
        items, sid = order_and_collapse(block, collapse_repeats)
        stats["collapsed"] += len(block.items) - len(items)
        u, c = np.unique(items, return_counts=True)
        raw = grow(raw, int(u[-1]) + 1)
        raw[u] += c
        if keep is not None:
            k = grow(keep, int(u[-1]) + 1, False)[items]
            items, sid = items[k], sid[k]
        lengths = np.bincount(sid, minlength=len(block.lengths))
        long_ = lengths >= min_length
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

    for k, piece in enumerate(pieces):
        first_key = last_key = None
        head = False
        seen = False
        for rows in reader.read(piece, encode, stats):
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
    return raw, counts, first, stats, with_bounds(pieces, bounds, piece_events)
