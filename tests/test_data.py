"""Sessions: sessionisation, the vocabulary it builds, round trips and bad input."""

from __future__ import annotations

import datetime
import os

import numpy as np
import pandas as pd
import pytest
from conftest import check_corpus

from item2vec import DataError, ParameterError, Sessions, UnknownItemError, Vocabulary


def frame(**cols) -> pd.DataFrame:
    return pd.DataFrame(cols)


def lists(s: Sessions) -> list[list]:
    check_corpus(s)
    return s.to_lists()


# ----------------------------------------------------------------- sessionisation
def test_time_orders_events_and_ties_keep_row_order():
    df = frame(s=["x"] * 5, i=list("abcde"), t=[3, 1, 2, 1, 0])
    assert lists(Sessions.from_frame(df, session="s", item="i", time="t")) == [
        ["e", "b", "d", "c", "a"]
    ]


def test_datetime_strings_and_timezones_order_events():
    t = ["2021-01-01 10:00+01:00", "2021-01-01 09:30+00:00", "2021-01-01T09:15Z"]
    df = frame(s=[1, 1, 1], i=["late", "latest", "early"], t=t)  # 09:00, 09:30, 09:15 UTC
    assert lists(Sessions.from_frame(df, session="s", item="i", time="t")) == [
        ["late", "early", "latest"]
    ]


def test_without_time_row_order_is_kept_and_sessions_in_order_of_appearance():
    df = frame(s=["b", "a", "b", "a", "b"], i=["b1", "a1", "b2", "a2", "b3"])
    assert lists(Sessions.from_frame(df, session="s", item="i")) == [
        ["b1", "b2", "b3"],
        ["a1", "a2"],
    ]


def test_sessions_are_never_merged_across_ids():
    df = frame(s=[1, 1, 2, 2, 3, 3], i=["a", "b", "a", "b", "b", "b"])
    s = Sessions.from_frame(df, session="s", item="i", collapse_repeats=True, min_length=1)
    assert lists(s) == [["a", "b"], ["a", "b"], ["b"]]


def test_gap_splits_user_history_on_inactivity():
    minutes = [0, 10, 50, 60, 95, 0, 40]  # user u: gaps 10, 40, 10, 35; user v: 40
    t = pd.Timestamp("2021-03-01") + pd.to_timedelta(minutes, unit="min")
    df = frame(u=["u"] * 5 + ["v"] * 2, i=list("abcdefg"), t=t)
    s = Sessions.from_frame(df, user="u", item="i", time="t", gap="30min", min_length=1)
    assert lists(s) == [["a", "b"], ["c", "d"], ["e"], ["f"], ["g"]]
    # exactly `gap` apart stays together: the gap is "more than"
    s = Sessions.from_frame(df, user="u", item="i", time="t", gap="40min", min_length=1)
    assert lists(s) == [["a", "b", "c", "d", "e"], ["f", "g"]]
    for hour in (pd.Timedelta(hours=1), np.timedelta64(60, "m"), datetime.timedelta(hours=1)):
        s = Sessions.from_frame(df, user="u", item="i", time="t", gap=hour)
        assert lists(s) == [["a", "b", "c", "d", "e"], ["f", "g"]]


def test_gap_applies_after_sorting_by_time():
    df = frame(u=[1, 1, 1, 1], i=list("abcd"), t=[100, 0, 5, 104])
    s = Sessions.from_frame(df, user="u", item="i", time="t", gap=10)
    assert lists(s) == [["b", "c"], ["a", "d"]]


def test_gap_with_numeric_time_and_session_column():
    df = frame(s=["x"] * 4 + ["y"] * 2, i=list("abcdef"), t=[0, 5, 100, 104, 1, 2])
    s = Sessions.from_frame(df, session="s", item="i", time="t", gap=10)
    assert lists(s) == [["a", "b"], ["c", "d"], ["e", "f"]]
    s = Sessions.from_frame(df, session="s", item="i", time="t", gap="10")  # as from a CLI
    assert lists(s) == [["a", "b"], ["c", "d"], ["e", "f"]]


def test_collapse_repeats_only_consecutive_and_within_a_session():
    df = frame(s=[1, 1, 1, 1, 1, 2, 2], i=["a", "a", "b", "a", "a", "a", "c"])
    s = Sessions.from_frame(df, session="s", item="i", collapse_repeats=True)
    assert lists(s) == [["a", "b", "a"], ["a", "c"]]
    assert s.report["consecutive repeats collapsed"] == 2
    assert Sessions.from_frame(df, session="s", item="i").n_events == 7


def test_collapse_repeats_does_not_cross_a_gap():
    df = frame(u=[1, 1, 1], i=["a", "a", "a"], t=[0, 1, 100])
    s = Sessions.from_frame(
        df, user="u", item="i", time="t", gap=10, collapse_repeats=True, min_length=1
    )
    assert lists(s) == [["a"], ["a"]]


def test_min_length_drops_short_sessions_and_reports_them():
    df = frame(s=[1, 2, 2, 3, 3, 3], i=["z", "a", "b", "a", "b", "c"])
    s = Sessions.from_frame(df, session="s", item="i", min_length=3)
    assert lists(s) == [["a", "b", "c"]]
    assert s.report["sessions shorter than 3 dropped"] == 2
    assert s.report["events in sessions shorter than 3"] == 3
    assert s.report["items only in dropped sessions"] == 1  # "z" lived only in session 1
    assert list(s.vocabulary.ids) == ["a", "b", "c"]
    assert len(Sessions.from_frame(df, session="s", item="i", min_length=1)) == 3


# ----------------------------------------------------------------- vocabulary
def test_vocabulary_counts_and_row_order():
    data = [["c", "b", "a"], ["a", "b", "d"], ["d", "a", "e"]]
    s = Sessions.from_lists(data)
    v = s.vocabulary
    # a: 3, then b and d tie on 2 (b seen first), then c and e tie on 1 (c first)
    assert v.ids.tolist() == ["a", "b", "d", "c", "e"]
    assert v.counts.tolist() == [3, 2, 2, 1, 1]
    assert v.counts.dtype == np.int64
    assert s.items.tolist() == [3, 1, 0, 0, 1, 2, 2, 0, 4]
    assert s.offsets.tolist() == [0, 3, 6, 9]
    assert s.lengths.tolist() == [3, 3, 3]
    check_corpus(s)


def test_min_count_drops_items_and_events_and_reports_them():
    data = [["a", "b", "x"], ["a", "b", "y"], ["a", "z"], ["z2", "y2"]]
    s = Sessions.from_lists(data, min_count=2)
    assert lists(s) == [["a", "b"], ["a", "b"]]
    assert s.report["items dropped by min_count/max_items"] == 5
    assert s.report["events dropped by min_count/max_items"] == 5
    assert s.report["sessions shorter than 2 dropped"] == 2  # ["a"] and []
    assert s.report["items only in dropped sessions"] == 0
    assert s.vocabulary.dropped_items == 5 and s.vocabulary.dropped_events == 5


def test_no_unused_rows_when_sessions_vanish():
    data = [["a", "b"], ["a", "b"], ["c"], ["a", "d", "d"]]
    s = Sessions.from_lists(data)
    assert s.vocabulary.ids.tolist() == ["a", "b", "d"]  # "c" only lived in a dropped session
    assert s.report["items only in dropped sessions"] == 1
    assert s.vocabulary.dropped_items == 1
    check_corpus(s)


def test_max_items_keeps_the_most_frequent():
    data = [["a", "b", "c"], ["a", "b", "d"], ["a", "e", "c"]]
    s = Sessions.from_lists(data, max_items=2)
    assert s.vocabulary.ids.tolist() == ["a", "b"]
    assert lists(s) == [["a", "b"], ["a", "b"]]
    assert s.report["items dropped by min_count/max_items"] == 3


def test_int_ids_stay_ints():
    s = Sessions.from_lists([[10, 20, 30], [20, 30]])
    v = s.vocabulary
    assert v.ids.dtype == np.int64 and v.is_numeric
    assert s.to_lists() == [[10, 20, 30], [20, 30]]
    assert all(type(i) is int for i in s.to_lists()[0])
    assert v.index(20) == v.index(np.int64(20)) == v.index(20.0) == v.index("20") == 0


def test_whole_float_ids_next_to_nan_become_ints():
    df = frame(s=[1, 1, 1, 2, 2], i=[123.0, np.nan, 456.0, 123.0, 789.0])
    assert df["i"].dtype == np.float64
    s = Sessions.from_frame(df, session="s", item="i")
    assert s.vocabulary.ids.dtype == np.int64
    assert lists(s) == [[123, 456], [123, 789]]
    assert s.report["rows with missing or empty item id"] == 1


def test_id_types_from_pandas_dtypes():
    def ids_of(values):
        df = frame(s=[1] * len(values), i=values)
        return Sessions.from_frame(df, session="s", item="i").to_lists()[0]

    assert ids_of(pd.array([5, None, 7], dtype="Int64")) == [5, 7]
    assert ids_of(pd.Series(["b", "a", "b"]).astype("category")) == ["b", "a", "b"]
    assert ids_of(pd.Series([3, 4], dtype=object)) == [3, 4]  # object ints are ints
    assert ids_of([1, "1", "a"]) == ["1", "1", "a"]  # mixed: compared as strings
    assert ids_of([1.5, 2.0]) == ["1.5", "2.0"]  # not whole: strings
    assert ids_of([1e20, 3.0]) == ["1e+20", "3.0"]  # beyond int64: no silent overflow
    big = np.array([2**63 + 5, 7], dtype=np.uint64)
    assert ids_of(big) == [str(2**63 + 5), "7"]


def test_string_ids_keep_leading_zeros_via_csv(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("order,sku\n1,00123\n1,0042\n2,00123\n2,NA\n2,\n")
    s = Sessions.from_csv(path, session="order", item="sku")
    assert s.to_lists() == [["00123", "0042"], ["00123", "NA"]]  # "NA" is an id in CSV
    assert s.vocabulary.ids.tolist() == ["00123", "0042", "NA"]
    assert s.report["rows with missing or empty item id"] == 1
    assert s.vocabulary.index("00123") == 0
    with pytest.raises(UnknownItemError, match="did you mean '00123'"):
        s.vocabulary.index(123)


def test_restrict_matches_building_with_min_count():
    data = [["a", "b", "c"], ["a", "b"], ["c", "d", "a"], ["e", "f"], ["b", "b", "a"]]
    full = Sessions.from_lists(data)
    r = full.restrict(min_count=3)
    ref = Sessions.from_lists(data, min_count=3)
    assert r.to_lists() == ref.to_lists() == [["a", "b"], ["a", "b"], ["b", "b", "a"]]
    np.testing.assert_array_equal(r.items, ref.items)
    assert r.vocabulary == ref.vocabulary and r.vocabulary.dropped_items == 4
    check_corpus(r, min_length=2)
    assert r.report["restrict: items dropped by min_count/max_items"] == 4
    assert r.report["sessions"] == 3 and r.report["events"] == 7
    assert full.restrict().to_lists() == full.to_lists()
    assert full.restrict(max_items=1, min_length=1).to_lists() == [["a"]] * 4
    with pytest.raises(ParameterError, match=r"min_count=9, max_items=None, min_length=2 leave"):
        full.restrict(min_count=9)
    with pytest.raises(ParameterError, match="max_items must be an integer >= 1, got 0"):
        full.restrict(max_items=0)


# ----------------------------------------------------------------- round trips
@pytest.fixture
def log() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 300
    times = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 10_000, n), unit="s")
    return frame(
        user=[f"u{k:03d}" for k in rng.integers(0, 20, n)],
        sku=[f"{k:05d}" for k in rng.zipf(1.5, n) % 60],
        when=times,
    )


def test_frame_csv_parquet_give_the_same_corpus(log, tmp_path):
    kw = dict(user="user", item="sku", time="when", gap="20min", min_count=2)
    ref = Sessions.from_frame(log, **kw)
    log.to_csv(tmp_path / "log.csv", index=False)
    log.to_parquet(tmp_path / "log.parquet", index=False)
    (tmp_path / "parts").mkdir()
    log.iloc[:100].to_parquet(tmp_path / "parts" / "a.parquet", index=False)
    log.iloc[100:].to_parquet(tmp_path / "parts" / "b.parquet", index=False)
    log.to_csv(tmp_path / "log.tsv", index=False, sep="\t")
    others = [
        Sessions.from_csv(tmp_path / "log.csv", **kw),
        Sessions.from_csv(str(tmp_path / "log.tsv"), **kw),
        Sessions.from_parquet(tmp_path / "log.parquet", **kw),
        Sessions.from_parquet(tmp_path / "parts", **kw),
    ]
    check_corpus(ref, min_length=2)
    assert ref.vocabulary.ids[0].startswith("0")
    for other in others:
        np.testing.assert_array_equal(other.items, ref.items)
        np.testing.assert_array_equal(other.offsets, ref.offsets)
        assert other.vocabulary == ref.vocabulary
        assert other.report == ref.report


def test_hive_partitioned_parquet_dataset(log, tmp_path):
    log.to_parquet(tmp_path / "by_user", partition_cols=["user"], index=False)
    kw = dict(user="user", item="sku", time="when", gap="20min")
    a = Sessions.from_parquet(tmp_path / "by_user", **kw)
    b = Sessions.from_frame(log, **kw)
    assert sorted(a.to_lists()) == sorted(b.to_lists())  # partitions change the row order


def test_pyarrow_backed_frames(log):
    arrow = log.convert_dtypes(dtype_backend="pyarrow")
    arrow.loc[3, "sku"] = None
    arrow.loc[4, "when"] = None
    plain = log.copy()
    plain.loc[3, "sku"] = None
    plain.loc[4, "when"] = pd.NaT
    kw = dict(user="user", item="sku", time="when", gap="20min")
    a, b = Sessions.from_frame(arrow, **kw), Sessions.from_frame(plain, **kw)
    assert a.to_lists() == b.to_lists() and a.report == b.report
    assert a.report["rows with missing or empty item id"] == 1
    assert a.report["rows with missing when"] == 1


def test_read_csv_kwargs(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text("s;i;t\n1;007;2\n1;008;1\n")
    s = Sessions.from_csv(path, session="s", item="i", time="t", read_csv_kwargs={"sep": ";"})
    assert s.to_lists() == [["008", "007"]]
    with pytest.raises(ParameterError, match="read_csv_kwargs may not set 'usecols'"):
        Sessions.from_csv(path, session="s", item="i", read_csv_kwargs={"usecols": ["s"]})
    with pytest.raises(ParameterError, match="dtype must be a dict per column, got"):
        Sessions.from_csv(path, session="s", item="i", read_csv_kwargs={"dtype": str})
    with pytest.raises(ParameterError, match=r"read_csv_kwargs \['bogus'.*rejected"):
        Sessions.from_csv(path, session="s", item="i", read_csv_kwargs={"bogus": 1})


def test_int_ids_round_trip_through_parquet(tmp_path):
    df = frame(s=[1, 1, 2, 2, 2], i=pd.array([7, 8, None, 7, 9], dtype="Int64"))
    df.to_parquet(tmp_path / "x.parquet")
    a = Sessions.from_frame(df, session="s", item="i")
    b = Sessions.from_parquet(tmp_path / "x.parquet", session="s", item="i")
    assert b.vocabulary.ids.dtype == np.int64
    assert a.to_lists() == b.to_lists() == [[7, 8], [7, 9]]
    big = frame(s=[1, 1], i=pd.array([2**53 + 1, None], dtype="Int64"))
    big = pd.concat([big, frame(s=[1], i=pd.array([3], dtype="Int64"))])
    big.to_parquet(tmp_path / "big.parquet")  # nulls must not round ids through float
    s = Sessions.from_parquet(tmp_path / "big.parquet", session="s", item="i")
    assert s.to_lists() == [[2**53 + 1, 3]]


def test_from_lists_matches_from_frame():
    data = [["a", "b", "a"], [3, 4], ["c"], ["a", "c"]]
    s = Sessions.from_lists(data, min_length=1)
    assert s.to_lists() == [["a", "b", "a"], ["3", "4"], ["c"], ["a", "c"]]
    assert Sessions.from_lists(iter([iter([1, 2]), (2, 3)])).to_lists() == [[1, 2], [2, 3]]


# ----------------------------------------------------------------- views
def test_views_subset_and_describe():
    s = Sessions.from_lists([["a", "b"], ["b", "c", "d"], ["a", "d"]])
    assert len(s) == 3 and s.n_events == 7
    assert s[-1].tolist() == s[2].tolist() == s.vocabulary.encode(["a", "d"]).tolist()
    with pytest.raises(IndexError):
        s[3]
    assert [x.tolist() for x in s] == [s[k].tolist() for k in range(3)]
    sub = s.subset([2, 0])
    assert sub.to_lists() == [["a", "d"], ["a", "b"]]
    assert sub.vocabulary is s.vocabulary
    assert s.subset(np.array([True, False, True])).to_lists() == [["a", "b"], ["a", "d"]]
    assert s.subset([-1]).to_lists() == [["a", "d"]]
    assert s.subset([]).to_lists() == []
    with pytest.raises(IndexError, match="out of range"):
        s.subset([3])
    with pytest.raises(IndexError, match="boolean mask needs 3"):
        s.subset([True, False])
    text = s.describe()
    assert "sessions        3" in text and "median 2" in text and "cleaning report" in text
    assert repr(s) == "Sessions(n_sessions=3, n_events=7, n_items=4)"


def test_constructor_checks_offsets_and_rows():
    v = Vocabulary(np.array([1, 2]), np.array([1, 1]))
    with pytest.raises(DataError, match="offsets must start at 0"):
        Sessions(np.array([0, 1]), np.array([0, 1]), v)
    with pytest.raises(DataError, match="non-decreasing"):
        Sessions(np.array([0, 1]), np.array([0, 2, 1, 2]), v)
    with pytest.raises(DataError, match="out of range"):
        Sessions(np.array([0, 2]), np.array([0, 2]), v)


# ----------------------------------------------------------------- bad input
def test_missing_column_is_named_with_the_columns_present():
    df = frame(InvoiceNo=[1, 1], StockCode=["a", "b"])
    with pytest.raises(
        DataError,
        match=r"item column 'Stockcode' not found; columns present: InvoiceNo, StockCode; "
        r"did you mean 'StockCode'\?",
    ):
        Sessions.from_frame(df, session="InvoiceNo", item="Stockcode")
    with pytest.raises(DataError, match="time column 'ts' not found"):
        Sessions.from_frame(df, session="InvoiceNo", item="StockCode", time="ts")
    with pytest.raises(DataError, match="user column 'who' not found"):
        Sessions.from_frame(df, user="who", item="StockCode")


def test_missing_column_in_files(tmp_path):
    df = frame(s=[1, 1], i=["a", "b"])
    df.to_csv(tmp_path / "x.csv", index=False)
    df.to_parquet(tmp_path / "x.parquet")
    with pytest.raises(DataError, match="session column 'S' not found; columns present: s, i"):
        Sessions.from_csv(tmp_path / "x.csv", session="S", item="i")
    with pytest.raises(DataError, match="item column 'item' not found; columns present: s, i"):
        Sessions.from_parquet(tmp_path / "x.parquet", session="s", item="item")


def test_duplicate_and_unhashable_columns():
    df = pd.DataFrame([[1, "a", "b"], [1, "c", "d"]], columns=["s", "i", "i"])
    with pytest.raises(DataError, match="item column 'i' appears 2 times"):
        Sessions.from_frame(df, session="s", item="i")
    df = frame(s=[1, 1], i=[["a"], ["b"]])
    with pytest.raises(DataError, match=r"column 'i' holds containers \(lists, ...\)"):
        Sessions.from_frame(df, session="s", item="i")
    df = frame(s=[[1], [1]], i=["a", "b"])
    with pytest.raises(DataError, match="column 's' holds values that cannot be ids"):
        Sessions.from_frame(df, session="s", item="i")


def test_empty_logs(tmp_path):
    with pytest.raises(DataError, match=r"the log is empty \(0 rows"):
        Sessions.from_frame(frame(s=[], i=[]), session="s", item="i")
    with pytest.raises(DataError, match="the log is empty"):
        Sessions.from_frame(pd.DataFrame(), session="s", item="i")
    with pytest.raises(DataError, match="the log is empty"):
        Sessions.from_lists([])
    (tmp_path / "header.csv").write_text("s,i\n")
    with pytest.raises(DataError, match="the log is empty"):
        Sessions.from_csv(tmp_path / "header.csv", session="s", item="i")
    (tmp_path / "zero.csv").write_bytes(b"")
    with pytest.raises(DataError, match="cannot read .*zero.csv as CSV"):
        Sessions.from_csv(tmp_path / "zero.csv", session="s", item="i")
    with pytest.raises(DataError, match="expected a pandas DataFrame, got list"):
        Sessions.from_frame([["a", "b"]], session="s", item="i")


def test_missing_ids_are_dropped_and_counted():
    df = frame(s=[1, 1, 1, 1, 2, None, 2], i=["a", None, "", "  ", "b", "c", np.nan])
    s = Sessions.from_frame(df, session="s", item="i", min_length=1)
    assert s.to_lists() == [["a"], ["b"]]
    assert s.report["rows with missing or empty item id"] == 4
    assert s.report["rows with missing s"] == 1
    df = frame(s=[1, 2], i=[None, " "])
    with pytest.raises(DataError, match=r"no rows left .*'rows with missing or empty item id': 2"):
        Sessions.from_frame(df, session="s", item="i")


def test_all_sessions_too_short():
    df = frame(s=[1, 2, 3], i=["a", "b", "c"])
    with pytest.raises(DataError, match=r"no sessions of length >= 2 left .*\(3 sessions before"):
        Sessions.from_frame(df, session="s", item="i")
    with pytest.raises(DataError, match="no sessions of length >= 2"):
        Sessions.from_lists([["a", "b"], ["c", "d"]], min_count=2)


def test_neither_session_nor_user_and_gap_without_time():
    df = frame(s=[1, 1], i=["a", "b"])
    with pytest.raises(DataError, match=r"give a session column \(session=...\) or a user"):
        Sessions.from_frame(df, item="i")
    with pytest.raises(DataError, match=r"gap='30min' needs a time column \(time=...\)"):
        Sessions.from_frame(df, user="s", item="i", gap="30min")


def test_unparsable_timestamps_name_the_column():
    df = frame(s=[1, 1], i=["a", "b"], when=["2021-01-01", "yesterday-ish"])
    with pytest.raises(DataError, match="time column 'when' has values that are not timestamps"):
        Sessions.from_frame(df, session="s", item="i", time="when")
    df = frame(s=[1, 1], i=["a", "b"], when=[True, False])
    with pytest.raises(DataError, match="time column 'when' holds booleans"):
        Sessions.from_frame(df, session="s", item="i", time="when")


def test_missing_timestamps_are_dropped_and_counted():
    df = frame(s=[1, 1, 1], i=["a", "b", "c"], t=["2021-01-02", None, "2021-01-01"])
    s = Sessions.from_frame(df, session="s", item="i", time="t")
    assert s.to_lists() == [["c", "a"]] and s.report["rows with missing t"] == 1
    df = frame(s=[1, 1, 1], i=["a", "b", "c"], t=pd.array([5, None, 1], dtype="Int64"))
    assert Sessions.from_frame(df, session="s", item="i", time="t").to_lists() == [["c", "a"]]


def test_far_dates_and_nanosecond_integers_keep_their_order():
    df = frame(s=[1, 1, 1], i=["a", "b", "c"], t=["9999-01-01", "0001-01-01", "2020-01-01"])
    assert Sessions.from_frame(df, session="s", item="i", time="t").to_lists() == [["b", "c", "a"]]
    base = 1_700_000_000_000_000_000  # ns since 1970: float64 cannot tell these apart
    df = frame(s=[1, 1, 1], i=["a", "b", "c"], t=[base + 2, base + 1, base])
    assert Sessions.from_frame(df, session="s", item="i", time="t").to_lists() == [["c", "b", "a"]]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"min_count": 0}, "min_count must be an integer >= 1, got 0"),
        ({"min_count": 2.5}, "min_count must be an integer >= 1, got 2.5"),
        ({"min_count": True}, "min_count must be an integer >= 1, got True"),
        ({"min_length": 0}, "min_length must be an integer >= 1, got 0"),
        ({"min_length": "2"}, "min_length must be an integer >= 1, got '2'"),
        ({"max_items": 0}, "max_items must be an integer >= 1, got 0"),
        ({"max_items": -5}, "max_items must be an integer >= 1, got -5"),
        ({"collapse_repeats": "yes"}, "collapse_repeats must be True or False, got 'yes'"),
        ({"gap": 30, "time": "t"}, r"gap must be a duration such as '30min'.*got 30"),
        ({"gap": "30", "time": "t"}, r"bare number has no unit"),
        ({"gap": "soon", "time": "t"}, r"gap must be a duration such as '30min', got 'soon'"),
        ({"gap": "-5min", "time": "t"}, r"gap must be a positive duration, got '-5min'"),
        ({"gap": -1, "time": "n"}, "gap must be a positive number .* got -1"),
        ({"gap": "30min", "time": "n"}, "gap must be a positive number .* got '30min'"),
        ({"gap": np.timedelta64(5, "s"), "time": "n"}, "gap must be a positive number"),
        ({"gap": float("nan"), "time": "n"}, "gap must be a positive number .* got nan"),
    ],
)
def test_bad_parameters_name_the_parameter_and_value(kwargs, message):
    df = frame(s=[1, 1], i=["a", "b"], t=pd.to_datetime(["2021-01-01", "2021-01-02"]), n=[1, 2])
    with pytest.raises(ParameterError, match=message):
        Sessions.from_frame(df, session="s", item="i", **kwargs)


def test_from_lists_refuses_strings_as_sessions():
    with pytest.raises(DataError, match="single string"):
        Sessions.from_lists("abc")
    with pytest.raises(DataError, match="session 1 must be a sequence of item ids, got str"):
        Sessions.from_lists([["a", "b"], "cd"])
    with pytest.raises(DataError, match="session 0 must be a sequence of item ids, got int"):
        Sessions.from_lists([5])


# ----------------------------------------------------------------- unreadable files
def test_unsupported_file_types(tmp_path):
    xlsx = tmp_path / "log.xlsx"
    xlsx.write_bytes(b"PK\x03\x04 not really excel")
    with pytest.raises(DataError, match=r"unsupported file type for from_csv: .*log.xlsx"):
        Sessions.from_csv(xlsx, session="s", item="i")
    with pytest.raises(DataError, match=r"unsupported file type for from_parquet.*read_excel"):
        Sessions.from_parquet(xlsx, session="s", item="i")
    pq = tmp_path / "log.parquet"
    frame(s=[1, 1], i=["a", "b"]).to_parquet(pq)
    with pytest.raises(DataError, match=r"expected .csv.*see Sessions.from_parquet"):
        Sessions.from_csv(pq, session="s", item="i")


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(DataError, match=r"file not found: .*nope.csv"):
        Sessions.from_csv(tmp_path / "nope.csv", session="s", item="i")
    with pytest.raises(DataError, match=r"file not found: .*nope.parquet"):
        Sessions.from_parquet(tmp_path / "nope.parquet", session="s", item="i")
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    with pytest.raises(DataError, match=r"cannot read .*folder.csv: not a readable file"):
        Sessions.from_csv(folder, session="s", item="i")


@pytest.mark.parametrize("name", ["garbage.parquet", "garbage.csv.gz"])
def test_garbage_bytes(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(bytes(range(256)) * 4)
    reader = Sessions.from_parquet if name.endswith(".parquet") else Sessions.from_csv
    with pytest.raises(DataError, match=rf"cannot read .*{name} as (Parquet|CSV)"):
        reader(path, session="s", item="i")


def test_truncated_parquet(tmp_path):
    path = tmp_path / "cut.parquet"
    frame(s=[1, 1] * 50, i=["a", "b"] * 50).to_parquet(path)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DataError, match="cannot read .*cut.parquet as Parquet"):
        Sessions.from_parquet(path, session="s", item="i")


def test_file_without_read_permission(tmp_path, monkeypatch):
    path = tmp_path / "secret.csv"
    path.write_text("s,i\n1,a\n1,b\n")
    path.chmod(0)
    try:
        if os.geteuid() != 0:  # root reads anything, so only check the real thing as a user
            with pytest.raises(DataError, match="cannot read .*secret.csv: not a readable file"):
                Sessions.from_csv(path, session="s", item="i")
        # a permission error at open time (e.g. root on a read-only network share)
        monkeypatch.setattr(os, "access", lambda *a, **k: True)
        real_read_csv = pd.read_csv

        def denied(*args, **kwargs):
            raise PermissionError(13, "Permission denied", str(path))

        monkeypatch.setattr(pd, "read_csv", denied)
        with pytest.raises(DataError, match="cannot read .*secret.csv as CSV: .*Permission denied"):
            Sessions.from_csv(path, session="s", item="i")
        monkeypatch.setattr(pd, "read_csv", real_read_csv)
        monkeypatch.setattr(os, "access", lambda *a, **k: False)
        with pytest.raises(DataError, match="cannot read .*secret.csv: not a readable file"):
            Sessions.from_csv(path, session="s", item="i")
    finally:
        path.chmod(0o600)
