"""Neighbour counts on every training path: known answers, block and shard independence,
Parquet streams that count what memory counts, the top-K bound, and every bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from item2vec import Item2Vec, Sessions, datasets
from item2vec.exceptions import ModelFormatError, ParameterError
from item2vec.queries.corpus_counts import corpus_counter, corpus_counts
from item2vec.queries.counts import (
    COUNT_WINDOWS,
    LOO_CASES,
    choose_order_weight,
    choose_window,
    counts_arrays,
    counts_from_arrays,
    counts_from_counter,
    last_histories,
    last_pairs,
    next_counts,
    pair_matrix,
)
from item2vec.queries.pair_counts import (
    TAIL,
    THREAD_BYTES,
    PairCounter,
    count_blocks,
    distance_counts,
    in_threads,
    session_tails,
    top_neighbours,
    weigh_distances,
)
from item2vec.sampling.corpus import ParquetCorpus

HAND = [["a", "b", "c", "a"], ["b", "c"], ["d", "b", "d"], ["e"]]
# forward pairs by hand (a != b, never across sessions):
#   distance 1: a>b, b>c, c>a (first session), b>c (second), d>b, b>d (third)
#   distance 2: a>c, b>a (first); d>d skipped
#   distance 3: a>a skipped
N1 = {("a", "b"): 1, ("b", "c"): 2, ("c", "a"): 1, ("d", "b"): 1, ("b", "d"): 1}
N2 = {("a", "c"): 1, ("b", "a"): 1}


def _dense(pairs: dict, vocab) -> np.ndarray:
    out = np.zeros((len(vocab),) * 2)
    for (x, y), v in pairs.items():
        out[vocab.encode([x])[0], vocab.encode([y])[0]] = v
    return out


@pytest.fixture(scope="module")
def hand() -> Sessions:
    return Sessions.from_lists(HAND, min_length=1)


def _write(sessions: Sessions, path, row_group_size: int) -> str:
    df = pd.DataFrame({
        "session": np.repeat(np.arange(len(sessions)), sessions.lengths),
        "item": sessions.vocabulary.ids[sessions.items],
    })  # fmt: skip
    df.to_parquet(path, row_group_size=row_group_size)
    return str(path)


@pytest.fixture(scope="module")
def walks() -> Sessions:
    return datasets.synthetic(n_items=300, n_clusters=10, n_sessions=900, mean_length=8,
                              noise=0.2, seed=5, successors=4).sessions  # fmt: skip


@pytest.fixture(scope="module")
def walk_log(walks, tmp_path_factory) -> str:
    return _write(walks, tmp_path_factory.mktemp("walks") / "log.parquet", 700)


# ----------------------------------------------------------------------------- known answers
def test_distance_counts_and_windows_by_hand(hand):
    counter = PairCounter(len(hand.vocabulary), 3)
    counter.add(hand.items, hand.lengths)
    n1, n2, n3 = counter.distance_counts()
    np.testing.assert_array_equal(n1.toarray(), _dense(N1, hand.vocabulary))
    np.testing.assert_array_equal(n2.toarray(), _dense(N2, hand.vocabulary))
    assert n3.nnz == 0
    f1, f3 = counter.forwards((1, 3))
    np.testing.assert_array_equal(f1.toarray(), _dense(N1, hand.vocabulary))
    want = _dense(N1, hand.vocabulary) + 0.5 * _dense(N2, hand.vocabulary)
    np.testing.assert_array_equal(f3.toarray(), want)
    # the in-memory helpers count the same
    np.testing.assert_array_equal(pair_matrix(hand, 3, symmetric=False).toarray(), want)
    np.testing.assert_array_equal(pair_matrix(hand, 3).toarray(), want + want.T)


def test_distance_counts_agree_with_a_dense_count_on_a_random_log():
    rng = np.random.default_rng(5)
    lengths = rng.integers(1, 9, 400)
    items = rng.integers(0, 30, lengths.sum())
    got = distance_counts(items, lengths, 30, 3)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    for d, m in enumerate(got, start=1):
        want = np.zeros((30, 30))
        for a, b in zip(starts[:-1], starts[1:], strict=True):
            for i in range(a, b - d):
                if items[i] != items[i + d]:
                    want[items[i], items[i + d]] += 1
        assert m.has_sorted_indices and m.dtype == np.float64
        np.testing.assert_array_equal(m.toarray(), want)


def test_in_threads_keeps_the_order_and_stays_serial_for_large_pieces(monkeypatch):
    import threading

    cases = [(i, 10 - i) for i in range(7)]
    want = [a * 100 + b for a, b in cases]
    seen: list[str] = []

    def fn(a: int, b: int) -> int:
        seen.append(threading.current_thread().name)
        return a * 100 + b

    assert in_threads(fn, cases, 1) == want
    assert any(name.startswith("item2vec-counts") for name in seen)  # small pieces: a pool
    seen.clear()
    assert in_threads(fn, iter(cases), THREAD_BYTES + 1) == want  # too large: this thread
    assert set(seen) == {threading.current_thread().name}
    seen.clear()
    monkeypatch.setattr("item2vec.queries.pair_counts.usable_cores", lambda: 1)  # no pool
    assert in_threads(fn, cases, 1) == want and set(seen) == {threading.current_thread().name}
    assert in_threads(fn, [], 1) == []


def test_next_counts_with_a_fixed_window_by_hand(hand):
    got = next_counts(hand, window=3)
    f = _dense(N1, hand.vocabulary) + 0.5 * _dense(N2, hand.vocabulary)
    assert got.window == 3
    np.testing.assert_array_equal(got.forward.toarray(), f)
    np.testing.assert_allclose(got.counts.toarray(), f + got.beta * f.T, rtol=0, atol=1e-15)
    assert got.counts.has_sorted_indices


def test_session_tails_by_hand():
    items = np.arange(1, 11)
    lengths = np.array([7, 1, 2])  # the second session is too short to judge anything
    tails = session_tails(items, lengths)
    assert TAIL == 6
    np.testing.assert_array_equal(tails, [[2, 3, 4, 5, 6, 7], [-1, -1, -1, -1, 9, 10]])
    assert session_tails(np.zeros(0, int), np.zeros(0, int)).shape == (0, TAIL)


def test_judges_read_tails_as_they_read_sessions(walks):
    tails = session_tails(walks.items, walks.lengths)
    for x, y in zip(last_pairs(walks), last_pairs(tails), strict=True):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(last_histories(walks), last_histories(tails), strict=True):
        np.testing.assert_array_equal(x, y)
    f = pair_matrix(walks, 1, symmetric=False)
    assert choose_order_weight(walks, f) == choose_order_weight(tails, f)


# ----------------------------------------------------------------------------- blocks, shards
def test_blocks_in_any_order_give_the_same_counts_and_sample(walks):
    n = len(walks.vocabulary)
    whole = PairCounter(n, 5, sample=100)
    whole.add(walks.items, walks.lengths)
    bounds = np.concatenate([[0], np.cumsum(walks.lengths)])
    cuts = np.array_split(np.arange(len(walks)), 7)
    blocks = []
    for ix in cuts:
        items = walks.items[bounds[ix[0]] : bounds[ix[-1] + 1]]
        blocks.append((items, walks.lengths[ix], ix.astype(np.int64)))
    shuffled = count_blocks(blocks[::-1], n, 5, sample=100)
    for a, b in zip(whole.distance_counts(), shuffled.distance_counts(), strict=True):
        assert (a != b).nnz == 0
    np.testing.assert_array_equal(whole.tails(), shuffled.tails())
    assert len(whole.tails()) == 100 and whole.n_sessions == len(walks)
    # the sample of tails, put back in log order, comes from the sessions' tails
    all_tails = session_tails(walks.items, walks.lengths)
    assert {tuple(t) for t in whole.tails()} <= {tuple(t) for t in all_tails}
    merged = PairCounter.from_parts(n, 5, 100, [c.to_arrays() for c in (whole,)])
    np.testing.assert_array_equal(merged.tails(), whole.tails())
    assert whole.peak_bytes > 0


def test_weights_added_in_distance_order_give_the_same_bits(walks):
    counter = PairCounter(len(walks.vocabulary), 5)
    counter.add(walks.items, walks.lengths)
    per = counter.distance_counts()
    again = weigh_distances([m.copy() for m in per], COUNT_WINDOWS)
    for a, b in zip(counter.forwards(COUNT_WINDOWS), again, strict=True):
        assert (a != b).nnz == 0


def test_parquet_counts_are_the_in_memory_counts(walks, walk_log):
    memory = Sessions.from_parquet(walk_log, session="session", item="item")
    corpus = ParquetCorpus(walk_log, session="session", item="item", batch_rows=97)
    assert corpus.n_row_groups > 4
    want = next_counts(memory)
    got = corpus_counts(corpus)
    assert (got.window, got.beta) == (want.window, want.beta)
    assert (got.counts != want.counts).nnz == 0 and (got.forward != want.forward).nnz == 0
    for w in (1, 2):  # a fixed window: identical
        a, b = corpus_counts(corpus, window=w), next_counts(memory, window=w)
        assert (a.counts != b.counts).nnz == 0 and a.beta == b.beta
    # chunk by chunk: many small chunks count the same
    small = PairCounter(len(corpus.vocabulary), 5)
    for block in corpus.keyed_sessions(chunk_events=50):
        small.add(*block)
    tails = session_tails(memory.items, memory.lengths)
    np.testing.assert_array_equal(small.tails(), tails)


@pytest.mark.parametrize("by", ["row_groups", "hash"])
def test_shards_summed_are_the_whole_corpus(walk_log, by):
    corpus = ParquetCorpus(walk_log, session="session", item="item")
    whole = corpus_counter(corpus)
    parts = [corpus_counter(corpus.shard(i, 2, by=by)).to_arrays() for i in range(2)]
    summed = PairCounter.from_parts(len(corpus.vocabulary), 5, LOO_CASES, parts)
    for a, b in zip(whole.distance_counts(), summed.distance_counts(), strict=True):
        assert (a != b).nnz == 0
    np.testing.assert_array_equal(whole.tails(), summed.tails())
    a, b = counts_from_counter(whole), counts_from_counter(summed)
    assert (a.counts != b.counts).nnz == 0 and (a.window, a.beta) == (b.window, b.beta)


def test_sample_keeps_the_same_sessions_whatever_the_sharding(walk_log):
    corpus = ParquetCorpus(walk_log, session="session", item="item")
    n = len(corpus.vocabulary)
    one = count_blocks(corpus.keyed_sessions(), n, 1, sample=50)
    parts = [count_blocks(corpus.shard(i, 3, by="hash").keyed_sessions(), n, 1, sample=50)
             for i in range(3)]  # fmt: skip
    merged = PairCounter.from_parts(n, 1, 50, [p.to_arrays() for p in parts])
    np.testing.assert_array_equal(one.tails(), merged.tails())


# ----------------------------------------------------------------------------- top-K
def test_top_neighbours_keeps_each_rows_largest_ties_by_column():
    m = sp.csr_matrix(np.array([[0, 3, 1, 2], [5, 5, 5, 0], [0, 0, 0, 7], [0, 0, 0, 0.0]]))
    got = top_neighbours(m, 2).toarray()
    np.testing.assert_array_equal(got, [[0, 3, 0, 2], [5, 5, 0, 0], [0, 0, 0, 7], [0, 0, 0, 0]])
    assert top_neighbours(m, 2).has_sorted_indices
    assert (top_neighbours(m, None) != m).nnz == 0 and (top_neighbours(m, 3) != m).nnz == 0
    assert m.nnz == 7  # the argument is left alone


def test_counts_keep_at_most_k_neighbours_and_the_strongest(walks):
    full = next_counts(walks, max_neighbours=None)
    cut = next_counts(walks, max_neighbours=5)
    assert (cut.window, cut.beta) == (full.window, full.beta)  # judged before the cut
    assert np.diff(cut.counts.indptr).max() == 5 < np.diff(full.counts.indptr).max()
    assert np.diff(cut.forward.indptr).max() <= 5
    for r in range(0, len(walks.vocabulary), 37):
        row = full.counts[r].toarray().ravel()
        kept = cut.counts[r].toarray().ravel()
        if (row > 0).sum() > 5:
            assert kept.min() == 0 and row[kept > 0].min() >= np.sort(row)[-5]
        np.testing.assert_array_equal(kept[kept > 0], row[kept > 0])


# ----------------------------------------------------------------------------- the estimator
def test_a_parquet_fit_has_the_blend_with_the_in_memory_counts(walk_log, tmp_path):
    corpus = ParquetCorpus(walk_log, session="session", item="item")
    model = Item2Vec(dim=8, epochs=1, progress=False, seed=0).fit(corpus)
    assert model.default_score_ == "blend"
    want = next_counts(Sessions.from_parquet(walk_log, session="session", item="item"))
    assert (model.neighbour_counts_ != want.counts).nnz == 0
    assert model.update_state_.window == want.window
    ids, _ = model.recommend(corpus.vocabulary.ids[0], k=5)
    assert len(ids) == 5
    model.save(tmp_path / "m")
    back = Item2Vec.load(tmp_path / "m")
    assert back.default_score_ == "blend" and (back.neighbour_counts_ != want.counts).nnz == 0


def test_counts_arrays_round_trip_and_say_what_is_wrong(hand):
    c = next_counts(hand).counts
    arrays = counts_arrays(c)
    assert (counts_from_arrays(arrays, c.shape[0], "m") != c).nnz == 0
    assert counts_arrays(None) == {} and counts_from_arrays({}, 3, "m") is None
    with pytest.raises(ModelFormatError, match="m: invalid neighbour counts: some of its arrays"):
        counts_from_arrays({"neighbour_indptr": arrays["neighbour_indptr"]}, c.shape[0], "m")
    bad = dict(arrays, neighbour_indices=arrays["neighbour_indices"] + 100)
    with pytest.raises(ModelFormatError, match="m: invalid neighbour counts"):
        counts_from_arrays(bad, c.shape[0], "m")


# ----------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(max_distance=0), "max_distance must be an integer >= 1, got 0"),
        (dict(max_distance=1.5), "max_distance must be an integer >= 1, got 1.5"),
        (dict(max_distance=2, sample=0), "sample must be None or an integer >= 1, got 0"),
        (dict(max_distance=2, sample="all"), "sample must be None or an integer >= 1, got 'all'"),
    ],
)
def test_pair_counter_refuses_bad_settings(kwargs, message):
    with pytest.raises(ParameterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        PairCounter(10, **kwargs)


def test_pair_counter_refuses_bad_blocks():
    c = PairCounter(4, 2)
    with pytest.raises(ParameterError, match="the lengths add up to 3 events but the block has 2"):
        c.add(np.array([0, 1]), np.array([3]))
    with pytest.raises(ParameterError, match=r"items must be vocabulary rows in \[0, 4\)"):
        c.add(np.array([0, 4]), np.array([2]))
    with pytest.raises(ParameterError, match=r"items must be vocabulary rows in \[0, 4\)"):
        c.add(np.array([-1, 2]), np.array([2]))
    with pytest.raises(ParameterError, match=r"places must have one entry per session \(1\)"):
        c.add(np.array([0, 1]), np.array([2]), places=np.array([0, 1]))
    with pytest.raises(ParameterError, match=r"windows \(1, 3\) go beyond the counted distance 2"):
        c.forwards((1, 3))


def test_too_many_items_for_the_workers_keys():
    with pytest.raises(ParameterError, match="too many to send pair counts between workers"):
        PairCounter(100_000_000, 1).to_arrays()
    with pytest.raises(ParameterError, match="too many to send pair counts between workers"):
        PairCounter.from_parts(100_000_000, 1, None, [])


@pytest.mark.parametrize("k", [0, -3, 2.5, True, "10"])
def test_top_neighbours_refuses_bad_k(k, hand):
    with pytest.raises(ParameterError, match="max_neighbours must be None or an integer >= 1"):
        top_neighbours(sp.csr_matrix((2, 2)), k)
    with pytest.raises(ParameterError, match="max_neighbours must be None or an integer >= 1"):
        next_counts(hand, max_neighbours=k)


def test_judges_on_tails_need_the_counts_and_a_history_that_fits(walks):
    tails = session_tails(walks.items, walks.lengths)
    with pytest.raises(ValueError, match="choose_order_weight on session tails needs the forward"):
        choose_order_weight(tails)
    with pytest.raises(ValueError, match="choose_window on session tails needs the forward"):
        choose_window(tails, 0.5)
    with pytest.raises(ValueError, match="tails of 6 items hold histories of 1 to 5, not 6"):
        last_histories(tails, 6)


def test_keyed_sessions_refuses_a_bad_chunk(walk_log):
    corpus = ParquetCorpus(walk_log, session="session", item="item")
    with pytest.raises(ParameterError, match="chunk_events"):
        next(corpus.keyed_sessions(chunk_events=0))
