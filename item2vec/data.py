"""Sessions and vocabulary: from an interaction log to a flat, encoded corpus.

A corpus is stored CSR-style, the form the sampler consumes::

    items   int32[n_events]      dense item index of every event, session after session
    offsets int64[n_sessions+1]  session s is items[offsets[s]:offsets[s+1]]

Item ids keep the type they had in the log (strings stay strings; integer ids stay integers;
float columns holding whole numbers, e.g. ids read next to NaN, become integers). Mixed
columns are compared as strings.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .exceptions import DataError, ParameterError, UnknownItemError

__all__ = ["Vocabulary", "Sessions", "normalize_ids"]


def normalize_ids(values: Any) -> np.ndarray:
    """Return item ids as a 1-D array of int64 (integer-like ids) or Python str objects."""
    arr = pd.Series(values)
    if arr.dtype.kind in "iu":
        return arr.to_numpy(np.int64)
    if arr.dtype.kind == "b":
        return arr.astype(str).to_numpy(object)
    if arr.dtype.kind == "f":
        vals = arr.to_numpy(np.float64)
        if np.all(np.isfinite(vals)) and np.all(vals == np.round(vals)):
            return vals.astype(np.int64)
    return arr.astype(str).to_numpy(object)


@dataclass(frozen=True)
class Vocabulary:
    """Item id <-> dense row index, with the count of each item in the corpus.

    Rows are ordered by descending count (ties by order of first appearance), so row 0 is
    the most frequent item. The embedding table has exactly ``len(vocabulary)`` rows.

    Attributes
    ----------
    ids : ndarray, shape (n_items,)
        Item id of each row (int64 or object array of str).
    counts : ndarray of int64, shape (n_items,)
        Occurrences of each item in the training corpus.
    dropped_items, dropped_events : int
        Items (and their events) removed by ``min_count`` / ``max_items``.
    """

    ids: np.ndarray
    counts: np.ndarray
    dropped_items: int = 0
    dropped_events: int = 0
    _lookup: dict = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.counts):
            raise DataError(
                f"vocabulary ids and counts differ in length: {len(self.ids)} != {len(self.counts)}"
            )
        object.__setattr__(self, "counts", np.asarray(self.counts, dtype=np.int64))
        object.__setattr__(self, "_lookup", {k: i for i, k in enumerate(self.ids.tolist())})
        if len(self._lookup) != len(self.ids):
            raise DataError("vocabulary ids are not unique")

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, item: Hashable) -> bool:
        return self._key(item) in self._lookup

    @property
    def is_numeric(self) -> bool:
        return self.ids.dtype.kind in "iu"

    def _key(self, item: Hashable) -> Hashable:
        if self.is_numeric:
            if isinstance(item, str):
                try:
                    return int(item)
                except ValueError:
                    return item
            if isinstance(item, float | np.floating) and float(item).is_integer():
                return int(item)
            if isinstance(item, np.integer):
                return int(item)
            return item
        return item if isinstance(item, str) else str(item)

    def index(self, item: Hashable) -> int:
        """Row of one item; raises :class:`UnknownItemError` naming it (and a close id)."""
        key = self._key(item)
        try:
            return self._lookup[key]
        except KeyError:
            raise UnknownItemError(self._unknown_message(item)) from None

    def _unknown_message(self, item: Hashable) -> str:
        import difflib

        msg = f"unknown item {item!r}: not in the vocabulary of {len(self)} items"
        if not self.is_numeric and len(self) <= 200_000:
            close = difflib.get_close_matches(str(item), self.ids.tolist(), n=1, cutoff=0.6)
            if close:
                msg += f"; did you mean {close[0]!r}?"
        return msg

    def encode(self, items: Iterable[Hashable], *, missing: str = "raise") -> np.ndarray:
        """Rows of many items as int32. ``missing="raise"`` or ``"ignore"`` (gives -1)."""
        rows = []
        for it in items:
            key = self._key(it)
            row = self._lookup.get(key, -1)
            if row < 0 and missing == "raise":
                raise UnknownItemError(self._unknown_message(it))
            rows.append(row)
        return np.asarray(rows, dtype=np.int32)

    def decode(self, rows: np.ndarray) -> np.ndarray:
        """Item ids of rows (any shape)."""
        return self.ids[np.asarray(rows)]

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
        _check_int("min_count", min_count, 1)
        if max_items is not None:
            _check_int("max_items", max_items, 1)
        counts = np.bincount(codes, minlength=len(uniques)).astype(np.int64)
        # descending count, ties by first appearance (codes are in appearance order)
        order = np.lexsort((np.arange(len(counts)), -counts))
        keep = order[counts[order] >= min_count]
        if max_items is not None:
            keep = keep[:max_items]
        row_of_code = np.full(len(uniques), -1, dtype=np.int32)
        row_of_code[keep] = np.arange(len(keep), dtype=np.int32)
        kept_events = int(counts[keep].sum())
        vocab = cls(
            ids=np.asarray(uniques)[keep],
            counts=counts[keep],
            dropped_items=int(len(uniques) - len(keep)),
            dropped_events=int(len(codes) - kept_events),
        )
        return vocab, row_of_code[codes]


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ParameterError(f"{name} must be an integer >= {minimum}, got {value!r}")


class Sessions:
    """An encoded corpus of sessions (baskets, playlists, customer histories).

    Build one with :meth:`from_frame`, :meth:`from_csv`, :meth:`from_parquet` or
    :meth:`from_lists`. ``report`` counts everything that was dropped on the way and why.

    Attributes
    ----------
    items : ndarray of int32, shape (n_events,)
    offsets : ndarray of int64, shape (n_sessions + 1,)
    vocabulary : Vocabulary
    report : dict[str, int]
    """

    def __init__(
        self,
        items: np.ndarray,
        offsets: np.ndarray,
        vocabulary: Vocabulary,
        report: dict[str, int] | None = None,
    ) -> None:
        items = np.ascontiguousarray(items, dtype=np.int32)
        offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        if offsets.ndim != 1 or len(offsets) < 1 or offsets[0] != 0 or offsets[-1] != len(items):
            raise DataError("offsets must start at 0 and end at len(items)")
        if np.any(np.diff(offsets) < 0):
            raise DataError("offsets must be non-decreasing")
        if len(items) and (items.min() < 0 or items.max() >= len(vocabulary)):
            raise DataError("item indices out of range of the vocabulary")
        self.items = items
        self.offsets = offsets
        self.vocabulary = vocabulary
        self.report: dict[str, int] = dict(report or {})

    # ----------------------------------------------------------------- basic views
    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_events(self) -> int:
        return len(self.items)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __getitem__(self, s: int) -> np.ndarray:
        return self.items[self.offsets[s] : self.offsets[s + 1]]

    def __repr__(self) -> str:
        return (
            f"Sessions(n_sessions={len(self)}, n_events={self.n_events}, "
            f"n_items={len(self.vocabulary)})"
        )

    def to_lists(self) -> list[list]:
        """Sessions as Python lists of original item ids (for gensim and small data only)."""
        ids = self.vocabulary.ids[self.items].tolist()
        o = self.offsets.tolist()
        return [ids[o[i] : o[i + 1]] for i in range(len(self))]

    def subset(self, sessions: np.ndarray) -> Sessions:
        """A new corpus with the given sessions (indices), same vocabulary."""
        sessions = np.asarray(sessions, dtype=np.int64)
        lengths = self.lengths[sessions]
        offsets = np.zeros(len(sessions) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        starts = self.offsets[sessions]
        idx = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
        return Sessions(self.items[idx], offsets, self.vocabulary, self.report)

    def describe(self) -> str:
        """A human-readable summary: sizes, length distribution, cleaning report."""
        lengths = self.lengths
        q = np.percentile(lengths, [0, 25, 50, 75, 90, 99, 100]) if len(lengths) else [0] * 7
        lines = [
            f"sessions        {len(self):,}",
            f"events          {self.n_events:,}",
            f"items           {len(self.vocabulary):,}",
            "session length  min {:.0f} | p25 {:.0f} | median {:.0f} | p75 {:.0f} | "
            "p90 {:.0f} | p99 {:.0f} | max {:.0f}".format(*q),
            f"mean length     {lengths.mean() if len(lengths) else 0:.2f}",
        ]
        if self.report:
            lines.append("cleaning report")
            width = max(len(k) for k in self.report)
            lines += [f"  {k:<{width}}  {v:,}" for k, v in self.report.items()]
        return "\n".join(lines)

    # ----------------------------------------------------------------- constructors
    @classmethod
    def from_lists(cls, sessions: Iterable[Sequence[Hashable]], **kwargs: Any) -> Sessions:
        """Build from an iterable of item-id sequences, one per session."""
        sess, items = [], []
        for s, seq in enumerate(sessions):
            items.extend(seq)
            sess.extend([s] * len(seq))
        df = pd.DataFrame({"session": np.asarray(sess, np.int64), "item": pd.Series(items)})
        return cls.from_frame(df, session="session", item="item", **kwargs)

    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        *,
        session: str | None = None,
        item: str,
        time: str | None = None,
        user: str | None = None,
        gap: Any = None,
        min_count: int = 1,
        max_items: int | None = None,
        min_length: int = 2,
        collapse_repeats: bool = False,
    ) -> Sessions:
        """Group a log into sessions.

        Parameters
        ----------
        df : DataFrame, one row per event.
        session : column that identifies a session (basket, order, playlist).
        item : column with the item id.
        time : optional column to order events within a session (stable for ties);
            without it, the row order of ``df`` is kept.
        user : column to group by when there is no ``session`` column; with ``gap``,
            a user's events are split into sessions wherever consecutive events are more
            than ``gap`` apart (a ``pd.Timedelta``, a string such as ``"30min"``, or a
            number for numeric time columns).
        gap : see ``user``; also splits ``session`` groups when given. Needs ``time``.
        min_count : items seen fewer times are dropped from the sessions (and counted).
        max_items : keep only the most frequent items.
        min_length : sessions shorter than this after cleaning are dropped (and counted).
        collapse_repeats : merge consecutive repeats of the same item into one event.
        """
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"expected a pandas DataFrame, got {type(df).__name__}")
        _check_int("min_length", min_length, 1)
        group = session if session is not None else user
        if group is None:
            raise DataError("give a session column (session=...) or a user column (user=...)")
        wanted = {"session": session, "item": item, "time": time, "user": user}
        for role, col in wanted.items():
            if col is not None and col not in df.columns:
                raise DataError(
                    f"{role} column {col!r} not found; columns present: "
                    f"{', '.join(map(str, df.columns))}"
                )
        if gap is not None and time is None:
            raise DataError("gap needs a time column (time=...)")
        if len(df) == 0:
            raise DataError("the log is empty (0 rows)")

        report: dict[str, int] = {"rows read": len(df)}
        item_col = df[item]
        bad_item = item_col.isna().to_numpy().copy()
        if item_col.dtype.kind in "OSUT" or str(item_col.dtype) in ("str", "string"):
            bad_item |= item_col.astype(str).str.strip().eq("").to_numpy() & ~bad_item
        report["rows with missing or empty item id"] = int(bad_item.sum())
        bad_group = df[group].isna().to_numpy().copy()
        report[f"rows with missing {group}"] = int((bad_group & ~bad_item).sum())
        keep = ~(bad_item | bad_group)
        t = None
        if time is not None:
            t = _parse_time(df[time], time)
            bad_time = np.isnan(t) if t.dtype.kind == "f" else np.isnat(t)
            report[f"rows with missing {time}"] = int((bad_time & keep).sum())
            keep &= ~bad_time
        if not keep.any():
            raise DataError(f"no rows left after dropping missing ids: {report}")

        groups = pd.factorize(df[group].to_numpy()[keep], sort=False)[0]
        item_values = normalize_ids(item_col.to_numpy()[keep])
        if t is not None:
            t = t[keep]
            order = np.lexsort((t, groups))  # stable: ties keep row order
        else:
            order = np.argsort(groups, kind="stable")
        groups, item_values = groups[order], item_values[order]
        new_session = np.ones(len(groups), dtype=bool)
        new_session[1:] = groups[1:] != groups[:-1]
        if gap is not None:
            t = t[order]
            g = _parse_gap(gap, t)
            if t.dtype.kind == "M":
                diff = np.diff(t).astype("timedelta64[ns]")
            else:
                diff = np.diff(t)
            new_session[1:] |= diff > g
        codes, uniques = pd.factorize(item_values, sort=False)
        uniques = np.asarray(uniques)
        if uniques.dtype.kind not in "iu":
            uniques = uniques.astype(object)
        if collapse_repeats:
            rep = np.zeros(len(codes), dtype=bool)
            rep[1:] = (codes[1:] == codes[:-1]) & ~new_session[1:]
            report["consecutive repeats collapsed"] = int(rep.sum())
            codes, new_session = codes[~rep], new_session[~rep]
        return cls._finish(codes, uniques, new_session, report, min_count, max_items, min_length)

    @classmethod
    def _finish(
        cls,
        codes: np.ndarray,
        uniques: np.ndarray,
        new_session: np.ndarray,
        report: dict[str, int],
        min_count: int,
        max_items: int | None,
        min_length: int,
    ) -> Sessions:
        """Vocabulary, min_count, short-session removal and compaction."""
        vocab, rows = Vocabulary.from_codes(codes, uniques, min_count=min_count, max_items=max_items)
        report["items dropped by min_count/max_items"] = vocab.dropped_items
        report["events dropped by min_count/max_items"] = vocab.dropped_events
        session_no = np.cumsum(new_session) - 1
        kept = rows >= 0
        rows, session_no = rows[kept], session_no[kept]
        n_sessions = int(new_session.sum())
        lengths = np.bincount(session_no, minlength=n_sessions)
        long_enough = lengths >= min_length
        report[f"sessions shorter than {min_length} dropped"] = int((~long_enough).sum())
        ev_keep = long_enough[session_no]
        report[f"events in sessions shorter than {min_length}"] = int((~ev_keep).sum())
        rows = rows[ev_keep]
        if len(rows) == 0:
            raise DataError(
                f"no sessions of length >= {min_length} left after cleaning "
                f"({n_sessions} sessions before); report: {report}"
            )
        lengths = lengths[long_enough]
        # compact the vocabulary to items that still occur
        counts = np.bincount(rows, minlength=len(vocab))
        present = np.flatnonzero(counts)
        vanished = len(vocab) - len(present)
        report["items only in dropped sessions"] = int(vanished)
        remap = np.full(len(vocab), -1, np.int32)
        # keep descending-count order on the final counts (stable: ties keep old order)
        order = present[np.argsort(-counts[present], kind="stable")]
        remap[order] = np.arange(len(order), dtype=np.int32)
        final_vocab = Vocabulary(
            ids=vocab.ids[order],
            counts=counts[order],
            dropped_items=vocab.dropped_items + vanished,
            dropped_events=vocab.dropped_events,
        )
        offsets = np.zeros(len(lengths) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        report["sessions"] = len(lengths)
        report["events"] = int(offsets[-1])
        report["items"] = len(final_vocab)
        return cls(remap[rows], offsets, final_vocab, report)

    @classmethod
    def from_csv(
        cls,
        path: str | os.PathLike,
        *,
        session: str | None = None,
        item: str,
        time: str | None = None,
        user: str | None = None,
        read_csv_kwargs: dict | None = None,
        **kwargs: Any,
    ) -> Sessions:
        """Read the needed columns of a CSV file and call :meth:`from_frame`.

        Id columns are read as strings, so ``"00123"`` stays ``"00123"``.
        """
        path = _check_path(path, (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz"))
        opts = dict(read_csv_kwargs or {})
        if str(path).endswith((".tsv", ".tsv.gz")):
            opts.setdefault("sep", "\t")
        try:
            header = pd.read_csv(path, nrows=0, **opts).columns
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
            raise DataError(f"cannot read {path} as CSV: {e}") from e
        cols = _needed_columns(header, session=session, item=item, time=time, user=user)
        dtypes = {c: str for c in (session, item, user) if c is not None}
        try:
            df = pd.read_csv(path, usecols=cols, dtype=dtypes, **opts)
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
            raise DataError(f"cannot read {path} as CSV: {e}") from e
        return cls.from_frame(df, session=session, item=item, time=time, user=user, **kwargs)

    @classmethod
    def from_parquet(
        cls,
        path: str | os.PathLike,
        *,
        session: str | None = None,
        item: str,
        time: str | None = None,
        user: str | None = None,
        **kwargs: Any,
    ) -> Sessions:
        """Read only the needed columns of a Parquet file or dataset directory.

        String columns are read dictionary-encoded (categoricals), so millions of rows do
        not become millions of Python strings.
        """
        import pyarrow as pa
        import pyarrow.dataset as ds

        path = _check_path(path, (".parquet", ".pq"), allow_dir=True)
        try:
            dataset = ds.dataset(str(path), format="parquet")
            header = dataset.schema.names
        except (pa.ArrowInvalid, OSError) as e:
            raise DataError(f"cannot read {path} as Parquet: {e}") from e
        cols = _needed_columns(header, session=session, item=item, time=time, user=user)
        try:
            table = dataset.to_table(columns=cols)
        except (pa.ArrowInvalid, OSError) as e:
            raise DataError(f"cannot read {path} as Parquet: {e}") from e
        for name in (session, item, user):
            if name is not None and pa.types.is_string(table.schema.field(name).type):
                i = table.schema.get_field_index(name)
                table = table.set_column(i, name, table.column(name).dictionary_encode())
        df = table.to_pandas()
        return cls.from_frame(df, session=session, item=item, time=time, user=user, **kwargs)


def _needed_columns(header: Sequence[str], **roles: str | None) -> list[str]:
    cols = []
    for role, col in roles.items():
        if col is None:
            continue
        if col not in header:
            raise DataError(
                f"{role} column {col!r} not found; columns present: {', '.join(map(str, header))}"
            )
        if col not in cols:
            cols.append(col)
    return cols


def _check_path(path: str | os.PathLike, suffixes: tuple[str, ...], allow_dir: bool = False):
    p = os.fspath(path)
    if allow_dir and os.path.isdir(p):
        return p
    if not os.path.exists(p):
        raise DataError(f"file not found: {p}")
    if not os.path.isfile(p) or not os.access(p, os.R_OK):
        raise DataError(f"cannot read {p}: not a readable file")
    if not p.lower().endswith(suffixes):
        raise DataError(f"unsupported file type for {p}: expected one of {', '.join(suffixes)}")
    return p


def _parse_time(col: pd.Series, name: str) -> np.ndarray:
    """Time column as datetime64[ns] or float64 (numeric timestamps)."""
    if col.dtype.kind in "iuf":
        return col.to_numpy(np.float64)
    if col.dtype.kind == "M" or isinstance(col.dtype, pd.DatetimeTZDtype):
        s = col
    else:
        try:
            s = pd.to_datetime(col, errors="raise", format="mixed")
        except (ValueError, TypeError) as e:
            raise DataError(f"time column {name!r} has values that are not timestamps: {e}") from e
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    return s.to_numpy("datetime64[ns]")


def _parse_gap(gap: Any, t: np.ndarray) -> Any:
    if t.dtype.kind == "M":
        try:
            g = pd.Timedelta(gap)
        except (ValueError, TypeError) as e:
            raise ParameterError(f"gap must be a duration such as '30min', got {gap!r}") from e
        if pd.isna(g) or g <= pd.Timedelta(0):
            raise ParameterError(f"gap must be a positive duration, got {gap!r}")
        return np.timedelta64(g.value, "ns")
    if isinstance(gap, bool) or not isinstance(gap, int | float) or not gap > 0:
        raise ParameterError(f"gap must be a positive number for a numeric time column, got {gap!r}")
    return float(gap)
