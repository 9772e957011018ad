"""Sessions: from an interaction log to a flat, encoded corpus.

A corpus is stored CSR-style, the form the sampler consumes::

    items   int32[n_events]      dense item index of every event, session after session
    offsets int64[n_sessions+1]  session s is items[offsets[s]:offsets[s+1]]

Item ids keep the type they had in the log: strings stay strings (``"00123"`` too); integer
ids stay int64; float columns holding whole numbers (e.g. integer ids next to NaN) become
int64. Everything else (mixed columns, non-whole floats, integers beyond int64) is compared
as strings, so ``1`` and ``"1"`` in one column are the same item.

Missing ids (NaN, None, empty or blank strings) are dropped and counted in ``report``.
The :class:`~item2vec.data.vocabulary.Vocabulary` (re-exported here) maps ids to rows.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from ..checks import check_int
from ..exceptions import DataError, ParameterError
from .columns import (
    arrow_nullable_int,
    check_path,
    csv_header,
    factorize_ids,
    missing_ids,
    needed_columns,
    normalize_ids,
    parse_gap,
    parse_time,
    separator_hint,
)
from .vocabulary import Vocabulary

__all__ = ["Vocabulary", "Sessions", "normalize_ids"]

#: Missing-value markers of a CSV time column (pandas' defaults); id columns use only "".
_CSV_NA = ("", "#N/A", "#NA", "N/A", "NA", "<NA>", "NULL", "NaN", "-NaN", "nan", "-nan", "None",
           "n/a", "null")  # fmt: skip


def _report_text(report: dict[str, int]) -> str:
    """A cleaning report on one line, without its zero counts (for error messages)."""
    return ", ".join(f"{k!r}: {v}" for k, v in report.items() if v)


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
        """Rows of session ``s`` (negative counts from the end, like a list)."""
        n = len(self)
        if not -n <= s < n:
            raise IndexError(f"session {s} out of range for {n} sessions")
        s = s % n
        return self.items[self.offsets[s] : self.offsets[s + 1]]

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self.items[a:b] for a, b in zip(self.offsets[:-1], self.offsets[1:], strict=True))

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

    def subset(self, sessions: Any) -> Sessions:
        """A new corpus with the given sessions (indices or a boolean mask), same vocabulary."""
        sessions = np.asarray(sessions)
        if sessions.dtype == bool:
            if sessions.shape != (len(self),):
                raise IndexError(f"boolean mask needs {len(self)} values, got {sessions.shape}")
            sessions = np.flatnonzero(sessions)
        if sessions.size and sessions.dtype.kind not in "iu":
            raise IndexError(f"session indices must be integers, got dtype {sessions.dtype}")
        sessions = sessions.astype(np.int64).ravel()
        if sessions.size and (sessions.min() < -len(self) or sessions.max() >= len(self)):
            raise IndexError(f"session indices out of range for {len(self)} sessions")
        sessions = sessions % max(len(self), 1)
        lengths = self.lengths[sessions]
        offsets = np.zeros(len(sessions) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        starts = self.offsets[sessions]
        idx = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
        return Sessions(self.items[idx], offsets, self.vocabulary, self.report)

    def restrict(
        self, *, min_count: int = 1, max_items: int | None = None, min_length: int = 2
    ) -> Sessions:
        """A new corpus without rare items, as if built with these options (new row numbers).

        Items seen fewer than ``min_count`` times (or beyond the ``max_items`` most frequent)
        leave their sessions, then sessions shorter than ``min_length`` are dropped and the
        vocabulary is compacted. ``report`` gains ``"restrict: ..."`` entries.
        """
        check_int("min_length", min_length, 1)
        new_session = np.zeros(self.n_events, dtype=bool)
        new_session[self.offsets[:-1][self.lengths > 0]] = True
        report: dict[str, int] = {}
        try:
            out = type(self)._finish(
                self.items, self.vocabulary.ids, new_session, report, min_count, max_items,
                min_length,
            )  # fmt: skip
        except DataError as e:
            raise ParameterError(
                f"min_count={min_count}, max_items={max_items}, min_length={min_length} leave "
                f"nothing of {len(self)} sessions: {e}"
            ) from None
        v, before = out.vocabulary, self.vocabulary
        out.vocabulary = replace(
            v,
            dropped_items=v.dropped_items + before.dropped_items,
            dropped_events=v.dropped_events + before.dropped_events,
        )
        totals = ("sessions", "events", "items")  # these describe the new corpus
        steps = {f"restrict: {k}": n for k, n in report.items() if k not in totals}
        out.report = {**self.report, **steps, **{k: report[k] for k in totals}}
        return out

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
    def from_lists(cls, sessions: Iterable[Iterable[Hashable]], **kwargs: Any) -> Sessions:
        """Build from an iterable of item-id sequences, one per session."""
        if isinstance(sessions, str | bytes):
            raise DataError("from_lists needs an iterable of sessions, got a single string")
        sess: list[int] = []
        items: list = []
        for s, seq in enumerate(sessions):
            if isinstance(seq, str | bytes) or not isinstance(seq, Iterable):
                raise DataError(
                    f"session {s} must be a sequence of item ids, got {type(seq).__name__} "
                    f"{seq!r:.40}"
                )
            seq = list(seq)
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
        time : optional column to order events within a session (stable: equal times keep
            row order); without it the row order of ``df`` is kept. Datetimes, strings that
            parse as datetimes (time zones are converted to UTC), or numbers. Sessions come
            in the order of their first row.
        user : column to group by when there is no ``session`` column; with ``gap``,
            a user's events are split into sessions wherever consecutive events are more
            than ``gap`` apart (a ``pd.Timedelta``, a string such as ``"30min"``, or a
            number for numeric time columns).
        gap : see ``user``; also splits ``session`` groups when given. Needs ``time``.
        min_count : items seen fewer times are dropped from the sessions (and counted).
        max_items : keep only the most frequent items.
        min_length : sessions shorter than this after cleaning are dropped (and counted).
        collapse_repeats : merge consecutive repeats of the same item within a session
            into one event (before ``min_count``).
        """
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"expected a pandas DataFrame, got {type(df).__name__}")
        check_int("min_count", min_count, 1)
        check_int("min_length", min_length, 1)
        if max_items is not None:
            check_int("max_items", max_items, 1)
        if not isinstance(collapse_repeats, bool | np.bool_):
            raise ParameterError(
                f"collapse_repeats must be True or False, got {collapse_repeats!r}"
            )
        group = session if session is not None else user
        if group is None:
            raise DataError("give a session column (session=...) or a user column (user=...)")
        if len(df) == 0:
            raise DataError(f"the log is empty (0 rows; columns: {list(df.columns)})")
        roles = {"session": session, "item": item, "time": time, "user": user}
        needed_columns(df.columns, **roles)
        if gap is not None and time is None:
            raise DataError(f"gap={gap!r} needs a time column (time=...)")

        report: dict[str, int] = {"rows read": len(df)}
        bad_item = missing_ids(df[item])
        report["rows with missing or empty item id"] = int(bad_item.sum())
        bad_group = missing_ids(df[group]) & ~bad_item
        report[f"rows with missing {group}"] = int(bad_group.sum())
        keep = ~(bad_item | bad_group)
        if time is not None:
            t = parse_time(df[time], time)
            max_step = None if gap is None else parse_gap(gap, t)
            bad_time = np.zeros(len(t), bool) if t.dtype.kind in "iu" else pd.isna(t)
            report[f"rows with missing {time}"] = int((bad_time & keep).sum())
            keep &= ~bad_time
        if not keep.any():
            raise DataError(f"no rows left after dropping missing values ({_report_text(report)})")

        groups = factorize_ids(df[group].to_numpy()[keep], group)[0]
        item_values = normalize_ids(df[item][keep], item)
        if time is not None:
            t = t[keep]
            order = np.lexsort((t, groups))  # lexsort is stable: ties keep row order
        else:
            order = np.argsort(groups, kind="stable")
        groups, item_values = groups[order], item_values[order]
        new_session = np.ones(len(groups), dtype=bool)
        new_session[1:] = groups[1:] != groups[:-1]
        if gap is not None:
            t = t[order]
            step = np.diff(t)  # a negative step inside a session: int64 overflow, a split
            new_session[1:] |= (step > max_step) | (step < step.dtype.type(0))
        codes, uniques = factorize_ids(item_values, item)
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
        vocab, rows = Vocabulary.from_codes(
            codes, uniques, min_count=min_count, max_items=max_items
        )
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
            longest = int(lengths.max()) if len(lengths) else 0
            raise DataError(
                f"no sessions of length >= {min_length} left after cleaning ({n_sessions:,} "
                f"sessions before; the longest has {longest:,} events): lower min_length"
            )
        lengths = lengths[long_enough]
        # compact the vocabulary to items that still occur: descending final count,
        # ties by first appearance in the final corpus
        counts = np.bincount(rows, minlength=len(vocab))
        first = np.full(len(vocab), len(rows), np.int64)
        np.minimum.at(first, rows, np.arange(len(rows)))
        present = np.flatnonzero(counts)
        counts = counts[present]
        order = np.lexsort((first[present], -counts))
        remap = np.full(len(vocab), -1, np.int32)
        remap[present[order]] = np.arange(len(order), dtype=np.int32)
        vanished = len(vocab) - len(present)
        report["items only in dropped sessions"] = int(vanished)
        final_vocab = Vocabulary(
            ids=vocab.ids[present[order]],
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
        sep: str | None = None,
        read_csv_kwargs: dict | None = None,
        **kwargs: Any,
    ) -> Sessions:
        """Read the needed columns of a CSV file and call :meth:`from_frame`.

        Id columns are read verbatim as strings: ``"00123"`` stays ``"00123"``, and only an
        empty field is a missing id (``"NA"`` or ``"null"`` are ids like any other).
        ``sep`` is the field separator (default ``","``, tab for ``.tsv``); a file whose
        header holds one column with ``;``, tab or ``|`` in it is refused with a hint.
        Column names with spaces around them (``user_id, item_id``) are trimmed, with a
        warning; when the header has spaces after its separators, they are skipped in every
        field (``skipinitialspace``), ids included. ``read_csv_kwargs`` go to
        :func:`pandas.read_csv` (``encoding``, ...).
        """
        path = check_path(path, (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz"), "from_csv")
        opts = dict(read_csv_kwargs or {})
        for key in ("usecols", "nrows", "iterator", "chunksize"):
            if key in opts:
                raise ParameterError(f"read_csv_kwargs may not set {key!r} (got {opts[key]!r})")
        if sep is not None:
            if not isinstance(sep, str) or not sep:
                raise ParameterError(f"sep must be a non-empty string, got {sep!r}")
            if opts.get("sep", sep) != sep or "delimiter" in opts:
                raise ParameterError("give the separator once: sep= or read_csv_kwargs, not both")
            opts["sep"] = sep
        if path.lower().endswith((".tsv", ".tsv.gz")):
            opts.setdefault("sep", "\t")
        dtype = opts.pop("dtype", {})
        if not isinstance(dtype, dict):
            raise ParameterError(f"read_csv_kwargs dtype must be a dict per column, got {dtype!r}")
        roles = {"session": session, "item": item, "time": time, "user": user}
        try:
            names, original = csv_header(path, opts)
            try:
                cols = needed_columns(names, **roles)
            except DataError as e:
                raise DataError(f"{e}{separator_hint(names, opts.get('sep', ','))}") from None
            ids = [original[c] for c in (session, item, user) if c is not None]
            if "na_values" not in opts and "keep_default_na" not in opts:
                na = {c: [""] for c in ids}  # ids: only an empty field is missing
                if time is not None and original[time] not in na:
                    na[original[time]] = list(_CSV_NA)
                opts.update(keep_default_na=False, na_values=na)
            dtype = {**dtype, **dict.fromkeys(ids, str)}
            df = pd.read_csv(path, usecols=[original[c] for c in cols], dtype=dtype, **opts)
            df = df.rename(columns={original[c]: c for c in cols})
        except (DataError, ParameterError):
            raise
        except TypeError as e:  # an unknown or ill-typed read_csv argument
            raise ParameterError(f"read_csv_kwargs {sorted(opts)} rejected: {e}") from e
        except (ValueError, UnicodeDecodeError, OSError, EOFError) as e:  # ParserError too
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
        not become millions of Python strings; integer columns with nulls stay integers.
        """
        import pyarrow as pa
        import pyarrow.dataset as ds

        path = check_path(path, (".parquet", ".pq"), "from_parquet", allow_dir=True)
        try:
            dataset = ds.dataset(path, format="parquet", partitioning="hive")
            if not dataset.files:
                raise DataError(f"no Parquet files in the directory {path}")
            cols = needed_columns(
                dataset.schema.names, session=session, item=item, time=time, user=user
            )
            table = dataset.to_table(columns=cols)
            for name in (session, item, user):
                typ = table.schema.field(name).type if name is not None else None
                if typ is not None and (pa.types.is_string(typ) or pa.types.is_large_string(typ)):
                    i = table.schema.get_field_index(name)
                    table = table.set_column(i, name, table.column(name).dictionary_encode())
            df = table.to_pandas(types_mapper=arrow_nullable_int)
        except DataError:
            raise
        except (pa.ArrowException, OSError, ValueError, TypeError) as e:
            raise DataError(f"cannot read {path} as Parquet: {e}") from e
        return cls.from_frame(df, session=session, item=item, time=time, user=user, **kwargs)
