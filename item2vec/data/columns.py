"""Column-level parsing shared by the log readers: ids, times, gaps, missing values, paths.

Used by :mod:`item2vec.data.sessions` (in-memory logs) and :mod:`item2vec.sampling.corpus`
(logs streamed from Parquet), so both read a log the same way.
"""

from __future__ import annotations

import difflib
import os
import warnings
from collections.abc import Hashable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import DataError, ParameterError

__all__ = [
    "arrow_nullable_int",
    "check_path",
    "csv_header",
    "factorize_ids",
    "missing_ids",
    "needed_columns",
    "normalize_ids",
    "parse_gap",
    "parse_time",
    "separator_hint",
]

_INT64_LIMIT = 2.0**63


def normalize_ids(values: Any, name: Hashable = "item") -> np.ndarray:
    """Item ids (no missing values) as a 1-D int64 array or an object array of ``str``."""
    s = pd.Series(values)
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(s.cat.categories.dtype)
    if s.dtype == object:
        kinds = set(map(type, s.tolist()))
        if any(issubclass(k, list | tuple | dict | set | frozenset | np.ndarray) for k in kinds):
            raise DataError(f"column {name!r} holds containers (lists, ...), not item ids")
        s = s.infer_objects()
    kind = s.dtype.kind
    if kind == "u" and len(s) and s.max() >= _INT64_LIMIT:
        kind = "too large"
    if kind in "iu":
        return s.to_numpy(np.int64)
    if kind == "f":
        v = s.to_numpy(np.float64)
        if np.all(np.isfinite(v)) and np.all(v == np.round(v)) and np.all(np.abs(v) < _INT64_LIMIT):
            return v.astype(np.int64)
    if s.dtype == object:  # mixed: str() each, bytes as UTF-8 where they are
        text = [v.decode(errors="backslashreplace") if isinstance(v, bytes) else str(v) for v in s]
        return np.array(text, dtype=object)
    return s.astype(str).to_numpy(object)


def arrow_nullable_int(typ: Any) -> Any:
    """pandas nullable integer dtype for an Arrow integer type (no float detour for nulls)."""
    import pyarrow as pa

    if pa.types.is_integer(typ):
        return pd.api.types.pandas_dtype(
            f"{'U' if pa.types.is_unsigned_integer(typ) else ''}Int{typ.bit_width}"
        )
    return None


def needed_columns(header: Iterable[Hashable], **roles: Hashable | None) -> list:
    """The columns given for ``roles``, checked to exist once in ``header``."""
    header = list(header)
    names = [str(h) for h in header]
    cols: list = []
    for role, col in roles.items():
        if col is None:
            continue
        if col not in header:
            close = difflib.get_close_matches(str(col), names, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            present = ", ".join(names) if names else "none (the file has no header)"
            raise DataError(f"{role} column {col!r} not found; columns present: {present}{hint}")
        if header.count(col) > 1:
            raise DataError(f"{role} column {col!r} appears {header.count(col)} times")
        if col not in cols:
            cols.append(col)
    return cols


def csv_header(path: str, opts: dict, *, warn: bool = True) -> tuple[list, dict]:
    """The column names of a CSV file, trimmed of surrounding spaces, and the name each has
    in the file. Spaces after the separators of the header turn on ``skipinitialspace``
    (in ``opts``) unless the caller set it; any trimming is reported by a warning (unless
    not ``warn``)."""
    header = list(pd.read_csv(path, nrows=0, **opts).columns)
    padded = [h for h in header if isinstance(h, str) and h != h.strip()]
    if not padded:
        return header, {h: h for h in header}
    skipped = "skipinitialspace" not in opts and any(h != h.lstrip() for h in padded)
    if skipped:
        opts["skipinitialspace"] = True
        header = list(pd.read_csv(path, nrows=0, **opts).columns)
    names = [h.strip() if isinstance(h, str) else h for h in header]
    if len(set(names)) < len(names):  # trimming would merge two columns: keep them apart
        return header, {h: h for h in header}
    if warn:
        warnings.warn(
            f"column names with spaces around them were trimmed ("
            f"{', '.join(map(repr, padded))} -> {', '.join(repr(h.strip()) for h in padded)})"
            + ("; spaces after each separator are skipped in every field" if skipped else ""),
            UserWarning,
            stacklevel=3,
        )
    return names, dict(zip(names, header, strict=True))


def separator_hint(names: list, sep: str) -> str:
    """A hint when a one-column header looks separated by something other than ``sep``."""
    if len(names) != 1:
        return ""
    for other in (";", "\t", "|", ","):
        if other != sep and other in str(names[0]):
            return f"; the header looks {other!r}-separated: pass sep={other!r}"
    return ""


def missing_ids(col: pd.Series) -> np.ndarray:
    """True where an id is missing: NaN/None/NA, or a string that is empty or blank."""
    bad = col.isna().to_numpy(dtype=bool, copy=True)
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy()
        blank = np.append(missing_ids(pd.Series(col.cat.categories)), False)
        return bad | blank[codes]  # code -1 (missing) reads the appended False
    if isinstance(col.dtype, pd.StringDtype):
        return bad | col.str.strip().eq("").to_numpy(dtype=bool, na_value=False)
    if col.dtype.kind in "OSU":
        is_blank = np.frompyfunc(lambda v: isinstance(v, str) and not v.strip(), 1, 1)
        bad |= is_blank(col.to_numpy(object)).astype(bool)
    return bad


def factorize_ids(values: np.ndarray, name: Hashable) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize`` in order of appearance; unhashable values become a DataError."""
    try:
        codes, uniques = pd.factorize(values, sort=False)
    except TypeError as e:
        raise DataError(f"column {name!r} holds values that cannot be ids: {e}") from e
    uniques = np.asarray(uniques)
    return codes, uniques if uniques.dtype.kind in "iu" else uniques.astype(object)


def check_path(
    path: str | os.PathLike, suffixes: tuple[str, ...], reader: str, allow_dir: bool = False
) -> str:
    p = os.fspath(path)
    if not isinstance(p, str):
        p = os.fsdecode(p)
    if allow_dir and os.path.isdir(p):
        return p
    if not os.path.exists(p):
        raise DataError(f"file not found: {p}")
    if not os.path.isfile(p) or not os.access(p, os.R_OK):
        raise DataError(f"cannot read {p}: not a readable file")
    if not p.lower().endswith(suffixes):
        other = "from_parquet" if reader == "from_csv" else "from_csv"
        raise DataError(
            f"unsupported file type for {reader}: {p} (expected {', '.join(suffixes)}; "
            f"see Sessions.{other}, or convert the file, e.g. Excel with pandas.read_excel "
            "and Sessions.from_frame)"
        )
    return p


def parse_time(col: pd.Series, name: Hashable) -> np.ndarray:
    """Time column as int64, float64 (NaN: missing), datetime64 or timedelta64 (NaT: missing).

    Datetimes keep their resolution (no silent overflow of dates far from 1970); time
    zones are converted to UTC.
    """
    if col.dtype == object:
        col = col.infer_objects()
    if col.dtype.kind == "b":
        raise DataError(f"time column {name!r} holds booleans, not timestamps")
    if col.dtype.kind in "iu" and not col.hasnans:
        return col.to_numpy(np.int64)
    if col.dtype.kind in "iuf":
        return col.to_numpy(np.float64, na_value=np.nan)
    if col.dtype.kind in "mM":
        s = col
    else:
        try:
            s = pd.to_datetime(col, errors="raise", format="mixed", utc=True)
        except (ValueError, TypeError, OverflowError, NotImplementedError) as e:
            raise DataError(f"time column {name!r} has values that are not timestamps: {e}") from e
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    return s.to_numpy()


def parse_gap(gap: Any, t: np.ndarray) -> Any:
    """``gap`` in the unit of ``t``; refuses a bare number for datetime times (ambiguous)."""
    if t.dtype.kind in "mM":
        unit = np.datetime_data(t.dtype)[0]
        if _is_plain_number(gap) or (isinstance(gap, str) and _is_number(gap)):
            raise ParameterError(
                f"gap must be a duration such as '30min' or pd.Timedelta(minutes=30) for the "
                f"datetime column, got {gap!r} (a bare number has no unit)"
            )
        try:
            g = pd.Timedelta(gap)
        except (ValueError, TypeError) as e:
            raise ParameterError(f"gap must be a duration such as '30min', got {gap!r}") from e
        if pd.isna(g) or g <= pd.Timedelta(0):
            raise ParameterError(f"gap must be a positive duration, got {gap!r}")
        return np.timedelta64(g.value, "ns").astype(f"m8[{unit}]")
    if isinstance(gap, str) and _is_number(gap):
        gap = float(gap)
    if isinstance(gap, bool) or not _is_plain_number(gap) or not gap > 0:
        raise ParameterError(
            f"gap must be a positive number for a numeric time column, got {gap!r}"
        )
    return gap


def _is_plain_number(value: Any) -> bool:
    """int, float or a numpy number, but not a np.timedelta64 (a numpy integer too)."""
    return isinstance(value, int | float | np.number) and not isinstance(value, np.timedelta64)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
