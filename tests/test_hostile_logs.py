"""Hostile logs: whatever comes in is either loaded correctly or refused with an Item2VecError.

"Correctly" means the corpus invariants hold (see ``conftest.check_corpus``) and the
sessions equal a plain pandas/Python reference built from the same rows.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import pytest
from conftest import check_corpus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from item2vec import Item2VecError, Sessions

# HOSTILE_EXAMPLES=2000 pytest tests/test_hostile_logs.py for a longer hunt
SETTINGS = settings(
    max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# printable text of any script (no control characters, no lone surrogates)
TEXT = st.characters(blacklist_categories=("Cs", "Cc"))
ID_TEXT = st.one_of(
    st.sampled_from(["a", "b", "00123", "NA", "null", "1", " a", "é", "商品", "🛒", "nan"]),
    st.text(TEXT, min_size=1, max_size=8),
    st.text(TEXT, min_size=300, max_size=400),  # very long ids
)
ID_INT = st.integers(-(2**63), 2**63 - 1) | st.integers(0, 5)
MISSING = st.sampled_from([None, np.nan, "", "  "])


def is_missing(v) -> bool:
    return (
        v is None
        or (isinstance(v, float) and math.isnan(v))
        or (isinstance(v, str) and not v.strip())
    )


def reference(rows: list[tuple], min_length: int, collapse: bool, as_text=False, gap=None):
    """Sessions from (session, item, time) tuples, written without item2vec's machinery."""
    rows = [r for r in rows if not (is_missing(r[0]) or is_missing(r[1]) or r[2] is None)]
    if not rows:
        return None
    items = [r[1] for r in rows]
    if as_text or not all(isinstance(i, int) for i in items):
        items = [str(i) for i in items]
    df = pd.DataFrame({"s": pd.Series([r[0] for r in rows], dtype=object), "i": items})
    df["order"] = df.groupby("s", sort=False).ngroup()
    df["t"] = [r[2] for r in rows]
    df["pos"] = np.arange(len(df))
    df = df.sort_values(["order", "t", "pos"])
    runs = []
    for _, group in df.groupby("order", sort=True):
        items, times = group["i"].tolist(), group["t"].tolist()
        runs.append([items[0]])
        for k in range(1, len(items)):
            if gap is not None and times[k] - times[k - 1] > gap:
                runs.append([])
            runs[-1].append(items[k])
    out = []
    for seq in runs:
        if collapse:
            seq = [x for k, x in enumerate(seq) if k == 0 or x != seq[k - 1]]
        if len(seq) >= min_length:
            out.append(seq)
    return out or None


@st.composite
def logs(draw, ids=None, sessions=None, times=True):
    n = draw(st.integers(1, 30))
    ids = ids if ids is not None else draw(st.sampled_from([ID_TEXT, ID_INT, ID_TEXT | ID_INT]))
    sessions = (
        sessions
        if sessions is not None
        else draw(st.sampled_from([st.integers(0, 4), st.sampled_from("xyz")]))
    )
    pool = draw(st.lists(ids, min_size=1, max_size=8))  # a small pool makes repeats likely
    rows = []
    for _ in range(n):
        item = draw(st.sampled_from(pool) | MISSING) if draw(st.booleans()) else pool[0]
        session = draw(sessions | st.none()) if draw(st.integers(0, 9)) == 0 else draw(sessions)
        t = draw(st.integers(0, 5) | st.none()) if times else 0
        rows.append((session, item, t))
    rows += rows[: draw(st.integers(0, 3))]  # duplicated rows
    return rows


def expect(build, ref):
    """Either the corpus equals the reference, or an Item2VecError when nothing is left."""
    if ref is None:
        with pytest.raises(Item2VecError):
            build()
        return None
    s = build()
    check_corpus(s)
    assert s.to_lists() == ref
    return s


@SETTINGS
@given(
    rows=logs(),
    min_length=st.integers(1, 3),
    collapse=st.booleans(),
    gap=st.none() | st.integers(1, 3),
)
def test_frames_with_mixed_ids_and_times(rows, min_length, collapse, gap):
    df = pd.DataFrame(
        {
            "s": pd.Series([r[0] for r in rows], dtype=object),
            "i": pd.Series([r[1] for r in rows], dtype=object),
            "t": pd.array([r[2] for r in rows], dtype="Int64"),
        }
    )
    ref = reference(rows, min_length, collapse, gap=gap)
    kw = dict(session="s", item="i", time="t", min_length=min_length, collapse_repeats=collapse)
    kw["gap"] = gap
    s = expect(lambda: Sessions.from_frame(df, **kw), ref)
    if s is not None:
        assert s.report["rows read"] == len(rows)


@SETTINGS
@given(rows=logs(), min_length=st.integers(1, 3))
def test_csv_round_trip_of_hostile_text(rows, min_length, tmp_path_factory):
    path = tmp_path_factory.mktemp("csv") / "log.csv"
    df = pd.DataFrame({"s": [r[0] for r in rows], "i": [r[1] for r in rows]}, dtype=object)
    df["t"] = pd.array([r[2] for r in rows], dtype="Int64")
    df.to_csv(path, index=False)
    # CSV has no types: ids come back as text, and only an empty field is missing
    ref = reference([(_csv(r[0]), _csv(r[1]), r[2]) for r in rows], min_length, False, True)
    expect(
        lambda: Sessions.from_csv(path, session="s", item="i", time="t", min_length=min_length), ref
    )


def _csv(v):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)


@SETTINGS
@given(
    rows=logs(ids=st.one_of(ID_TEXT, ID_INT)),
    kind=st.sampled_from(["str", "int"]),
    time_kind=st.sampled_from(["int", "timestamp"]),
)
def test_parquet_round_trip(rows, kind, time_kind, tmp_path_factory):
    path = tmp_path_factory.mktemp("pq") / "log.parquet"
    items = [None if is_missing(r[1]) else r[1] for r in rows]
    if kind == "str":
        items = [None if i is None else str(i) for i in items]
    elif not all(isinstance(i, int) for i in items if i is not None):
        return
    t = pd.array([r[2] for r in rows], dtype="Int64")
    if time_kind == "timestamp":
        t = pd.Timestamp("2020-01-01") + pd.to_timedelta(t, unit="h")
    items = pd.array(items, dtype="Int64" if kind == "int" else object)
    df = pd.DataFrame({"s": pd.Series([r[0] for r in rows], dtype=object), "i": items, "t": t})
    df.to_parquet(path, index=False)
    back = pd.read_parquet(path)
    ids = [None if pd.isna(b) else int(b) if kind == "int" else b for b in back["i"]]
    ref_rows = [
        (None if pd.isna(a) else a, b, None if pd.isna(c) else c)
        for a, b, c in zip(back["s"], ids, back["t"], strict=True)
    ]
    ref = reference(ref_rows, 2, False)
    expect(lambda: Sessions.from_parquet(path, session="s", item="i", time="t"), ref)


@SETTINGS
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_random_bytes_as_csv(data, tmp_path_factory):
    path = tmp_path_factory.mktemp("raw") / "log.csv"
    path.write_bytes(b"s,i,t\n" + data)
    _loaded_or_refused(lambda: Sessions.from_csv(path, session="s", item="i", time="t"))


@SETTINGS
@given(data=st.binary(max_size=300), prefix=st.sampled_from([b"", b"PAR1"]))
def test_random_bytes_as_parquet(data, prefix, tmp_path_factory):
    path = tmp_path_factory.mktemp("raw") / "log.parquet"
    path.write_bytes(prefix + data + prefix)
    _loaded_or_refused(lambda: Sessions.from_parquet(path, session="s", item="i"))


ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**70), 2**70),
    st.text(TEXT, max_size=5),
    st.binary(max_size=3),
    st.datetimes(),
    st.lists(st.integers(), max_size=2),
)


@SETTINGS
@given(
    cols=st.lists(st.tuples(ODD_VALUES, ODD_VALUES, ODD_VALUES), min_size=1, max_size=12),
    gap=st.sampled_from([None, "1h", 2, "2"]),
)
def test_odd_values_anywhere(cols, gap):
    df = pd.DataFrame(cols, columns=["s", "i", "t"], dtype=object)
    _loaded_or_refused(lambda: Sessions.from_frame(df, session="s", item="i", time="t", gap=gap))
    _loaded_or_refused(lambda: Sessions.from_frame(df, user="t", item="s", min_length=1))


@SETTINGS
@given(
    times=st.lists(
        st.sampled_from(["2021-01-01", "2021-01-01T10:00", "junk", "", "1", "12:30", "NaT"])
        | st.datetimes().map(str),
        min_size=2,
        max_size=10,
    )
)
def test_unparsable_or_shuffled_timestamps(times):
    df = pd.DataFrame({"s": 1, "i": [f"i{k}" for k in range(len(times))], "t": times})
    try:
        parsed = pd.to_datetime(pd.Series(times), format="mixed", utc=True)
    except (ValueError, TypeError, OverflowError):
        with pytest.raises(Item2VecError, match="time column 't'"):
            Sessions.from_frame(df, session="s", item="i", time="t")
        return
    stamps = parsed.dt.tz_localize(None).to_numpy()  # datetime64: NaT sorts last
    order = [k for k in np.argsort(stamps, kind="stable") if not pd.isna(stamps[k])]
    ref = [[f"i{k}" for k in order]] if len(order) >= 2 else None
    expect(lambda: Sessions.from_frame(df, session="s", item="i", time="t"), ref)


def _loaded_or_refused(build):
    try:
        s = build()
    except Item2VecError:
        return
    check_corpus(s)
