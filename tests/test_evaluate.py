"""Tests of the next-event evaluation harness, with hand-computed answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from item2vec import datasets
from item2vec import evaluate as ev
from item2vec.data import Sessions, Vocabulary
from item2vec.exceptions import DataError, ParameterError


def corpus(sessions: list[list[int]], n_items: int | None = None) -> Sessions:
    """Sessions whose items are given directly as vocabulary rows."""
    items = np.concatenate([np.asarray(s, np.int32) for s in sessions])
    n_items = n_items or int(items.max()) + 1
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in sessions])])
    counts = np.bincount(items, minlength=n_items)
    return Sessions(items, offsets, Vocabulary(np.arange(n_items, dtype=np.int64), counts))


@pytest.fixture(scope="module")
def synth():
    return datasets.synthetic(n_items=200, n_clusters=10, n_sessions=2000, seed=0)


@pytest.fixture(scope="module")
def synth_split(synth):
    return ev.next_event_split(synth.sessions, n_test=600, seed=0)


# ----------------------------------------------------------------------------- split
def test_split_hand_made():
    s = corpus([[0, 1, 2, 3], [4, 5], [6, 7, 8], [0, 2, 4]])
    sp = ev.next_event_split(s, n_test=3, seed=0)
    assert sp.test_sessions.tolist() == [0, 2, 3]
    assert sp.queries.tolist() == [2, 7, 2]
    assert sp.answers.tolist() == [3, 8, 4]
    assert sp.queries.dtype == np.int32 and sp.answers.dtype == np.int32
    assert sp.test_sessions.dtype == np.int64
    assert sp.train.to_lists() == [[0, 1, 2], [4, 5], [6, 7], [0, 2]]
    assert sp.train.vocabulary.ids.tolist() == s.vocabulary.ids.tolist()  # same rows
    assert sp.train.vocabulary.counts.tolist() == [2, 1, 2, 0, 1, 1, 1, 1, 0]  # recounted
    assert len(sp) == 3 and sp.seed == 0


def test_split_non_test_long_sessions_also_lose_last_item():
    s = corpus([[0, 1, 2], [3, 4, 5], [6, 7, 8], [1, 2]])
    sp = ev.next_event_split(s, n_test=1, seed=3)
    assert sp.train.lengths.tolist() == [2, 2, 2, 2]
    (t,) = sp.test_sessions
    assert sp.queries[0] == s[t][-2] and sp.answers[0] == s[t][-1]


def test_split_short_sessions_stay_whole_and_are_never_tested():
    s = corpus([[0, 1], [2, 3, 4], [5, 6], [7]])
    sp = ev.next_event_split(s, n_test=1)
    assert sp.test_sessions.tolist() == [1]
    assert sp.train.to_lists() == [[0, 1], [2, 3], [5, 6], [7]]


def test_split_min_length_and_fraction(synth):
    s = synth.sessions
    sp = ev.next_event_split(s, test_fraction=0.2, seed=1, min_length=5)
    eligible = np.flatnonzero(s.lengths >= 5)
    assert len(sp) == round(0.2 * len(eligible))
    assert np.isin(sp.test_sessions, eligible).all()
    assert (sp.train.lengths == s.lengths - (s.lengths >= 5)).all()
    last = s.offsets[sp.test_sessions + 1] - 1
    assert (sp.answers == s.items[last]).all() and (sp.queries == s.items[last - 1]).all()


def test_split_seed_reproducible(synth):
    a = ev.next_event_split(synth.sessions, n_test=100, seed=7)
    b = ev.next_event_split(synth.sessions, n_test=100, seed=7)
    c = ev.next_event_split(synth.sessions, n_test=100, seed=8)
    assert (a.test_sessions == b.test_sessions).all() and (a.answers == b.answers).all()
    assert not (a.test_sessions == c.test_sessions).all()
    assert (np.diff(a.test_sessions) > 0).all()


def test_validation_split_disjoint_from_test(synth):
    s = synth.sessions
    sp = ev.next_event_split(s, test_fraction=0.3, seed=0)
    va = ev.validation_split(sp, n_valid=300, seed=1)
    assert len(va) == 300 and va.min_length == sp.min_length
    assert not np.isin(va.test_sessions, sp.test_sessions).any()
    t = sp.train
    last = t.offsets[va.test_sessions + 1] - 1
    assert (va.answers == t.items[last]).all() and (va.queries == t.items[last - 1]).all()
    assert (va.train.lengths == t.lengths - (t.lengths >= 3)).all()
    again = ev.validation_split(sp, n_valid=300, seed=1)
    assert (again.test_sessions == va.test_sessions).all()


def test_validation_split_hand_made():
    s = corpus([[0, 1, 2, 3], [4, 5, 6, 7], [1, 2]])
    sp = ev.next_event_split(s, n_test=1, seed=0)
    va = ev.validation_split(sp, n_valid=1)
    (t,) = sp.test_sessions
    assert va.test_sessions.tolist() == [1 - t]
    assert va.queries.tolist() == [s[1 - t][1]] and va.answers.tolist() == [s[1 - t][2]]
    assert va.train.lengths.tolist() == [2, 2, 2]


def test_validation_split_several_events():
    s = corpus([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]])
    sp = ev.next_event_split(s, n_test=1, seed=0)
    (t,) = sp.test_sessions
    v = 1 - t
    assert ev.validation_pool(sp, 2).tolist() == [v] and ev.validation_pool(sp, 3).size == 0
    va = ev.validation_split(sp, n_valid=1, events=2)
    # the last two training items of the validation session are held out: two cases
    assert va.test_sessions.tolist() == [v, v]
    assert va.queries.tolist() == [s[v][1], s[v][2]]
    assert va.answers.tolist() == [s[v][2], s[v][3]]
    lengths = [0, 0, 2]
    lengths[t], lengths[v] = 3, 2  # the test session loses one more item, as with events=1
    assert va.train.lengths.tolist() == lengths
    assert va.train[v].tolist() == s[v][:2].tolist()
    assert va.train.vocabulary.counts[s[v][2:]].tolist() == [0, 0, 0]
    assert va.train.report["next-event: last items held out"] == 3
    one = ev.validation_split(sp, n_valid=1)
    assert one.test_sessions.tolist() == [v] and one.answers.tolist() == [s[v][3]]
    with pytest.raises(ParameterError, match="events must be an integer >= 1, got 0"):
        ev.validation_split(sp, events=0)
    msg = r"no session outside the test set has >= 5 items \(min_length 3 \+ events 3 - 1\)"
    with pytest.raises(DataError, match=msg):
        ev.validation_split(sp, events=3)


def test_split_errors():
    short = corpus([[0, 1], [1, 2]])
    msg = "no session has >= 3 items; the next-event protocol needs sessions of length >= 3"
    with pytest.raises(DataError, match=msg):
        ev.next_event_split(short)
    s = corpus([[0, 1, 2], [2, 1, 0]])
    with pytest.raises(ParameterError, match="n_test must be an integer >= 1, got 0"):
        ev.next_event_split(s, n_test=0)
    with pytest.raises(ParameterError, match="n_test=3 exceeds the 2 sessions"):
        ev.next_event_split(s, n_test=3)
    for bad in (0, 1.5, -0.1, "0.1", True):
        with pytest.raises(ParameterError, match="test_fraction must be in"):
            ev.next_event_split(s, test_fraction=bad)
    with pytest.raises(ParameterError, match="min_length must be an integer >= 2, got 1"):
        ev.next_event_split(s, min_length=1)
    sp = ev.next_event_split(s, n_test=2)
    with pytest.raises(DataError, match="no session outside the test set has >= 3"):
        ev.validation_split(sp)
    with pytest.raises(ParameterError, match="answers has shape"):
        ev.NextEventSplit(s, np.array([1, 2]), np.array([1]), np.array([0, 1]), 0)


# ----------------------------------------------------------------------------- metrics
RANKED = np.array([[5, 1, 2], [1, 2, 5], [1, 2, 3]])
ANSWERS = np.array([5, 5, 5])


def test_metrics_hand_computed():
    assert ev.answer_ranks(RANKED, ANSWERS).tolist() == [1, 3, 0]
    m = ev.rank_metrics(RANKED, ANSWERS, ks=(1, 3), n_items=10)
    assert m["HR@1"] == pytest.approx(1 / 3)
    assert m["HR@3"] == pytest.approx(2 / 3)
    assert m["NDCG@1"] == pytest.approx(1 / 3)
    assert m["NDCG@3"] == pytest.approx((1 + 1 / math.log2(4)) / 3)
    assert m["MRR"] == pytest.approx((1 + 1 / 3) / 3)
    assert m["coverage@1"] == pytest.approx(2 / 10)  # items 5 and 1
    assert m["coverage@3"] == pytest.approx(4 / 10)  # items 1, 2, 3, 5
    assert m["n_cases"] == 3


def test_metrics_rank_two_and_mrr_cut_at_largest_k():
    ranked = np.array([[9, 4, 7, 8]])
    m = ev.rank_metrics(ranked, [4], ks=(1, 2))
    assert m["HR@1"] == 0 and m["HR@2"] == 1
    assert m["NDCG@2"] == pytest.approx(1 / math.log2(3))
    assert m["MRR"] == pytest.approx(0.5)
    assert ev.rank_metrics(ranked, [8], ks=(1, 2))["MRR"] == 0  # rank 4 > largest K
    assert ev.rank_metrics(ranked, [8], ks=(4,))["MRR"] == pytest.approx(0.25)


def test_query_equal_to_answer_counts_as_hit():
    ranked = np.array([[1, 2], [1, 2]])
    m = ev.rank_metrics(ranked, [7, 8], ks=(1,), queries=[7, 3])
    assert m["HR@1"] == pytest.approx(0.5) and m["NDCG@1"] == pytest.approx(0.5)
    assert ev.answer_ranks(ranked, [7, 2], queries=[7, 3]).tolist() == [1, 2]
    assert ev.rank_metrics(ranked, [7, 8], ks=(1,))["HR@1"] == 0  # without queries: no hit


def test_padding_never_matches():
    m = ev.rank_metrics(np.array([[3, -1, -1]]), [4], ks=(3,), n_items=5)
    assert m["HR@3"] == 0 and m["coverage@3"] == pytest.approx(1 / 5)


def test_case_metrics_per_case_vectors():
    c = ev.case_metrics(np.array([1, 3, 0]), ks=(2,))
    assert c["HR@2"].tolist() == [1, 0, 0]
    assert c["NDCG@2"].tolist() == [1, 0, 0]
    assert c["MRR"].tolist() == [1, 0, 0]


def test_metric_errors():
    with pytest.raises(ParameterError, match="k must be >= 1, got 0"):
        ev.rank_metrics(RANKED, ANSWERS, ks=(0, 3))
    with pytest.raises(ParameterError, match="ks must name at least one cutoff"):
        ev.rank_metrics(RANKED, ANSWERS, ks=())
    with pytest.raises(ParameterError, match=r"ranked must be an integer array of shape"):
        ev.rank_metrics(RANKED, ANSWERS, ks=(10,))
    with pytest.raises(ParameterError, match="ranked must be"):
        ev.rank_metrics(np.array([1, 2, 3]), ANSWERS, ks=(1,))
    with pytest.raises(ParameterError, match="ranked must be"):
        ev.rank_metrics(RANKED.astype(float), ANSWERS, ks=(1,))
    with pytest.raises(ParameterError, match="answers has 2 entries, expected 3"):
        ev.rank_metrics(RANKED, ANSWERS[:2], ks=(1,))
    with pytest.raises(ParameterError, match="queries has 1 entries, expected 3"):
        ev.rank_metrics(RANKED, ANSWERS, ks=(1,), queries=[1])
    with pytest.raises(DataError, match="no test cases"):
        ev.rank_metrics(np.zeros((0, 3), int), np.zeros(0, int), ks=(1,))
    with pytest.raises(ParameterError, match="n_items must be an integer >= 1, got 0"):
        ev.rank_metrics(RANKED, ANSWERS, ks=(1,), n_items=0)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_metrics_match_naive_loop(data):
    n, k = data.draw(st.integers(1, 8)), data.draw(st.integers(1, 6))
    ranked = np.array(
        data.draw(
            st.lists(st.lists(st.integers(-1, 7), min_size=k, max_size=k), min_size=n, max_size=n)
        )
    )
    answers = np.array(data.draw(st.lists(st.integers(0, 7), min_size=n, max_size=n)))
    queries = np.array(data.draw(st.lists(st.integers(0, 7), min_size=n, max_size=n)))
    m = ev.rank_metrics(ranked, answers, ks=(k,), queries=queries)
    hr = ndcg = rr = 0.0
    for row, a, q in zip(ranked.tolist(), answers.tolist(), queries.tolist(), strict=True):
        rank = 1 if q == a else (row.index(a) + 1 if a in row else 0)
        if rank:
            hr, ndcg, rr = hr + 1, ndcg + 1 / math.log2(rank + 1), rr + 1 / rank
    assert m[f"HR@{k}"] == pytest.approx(hr / n)
    assert m[f"NDCG@{k}"] == pytest.approx(ndcg / n)
    assert m["MRR"] == pytest.approx(rr / n)


# ----------------------------------------------------------------------------- baselines
def test_popularity_known_order_excludes_query():
    s = corpus([[0, 0, 0, 1, 1, 2], [3, 0, 1]], n_items=5)  # counts 4, 3, 1, 1, 0
    rec = ev.popularity(s)
    out = rec(np.array([4, 0, 1]), 3)
    assert out.tolist() == [[0, 1, 2], [1, 2, 3], [0, 2, 3]]
    assert out.dtype == np.int32
    # item 4 was never seen: never recommended; the catalogue runs out -> -1
    assert rec(np.array([0]), 5).tolist() == [[1, 2, 3, -1, -1]]


def test_transitions_top1_and_ties_by_popularity():
    s = corpus([[0, 1, 2], [0, 1], [2, 0, 1], [0, 3], [4, 4, 4, 4]])
    rec = ev.transitions(s)
    assert rec(np.array([0]), 1).tolist() == [[1]]  # 0->1 three times, 0->3 once
    assert rec(np.array([0]), 2).tolist() == [[1, 3]]
    # 2 -> 0 once; backfill with popularity (0, 4, 1, 2, 3), skipping 2 and 0
    assert rec(np.array([2]), 3).tolist() == [[0, 4, 1]]
    s2 = corpus([[5, 1], [5, 2], [2, 2], [2, 0]], n_items=6)  # 5->1 and 5->2 once each
    assert ev.transitions(s2)(np.array([5]), 2).tolist() == [[2, 1]]  # 2 is more popular


def test_transitions_no_pairs_across_sessions_and_backfill():
    s = corpus([[0, 1], [2, 3], [2, 3]])
    rec = ev.transitions(s)
    # 1 has no successor (0 1 | 2 3): popularity 2, 3, 0 (ties by row), never 1 itself
    assert rec(np.array([1]), 3).tolist() == [[2, 3, 0]]
    assert rec(np.array([3]), 3).tolist() == [[2, 0, 1]]
    assert rec(np.array([0]), 4).tolist() == [[1, 2, 3, -1]]


def test_cooccurrence_counts_both_directions_weighted_by_distance():
    s = corpus([[0, 1, 2], [4, 2], [4, 5]])  # popularity order: 2, 4, 0, 1, 5
    # window 1: 0 (before 1) and 2 (after it) once each, the tie to the more popular 2;
    # transitions see only 1 -> 2 and fill up with popularity
    assert ev.cooccurrence(s)(np.array([1]), 2).tolist() == [[2, 0]]
    assert ev.transitions(s)(np.array([1]), 2).tolist() == [[2, 4]]  # 1 -> 2, backfill 4
    # window 2 around 2: 1 and 4 at distance 1 (1 each, tie to the more popular 4), 0 at
    # distance 2 (1/2); counted without the 1/d weight, 0 would tie and come before 1
    assert ev.cooccurrence(s, window=2)(np.array([2]), 3).tolist() == [[4, 1, 0]]
    with pytest.raises(ParameterError, match="window must be an integer >= 1, got 0"):
        ev.cooccurrence(s, window=0)


def test_cooccurrence_is_transitions_of_the_corpus_and_its_reverse(synth):
    train = ev.next_event_split(synth.sessions, n_test=50).train
    lists = [train.items[a:b].tolist() for a, b in zip(train.offsets[:-1], train.offsets[1:])]
    both = corpus(lists + [x[::-1] for x in lists], n_items=len(train.vocabulary))
    q = np.arange(len(train.vocabulary))
    np.testing.assert_array_equal(ev.cooccurrence(train)(q, 10), ev.transitions(both)(q, 10))


def test_transitions_batch_matches_single_queries_and_excludes_query(synth):
    train = ev.next_event_split(synth.sessions, n_test=50).train
    rec = ev.transitions(train)
    q = np.arange(len(train.vocabulary))
    out = rec(q, 25)
    assert out.shape == (len(q), 25)
    assert not (out == q[:, None]).any()
    assert all(len(set(r)) == 25 for r in out.tolist())
    for row in (0, 7, 150):
        assert rec(np.array([row]), 25).tolist() == [out[row].tolist()]


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 9), min_size=1, max_size=6), min_size=1, max_size=8),
    st.integers(1, 12),
)
def test_baselines_valid_lists(sessions, k):
    s = corpus(sessions, n_items=10)
    seen = np.unique(s.items)
    q = np.arange(10)
    for make in (ev.popularity, ev.transitions):
        out = make(s)(q, k)
        assert out.shape == (10, k)
        assert not (out == q[:, None]).any()
        for row, qq in zip(out.tolist(), q.tolist(), strict=True):
            real = [r for r in row if r >= 0]
            assert real == row[: len(real)] and len(set(real)) == len(real)
            assert np.isin(real, seen).all()
            assert len(real) == min(k, len(seen) - (qq in seen))


def test_baseline_errors():
    s = corpus([[0, 1, 2]])
    for make in (ev.popularity, ev.transitions):
        rec = make(s)
        with pytest.raises(ParameterError, match="k must be >= 1, got 0"):
            rec(np.array([0]), 0)
        with pytest.raises(ParameterError, match=r"queries must be vocabulary rows in \[0, 3\)"):
            rec(np.array([5]), 1)
        with pytest.raises(ParameterError, match="queries must be a 1-D integer array"):
            rec(np.array([[0]]), 1)


def oracle(clusters: np.ndarray):
    """Cluster-aware oracle: the most popular items of the query's cluster."""

    def make(train: Sessions):
        counts = np.bincount(train.items, minlength=len(train.vocabulary))

        def recommend(q, k):
            score = np.where(clusters[None, :] == clusters[q][:, None], counts + 1.0, 0.0)
            score[np.arange(len(q)), q] = -1
            out = np.argsort(-score, axis=1, kind="stable")[:, :k].astype(np.int32)
            out[np.take_along_axis(score, out, 1) <= 0] = -1
            return out

        return recommend

    return make


def test_synthetic_transitions_and_oracle_beat_popularity(synth, synth_split):
    pop = ev.evaluate(ev.popularity(synth_split.train), synth_split)
    trans = ev.evaluate(ev.transitions(synth_split.train), synth_split)
    orac = ev.evaluate(oracle(synth.clusters)(synth_split.train), synth_split)
    assert trans["HR@10"] > pop["HR@10"] + 0.2
    assert orac["HR@10"] > pop["HR@10"] + 0.3
    assert orac["NDCG@10"] > pop["NDCG@10"] + 0.2 and trans["MRR"] > pop["MRR"] + 0.1
    assert trans["coverage@10"] > pop["coverage@10"]


# ----------------------------------------------------------------------------- vectors
def test_vector_recommender_cosine():
    v = np.array([[1, 0], [0.9, 0.1], [0, 1], [-1, 0], [0, 0]], dtype=np.float32)
    rec = ev.vector_recommender(v)
    assert rec(np.array([0, 2]), 2).tolist() == [[1, 2], [1, 0]]
    assert rec(np.array([0]), 6).tolist() == [[1, 2, 3, -1, -1, -1]]  # zero row: unknown
    assert rec(np.array([4]), 2).tolist() == [[-1, -1]]  # unknown query: nothing
    keep = ev.vector_recommender(v, exclude_query=False)
    assert keep(np.array([0]), 2).tolist() == [[0, 1]]
    known = ev.vector_recommender(v, known=np.array([1, 0, 1, 1, 1], bool), fallback=[4, 1, 2])
    assert known(np.array([0]), 4).tolist() == [[2, 3, 4, 1]]
    chunked = ev.vector_recommender(v, chunk_size=1)
    assert (chunked(np.arange(4), 3) == rec(np.arange(4), 3)).all()


def test_vector_recommender_dot_plus_bias_and_output_table():
    v = np.array([[1, 0], [0, 1], [1, 1], [2, 0]], dtype=np.float32)
    b = np.array([0, 0.5, -1, -3], dtype=np.float32)
    # query 0: row 1 scores 0 + 0.5, row 2 1 - 1, row 3 2 - 3; by cosine it would be 3, 2, 1
    assert ev.vector_recommender(v, biases=b)(np.array([0]), 3).tolist() == [[1, 2, 3]]
    assert ev.vector_recommender(v)(np.array([0]), 3).tolist() == [[3, 2, 1]]
    # an output table: query 0 . targets = [.., 0, 3, -1] + b = [.., 0.5, 2, -4]
    t = np.array([[5, 5], [0, 1], [3, 0], [-1, 0]], dtype=np.float32)
    rec = ev.vector_recommender(v, biases=b, targets=t)
    assert rec(np.array([0]), 3).tolist() == [[2, 1, 3]]
    unknown = ev.vector_recommender(v, biases=b, known=np.array([1, 0, 1, 1], bool))
    assert unknown(np.array([0, 1]), 3).tolist() == [[2, 3, -1], [-1, -1, -1]]


def test_vector_recommender_errors():
    with pytest.raises(ParameterError, match=r"biases must be finite with shape \(2,\), got "
                       r"shape \(3,\)"):  # fmt: skip
        ev.vector_recommender(np.ones((2, 2)), biases=np.zeros(3))
    with pytest.raises(ParameterError, match=r"biases must be finite"):
        ev.vector_recommender(np.ones((2, 2)), biases=np.array([0, np.nan]))
    with pytest.raises(ParameterError, match=r"targets needs biases .* without biases"):
        ev.vector_recommender(np.ones((2, 2)), targets=np.ones((2, 2)))
    with pytest.raises(ParameterError, match=r"targets needs biases and the shape of vectors"):
        ev.vector_recommender(np.ones((2, 2)), biases=np.zeros(2), targets=np.ones((2, 3)))
    with pytest.raises(ParameterError, match="vectors must have shape"):
        ev.vector_recommender(np.zeros(3))
    with pytest.raises(ParameterError, match=r"known must have shape \(2,\)"):
        ev.vector_recommender(np.ones((2, 2)), known=np.ones(3, bool))
    rec = ev.vector_recommender(np.ones((2, 2)))
    with pytest.raises(ParameterError, match="k must be >= 1, got 0"):
        rec(np.array([0]), 0)


def test_gensim_recommender(synth, synth_split):
    pytest.importorskip("gensim")
    train = synth_split.train
    rec, model = ev.gensim_recommender(train, dim=16, epochs=5, workers=1, seed=0)
    out = rec(synth_split.queries, 10)
    assert out.shape == (len(synth_split), 10) and out.dtype == np.int32
    assert ((out >= 0) & (out < len(train.vocabulary))).all()
    assert not (out == synth_split.queries[:, None]).any()
    assert all(len(set(r)) == 10 for r in out.tolist())
    g = ev.evaluate(rec, synth_split)
    pop = ev.evaluate(ev.popularity(train), synth_split)
    assert g["HR@10"] > pop["HR@10"] + 0.15
    # items gensim drops (min_count) are never returned
    counts = np.bincount(train.items, minlength=len(train.vocabulary))
    rec2, model2 = ev.gensim_recommender(train, dim=8, epochs=1, min_count=60, workers=1)
    rare = np.flatnonzero(counts < 60)
    assert len(rare) and len(model2.wv) == (counts >= 60).sum()
    assert not np.isin(rec2(np.arange(len(counts)), 10), rare).any()


def test_gensim_log_prob_ranks_by_syn1neg_plus_prior(synth_split):
    pytest.importorskip("gensim")
    from item2vec.sampling import log_prior

    train = synth_split.train
    rec, model = ev.gensim_recommender(
        train, dim=16, epochs=3, workers=1, seed=0, ns_exponent=0.5, sample=1e-3, ranking="log_prob"
    )
    rows = np.array([int(w) for w in model.wv.index_to_key])
    q = synth_split.queries[:20]
    slot = {r: i for i, r in enumerate(rows.tolist())}
    prior = log_prior(train.vocabulary.counts, 0.5, 1e-3)[rows]
    for query, got in zip(q.tolist(), rec(q, 5).tolist(), strict=True):
        scores = model.syn1neg @ model.wv.vectors[slot[query]] + prior
        scores[slot[query]] = -np.inf
        assert got == rows[np.argsort(-scores, kind="stable")[:5]].tolist()
    assert (
        ev.evaluate(rec, synth_split)["HR@10"]
        > ev.evaluate(ev.popularity(train), synth_split)["HR@10"] + 0.15
    )


def test_model_recommender_rankings(synth_split):
    from item2vec import Item2Vec

    train = synth_split.train
    model = Item2Vec(dim=8, window=2, epochs=2, workers=1, progress=False, seed=0).fit(train)
    ids = train.vocabulary.ids
    q = synth_split.queries[:10]
    queries = {
        "cosine": lambda i: model.similar(i, 5)[0],
        "logit": lambda i: model.recommend(i, 5)[0],
        "log_prob": lambda i: model.recommend(i, 5, score="log_prob")[0],
    }
    for ranking, query in queries.items():
        got = ev.model_recommender(model, train, ranking)(q, 5)
        assert [ids[r].tolist() for r in got] == [query(ids[i]).tolist() for i in q]
    with pytest.raises(ParameterError, match=r"ranking must be one of \('cosine', 'logit', "
                       r"'log_prob'\), got 'dot'"):  # fmt: skip
        ev.model_recommender(model, train, "dot")


def test_gensim_recommender_errors():
    pytest.importorskip("gensim")
    s = corpus([[0, 1, 2]])
    with pytest.raises(ParameterError, match=r"ranking must be one of \('cosine', 'log_prob'\)"
                       r", got 'logit'"):  # fmt: skip
        ev.gensim_recommender(s, ranking="logit")
    with pytest.raises(ParameterError, match="dim must be an integer >= 1, got 0"):
        ev.gensim_recommender(s, dim=0)
    with pytest.raises(ParameterError, match="negatives must be an integer >= 0, got -1"):
        ev.gensim_recommender(s, negatives=-1)


# ----------------------------------------------------------------------------- evaluation
def test_evaluate_calls_recommend_once(synth_split):
    calls = []
    pop = ev.popularity(synth_split.train)

    def recommend(q, k):
        calls.append((len(q), k))
        return pop(q, k)

    m = ev.evaluate(recommend, synth_split, ks=(5, 10))
    assert calls == [(len(synth_split), 10)]
    assert m["n_cases"] == len(synth_split) and set(m) >= {"HR@5", "NDCG@10", "MRR"}


def test_evaluate_errors(synth_split):
    with pytest.raises(ParameterError, match=r"recommend returned shape \(600, 3\)"):
        ev.evaluate(lambda q, k: np.zeros((len(q), 3), np.int32), synth_split)
    with pytest.raises(ParameterError, match="k must be >= 1, got 0"):
        ev.evaluate(ev.popularity(synth_split.train), synth_split, ks=(0,))
    empty = ev.NextEventSplit(
        synth_split.train, np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, int), 0
    )
    with pytest.raises(DataError, match="the split has no test cases"):
        ev.evaluate(ev.popularity(synth_split.train), empty)


def test_intervals():
    lo, hi = ev.t_interval(np.array([1.0, 2.0, 3.0]))
    assert (lo + hi) / 2 == pytest.approx(2.0)
    assert (hi - lo) / 2 == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)
    assert ev._t_quantile(0.975, 1) == pytest.approx(12.7062, rel=1e-4)
    assert ev._t_quantile(0.975, 30) == pytest.approx(2.0423, rel=1e-4)
    assert ev.bootstrap_interval(np.full(50, 0.3)) == pytest.approx((0.3, 0.3))
    hits = (np.arange(1000) % 4 == 0).astype(float)
    a = ev.bootstrap_interval(hits, n_boot=500, seed=1)
    assert a == ev.bootstrap_interval(hits, n_boot=500, seed=1)
    assert a[0] < 0.25 < a[1] and a[1] - a[0] == pytest.approx(2 * 1.96 * 0.0137, rel=0.2)
    with pytest.raises(ParameterError, match="values must be 1-D with >= 2 entries"):
        ev.t_interval(np.array([1.0]))
    with pytest.raises(ParameterError, match="level must be in"):
        ev.t_interval(np.array([1.0, 2.0]), level=1.5)
    with pytest.raises(ParameterError, match="values must be 1-D and non-empty"):
        ev.bootstrap_interval(np.zeros(0))
    with pytest.raises(ParameterError, match="n_boot must be an integer >= 1, got 0"):
        ev.bootstrap_interval(hits, n_boot=0)


def test_compare_adds_paired_differences_against_a_reference(synth):
    s = synth.sessions
    methods = {"transitions": ev.transitions, "popularity": ev.popularity, "again": ev.transitions}
    table = ev.compare(methods, s, (0, 1, 2), reference="transitions", n_test=300)
    diffs = []
    for seed in range(3):
        split = ev.next_event_split(s, n_test=300, seed=seed)
        pop, trans = (ev.evaluate(f(split.train), split) for f in (ev.popularity, ev.transitions))
        diffs.append(pop["NDCG@10"] - trans["NDCG@10"])
    row = table.loc["popularity"]
    assert row["NDCG@10 diff"] == pytest.approx(np.mean(diffs))
    assert row["NDCG@10 diff high"] < 0  # popularity is clearly worse than transitions
    lo, hi = ev.t_interval(np.array(diffs))
    assert (row["NDCG@10 diff low"], row["NDCG@10 diff high"]) == pytest.approx((lo, hi))
    # the same method against itself: exactly level, an interval of width zero
    again = table.loc["again"]
    assert again["HR@10 diff"] == again["HR@10 diff low"] == again["HR@10 diff high"] == 0
    assert np.isnan(table.loc["transitions", "HR@10 diff"])
    assert "coverage@10 diff" not in table.columns  # not a per-case metric
    text = ev.format_table(table, ["HR@10 diff"])
    assert text.splitlines()[1].split() == ["transitions", "-", "300"]


def test_compare_with_one_seed_bootstraps_the_per_case_differences(synth):
    s = synth.sessions
    methods = {"transitions": ev.transitions, "popularity": ev.popularity}
    table = ev.compare(methods, s, (5,), reference="transitions", n_test=300, n_boot=200)
    split = ev.next_event_split(s, n_test=300, seed=5)
    per_case = {
        name: ev.case_metrics(
            ev.answer_ranks(f(split.train)(split.queries, 20), split.answers, split.queries)
        )["HR@10"]
        for name, f in methods.items()
    }
    d = per_case["popularity"] - per_case["transitions"]
    row = table.loc["popularity"]
    assert row["HR@10 diff"] == pytest.approx(d.mean())
    expected = ev.bootstrap_interval(d, n_boot=200, seed=5)
    assert (row["HR@10 diff low"], row["HR@10 diff high"]) == pytest.approx(expected)


def test_compare_rejects_an_unknown_reference(synth):
    with pytest.raises(
        ParameterError, match=r"reference must be one of the methods \('popularity'\), got 'ours'"
    ):
        ev.compare({"popularity": ev.popularity}, synth.sessions, (0,), reference="ours", n_test=50)


def test_evaluate_seeds_and_tables(synth):
    s = synth.sessions
    three = ev.evaluate_seeds(ev.popularity, s, seeds=(0, 1, 2), n_test=300)
    per = [
        ev.evaluate(ev.popularity(sp.train), sp)["HR@10"]
        for sp in (ev.next_event_split(s, n_test=300, seed=i) for i in range(3))
    ]
    assert three["HR@10"] == pytest.approx(np.mean(per))
    assert three["HR@10 low"] < three["HR@10"] < three["HR@10 high"]
    assert three["interval"] == "t over seeds" and three["n_cases"] == 300
    seen = []

    def make(train, seed):
        seen.append(seed)
        return ev.transitions(train)

    one = ev.evaluate_seeds(make, s, seeds=(5,), n_test=300, n_boot=200)
    assert seen == [5] and one["interval"] == "bootstrap over cases"
    assert one["HR@10 low"] < one["HR@10"] < one["HR@10 high"]
    table = ev.compare(
        {"popularity": ev.popularity, "transitions": ev.transitions}, s, seeds=(0, 1), n_test=200
    )
    assert isinstance(table, pd.DataFrame) and list(table.index) == ["popularity", "transitions"]
    text = ev.format_table(table, metrics=["HR@10", "NDCG@10"])
    assert "±" in text and "transitions" in text and "HR@10" in text
    row = table.loc["popularity"]
    half = (row["HR@10 high"] - row["HR@10 low"]) / 2
    assert f"{row['HR@10']:.3f} ± {half:.3f}" in text
    md = ev.format_table(table, metrics=["HR@10"], markdown=True)
    assert md.splitlines()[0] == "| method | HR@10 | cases |"
    with pytest.raises(ParameterError, match="metrics not in the table"):
        ev.format_table(table, metrics=["HR@99"])
    with pytest.raises(ParameterError, match="seeds must name at least one seed"):
        ev.evaluate_seeds(ev.popularity, s, seeds=())
