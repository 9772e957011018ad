"""ParquetCorpus: the streamed corpus equals the in-memory one, whatever the row groups."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from item2vec.data.sessions import Sessions
from item2vec.exceptions import DataError, ParameterError
from item2vec.sampling import window_units
from item2vec.sampling.corpus import ParquetCorpus


def _log(n_sessions: int = 200, *, strings: bool = True, dirty: bool = True, seed: int = 0):
    """A log grouped by session, with Zipf items, shuffled times and (optionally) holes."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 12, n_sessions)
    sess = np.repeat(np.arange(n_sessions), lengths)
    items = rng.zipf(1.5, len(sess)) % 150
    df = pd.DataFrame(
        {
            "s": [f"s{x}" for x in sess] if strings else sess,
            "i": [f"i{x:03d}" for x in items] if strings else items,
            "t": rng.integers(0, 1000, len(sess)),
        }
    )
    if dirty:
        df.loc[rng.random(len(df)) < 0.03, "i"] = None
        df.loc[rng.random(len(df)) < 0.02, "s"] = None
        if strings:
            df.loc[rng.random(len(df)) < 0.02, "i"] = "  "
    return df


def _write(df: pd.DataFrame, path, row_group_size: int) -> str:
    pq.write_table(
        pa.Table.from_pandas(df, preserve_index=False), path, row_group_size=row_group_size
    )
    return str(path)


CASES = [  # (strings, row_group_size, batch_rows, min_count, collapse_repeats, time)
    (True, 7, 3, 1, False, None),
    (True, 50, 64, 3, True, "t"),
    (False, 7, 64, 2, False, "t"),
    (False, 10_000, 5, 1, True, None),
]


@pytest.mark.parametrize("strings, rg, batch_rows, min_count, collapse, time", CASES)
def test_same_corpus_as_sessions_from_parquet(tmp_path, strings, rg, batch_rows, min_count,
                                               collapse, time):  # fmt: skip
    path = _write(_log(strings=strings), tmp_path / "log.parquet", rg)
    opts = dict(session="s", item="i", time=time, min_count=min_count, collapse_repeats=collapse)
    ref = Sessions.from_parquet(path, **opts)
    corpus = ParquetCorpus(path, **opts, batch_rows=batch_rows)
    assert corpus.vocabulary == ref.vocabulary
    assert corpus.vocabulary.dropped_items == ref.vocabulary.dropped_items
    assert corpus.report == ref.report
    assert (corpus.n_sessions, corpus.n_events) == (len(ref), ref.n_events)
    streamed = corpus.to_sessions()
    np.testing.assert_array_equal(streamed.items, ref.items)
    np.testing.assert_array_equal(streamed.offsets, ref.offsets)


def _positive_couples(units) -> Counter:
    couples = units.to_couples()
    pos = couples.labels == 1
    return Counter(zip(couples.contexts[pos].tolist(), couples.targets[pos].tolist()))


@pytest.mark.parametrize("window", [2, "session"])
def test_same_positive_couples_as_window_units(tmp_path, window):
    path = _write(_log(), tmp_path / "log.parquet", 13)
    corpus = ParquetCorpus(path, session="s", item="i", time="t", batch_rows=16)
    ref = Sessions.from_parquet(path, session="s", item="i", time="t")
    extra = {"max_contexts": 20} if window == "session" else {}  # longer than any session
    opts = dict(window=window, negatives=3, sample=0.0, shrink_window=False, **extra)
    expected = _positive_couples(window_units(ref, seed=0, **opts))
    batches = list(corpus.stream_units(batch_size=64, chunk_events=100, seed=3, **opts))
    got = sum((_positive_couples(b) for b in batches), Counter())
    assert got == expected
    assert all(len(b) == 64 for b in batches[:-1]) and 0 < len(batches[-1]) <= 64
    for b in batches:  # negatives never hit their own target, rows stay in the vocabulary
        assert not np.any(b.negatives == b.targets[:, None])
        assert b.contexts.max() < len(corpus.vocabulary) and b.negatives.min() >= 0


def test_epochs_are_reproducible_and_differ(tmp_path):
    path = _write(_log(), tmp_path / "log.parquet", 11)
    corpus = ParquetCorpus(path, session="s", item="i")
    opts = dict(batch_size=50, window=3, negatives=2, chunk_events=60)

    def targets(**kw):
        return np.concatenate([b.targets for b in corpus.stream_units(**opts, **kw)])

    np.testing.assert_array_equal(targets(seed=1, epoch=0), targets(seed=1, epoch=0))
    assert not np.array_equal(targets(seed=1, epoch=0), targets(seed=1, epoch=1))


def _sessions_as_tuples(s: Sessions) -> Counter:
    return Counter(tuple(x.tolist()) for x in s)


def test_sessions_spanning_row_groups_and_files(tmp_path):
    # sessions of 9 events over row groups of 4 rows, one of them across two files
    sess = np.repeat(np.arange(12), 9)
    items = (np.arange(len(sess)) * 7) % 23
    df = pd.DataFrame({"s": sess, "i": items})
    folder = tmp_path / "log"
    folder.mkdir()
    _write(df.iloc[:50], folder / "part-0.parquet", 4)  # row 50 is inside session 5
    _write(df.iloc[50:], folder / "part-1.parquet", 4)
    ref = Sessions.from_parquet(str(folder), session="s", item="i")
    corpus = ParquetCorpus(folder, session="s", item="i", batch_rows=3)
    assert corpus.n_row_groups == 28 and corpus.n_sessions == 12
    s = corpus.to_sessions()
    np.testing.assert_array_equal(s.items, ref.items)
    np.testing.assert_array_equal(s.offsets, ref.offsets)
    shuffled = np.concatenate([it for it, _ in corpus.iter_sessions(seed=5)])
    assert sorted(shuffled.tolist()) == sorted(ref.items.tolist())


@pytest.mark.parametrize("by", ["row_groups", "hash"])
def test_shards_split_sessions_without_overlap(tmp_path, by):
    path = _write(_log(400, dirty=False), tmp_path / "log.parquet", 37)
    corpus = ParquetCorpus(path, session="s", item="i", time="t")
    whole = _sessions_as_tuples(corpus.to_sessions())
    shards = [corpus.shard(i, 3, by=by) for i in range(3)]
    parts = [_sessions_as_tuples(s.to_sessions()) for s in shards]
    assert sum(parts, Counter()) == whole  # every session exactly once
    sizes = [sum(len(k) * v for k, v in p.items()) for p in parts]
    assert min(sizes) > 0.5 * max(sizes)  # balanced
    if by == "row_groups":
        assert [s.shard_events for s in shards] == sizes
    assert all(s.vocabulary is corpus.vocabulary for s in shards)


def test_auto_sharding_picks_row_groups_only_when_there_are_enough(tmp_path):
    path = _write(_log(dirty=False), tmp_path / "log.parquet", 100)
    corpus = ParquetCorpus(path, session="s", item="i")
    assert corpus.n_row_groups >= 8
    assert corpus.shard(0, 2).shard_by == "row_groups"
    assert corpus.shard(0, corpus.n_row_groups).shard_by == "hash"


def test_expected_units_follows_the_shard(tmp_path):
    path = _write(_log(dirty=False), tmp_path / "log.parquet", 50)
    corpus = ParquetCorpus(path, session="s", item="i")
    assert corpus.expected_units(0.0) == corpus.n_events
    halves = [corpus.shard(i, 2, by="row_groups").expected_units(0.0) for i in range(2)]
    assert sum(halves) == pytest.approx(corpus.n_events)


# ----------------------------------------------------------------------------- bad input
def test_missing_column_is_named(tmp_path):
    path = _write(_log(), tmp_path / "log.parquet", 50)
    with pytest.raises(DataError, match=r"item column 'item' not found.*columns present: s, i, t"):
        ParquetCorpus(path, session="s", item="item")


def test_not_parquet_or_missing(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        ParquetCorpus(tmp_path / "nope.parquet", session="s", item="i")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="cannot read .*bad.parquet as Parquet"):
        ParquetCorpus(bad, session="s", item="i")
    csv = tmp_path / "log.csv"
    csv.write_text("s,i\n1,2\n")
    with pytest.raises(DataError, match="unsupported file type"):
        ParquetCorpus(csv, session="s", item="i")


def test_empty_and_too_short(tmp_path):
    empty = _write(_log().iloc[:0], tmp_path / "empty.parquet", 10)
    with pytest.raises(DataError, match="the log is empty"):
        ParquetCorpus(empty, session="s", item="i")
    singles = pd.DataFrame({"s": [1, 2, 3], "i": [1, 2, 3]})
    path = _write(singles, tmp_path / "singles.parquet", 10)
    with pytest.raises(DataError, match="no sessions of length >= 2 left"):
        ParquetCorpus(path, session="s", item="i")


def test_ungrouped_sessions_are_refused(tmp_path):
    df = pd.DataFrame({"s": ["a", "a", "b", "a"], "i": [1, 2, 3, 4]})
    path = _write(df, tmp_path / "log.parquet", 10)
    with pytest.raises(DataError, match="not grouped by session: session 'a'"):
        ParquetCorpus(path, session="s", item="i")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(min_count=0), "min_count must be an integer >= 1, got 0"),
        (dict(batch_rows=0), "batch_rows must be an integer >= 1, got 0"),
        (dict(min_length=True), "min_length must be an integer >= 1, got True"),
        (dict(collapse_repeats="yes"), "collapse_repeats must be True or False"),
    ],
)
def test_bad_parameters(tmp_path, kwargs, message):
    path = _write(_log(), tmp_path / "log.parquet", 50)
    with pytest.raises(ParameterError, match=message):
        ParquetCorpus(path, session="s", item="i", **kwargs)


def test_bad_shard_and_stream_arguments(tmp_path):
    path = _write(_log(), tmp_path / "log.parquet", 50)
    corpus = ParquetCorpus(path, session="s", item="i")
    with pytest.raises(ParameterError, match=r"shard index must be < count \(2\), got 2"):
        corpus.shard(2, 2)
    with pytest.raises(
        ParameterError, match="by must be one of 'auto', 'row_groups', 'hash', got 'files'"
    ):
        corpus.shard(0, 2, by="files")
    with pytest.raises(ParameterError, match="window must be an integer >= 1"):
        corpus.stream_units(batch_size=8, window=0, negatives=2)
    with pytest.raises(ParameterError, match="batch_size must be an integer >= 1, got 0"):
        corpus.stream_units(batch_size=0, window=2, negatives=2)


def test_item2vec_fits_a_parquet_corpus_streamed_from_disk(tmp_path):
    """Single-machine training on a log that is never loaded whole: planted clusters found."""
    import pandas as pd

    from item2vec import Item2Vec, datasets
    from item2vec.sampling.corpus import ParquetCorpus

    data = datasets.synthetic(n_items=200, n_clusters=10, n_sessions=2000, mean_length=8, seed=4)
    rows = [(s, it) for s, items in enumerate(data.sessions.to_lists()) for it in items]
    path = tmp_path / "log.parquet"
    pd.DataFrame(rows, columns=["session", "item"]).to_parquet(path, row_group_size=2000)
    corpus = ParquetCorpus(path, session="session", item="item", batch_rows=1000)
    model = Item2Vec(dim=16, epochs=4, batch_size=256, chunk_events=3000, progress=False)
    model.fit(corpus)
    vocab = data.sessions.vocabulary
    ids, _ = model.similar(list(vocab.ids), 10)
    precision = data.same_cluster_precision(vocab.encode(ids.ravel()).reshape(ids.shape))
    assert precision >= 0.9
