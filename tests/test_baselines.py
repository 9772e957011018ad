"""Tests of the baselines: popularity, transitions, co-occurrence (moved from test_evaluate.py)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import corpus
from hypothesis import given, settings
from hypothesis import strategies as st

from item2vec import datasets
from item2vec.data.sessions import Sessions
from item2vec.data.split import next_event_split
from item2vec.evaluation.baselines import cooccurrence, popularity, transitions
from item2vec.evaluation.protocols import evaluate
from item2vec.exceptions import ParameterError


# ----------------------------------------------------------------------------- baselines
def test_popularity_known_order_excludes_query():
    s = corpus([[0, 0, 0, 1, 1, 2], [3, 0, 1]], n_items=5)  # counts 4, 3, 1, 1, 0
    rec = popularity(s)
    out = rec(np.array([4, 0, 1]), 3)
    assert out.tolist() == [[0, 1, 2], [1, 2, 3], [0, 2, 3]]
    assert out.dtype == np.int32
    # item 4 was never seen: never recommended; the catalogue runs out -> -1
    assert rec(np.array([0]), 5).tolist() == [[1, 2, 3, -1, -1]]


def test_transitions_top1_and_ties_by_popularity():
    s = corpus([[0, 1, 2], [0, 1], [2, 0, 1], [0, 3], [4, 4, 4, 4]])
    rec = transitions(s)
    assert rec(np.array([0]), 1).tolist() == [[1]]  # 0->1 three times, 0->3 once
    assert rec(np.array([0]), 2).tolist() == [[1, 3]]
    # 2 -> 0 once; backfill with popularity (0, 4, 1, 2, 3), skipping 2 and 0
    assert rec(np.array([2]), 3).tolist() == [[0, 4, 1]]
    s2 = corpus([[5, 1], [5, 2], [2, 2], [2, 0]], n_items=6)  # 5->1 and 5->2 once each
    assert transitions(s2)(np.array([5]), 2).tolist() == [[2, 1]]  # 2 is more popular


def test_transitions_no_pairs_across_sessions_and_backfill():
    s = corpus([[0, 1], [2, 3], [2, 3]])
    rec = transitions(s)
    # 1 has no successor (0 1 | 2 3): popularity 2, 3, 0 (ties by row), never 1 itself
    assert rec(np.array([1]), 3).tolist() == [[2, 3, 0]]
    assert rec(np.array([3]), 3).tolist() == [[2, 0, 1]]
    assert rec(np.array([0]), 4).tolist() == [[1, 2, 3, -1]]


def test_cooccurrence_counts_both_directions_weighted_by_distance():
    s = corpus([[0, 1, 2], [4, 2], [4, 5]])  # popularity order: 2, 4, 0, 1, 5
    # window 1: 0 (before 1) and 2 (after it) once each, the tie to the more popular 2;
    # transitions see only 1 -> 2 and fill up with popularity
    assert cooccurrence(s)(np.array([1]), 2).tolist() == [[2, 0]]
    assert transitions(s)(np.array([1]), 2).tolist() == [[2, 4]]  # 1 -> 2, backfill 4
    # window 2 around 2: 1 and 4 at distance 1 (1 each, tie to the more popular 4), 0 at
    # distance 2 (1/2); counted without the 1/d weight, 0 would tie and come before 1
    assert cooccurrence(s, window=2)(np.array([2]), 3).tolist() == [[4, 1, 0]]
    with pytest.raises(ParameterError, match="window must be an integer >= 1, got 0"):
        cooccurrence(s, window=0)


def test_cooccurrence_is_transitions_of_the_corpus_and_its_reverse(synth):
    train = next_event_split(synth.sessions, n_test=50).train
    lists = [train.items[a:b].tolist() for a, b in zip(train.offsets[:-1], train.offsets[1:])]
    both = corpus(lists + [x[::-1] for x in lists], n_items=len(train.vocabulary))
    q = np.arange(len(train.vocabulary))
    np.testing.assert_array_equal(cooccurrence(train)(q, 10), transitions(both)(q, 10))


def test_transitions_batch_matches_single_queries_and_excludes_query(synth):
    train = next_event_split(synth.sessions, n_test=50).train
    rec = transitions(train)
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
    for make in (popularity, transitions):
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
    for make in (popularity, transitions):
        rec = make(s)
        with pytest.raises(ParameterError, match="k must be an integer >= 1, got 0"):
            rec(np.array([0]), 0)
        with pytest.raises(ParameterError, match=r"queries must be vocabulary rows in \[0, 3\)"):
            rec(np.array([5]), 1)
        with pytest.raises(ParameterError, match=r"queries must be rows of shape \(n,\) or "
                           r"histories of shape \(n, N\), got \(1, 1, 1\)"):  # fmt: skip
            rec(np.array([[[0]]]), 1)


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
    pop = evaluate(popularity(synth_split.train), synth_split)
    trans = evaluate(transitions(synth_split.train), synth_split)
    orac = evaluate(oracle(synth.clusters)(synth_split.train), synth_split)
    assert trans["HR@10"] > pop["HR@10"] + 0.2
    assert orac["HR@10"] > pop["HR@10"] + 0.3
    assert orac["NDCG@10"] > pop["NDCG@10"] + 0.2 and trans["MRR"] > pop["MRR"] + 0.1
    assert trans["coverage@10"] > pop["coverage@10"]


def test_order_weight_tells_baskets_from_walks():
    from item2vec.queries.counts import choose_order_weight, next_counts, order_weight, pair_matrix

    walks = datasets.synthetic(n_items=300, n_clusters=10, n_sessions=3000, successors=3)
    forward = pair_matrix(walks.sessions, window=1, symmetric=False)
    assert order_weight(forward) < 0.2  # an ordered log: what came before says little
    # the same sessions with their items shuffled: no order left, the weight is about 1
    rng = np.random.default_rng(0)
    s = walks.sessions
    items = s.items.copy()
    for a, b in zip(s.offsets[:-1], s.offsets[1:], strict=True):
        items[a:b] = rng.permutation(items[a:b])
    shuffled = Sessions(items, s.offsets, s.vocabulary)
    assert order_weight(pair_matrix(shuffled, window=1, symmetric=False)) > 0.9
    # next_counts: forward counts plus the backward ones weighted by choose_order_weight
    beta = choose_order_weight(walks.sessions)
    assert beta < 0.3  # on walks, what came before misleads
    chosen = next_counts(walks.sessions, window=1)
    assert chosen.window == 1 and chosen.beta == beta
    np.testing.assert_allclose(chosen.forward.toarray(), forward.toarray())
    np.testing.assert_allclose(chosen.counts.toarray(), (forward + beta * forward.T).toarray())
    assert choose_order_weight(shuffled) >= 0.75  # without order, both directions help
    tiny = Sessions.from_lists([["a", "b"], ["b", "a"]])  # a perfectly symmetric log
    assert order_weight(pair_matrix(tiny, window=1, symmetric=False)) == 1.0
    assert choose_order_weight(Sessions.from_lists([["a"], ["b", "b"]])) == 1.0  # no pairs


def test_pair_matrices_by_hand():
    from item2vec.queries.counts import pair_matrices, pair_matrix

    s = Sessions.from_lists([["a", "b", "c", "a"], ["c", "b"]])
    r = {v: i for i, v in enumerate(s.vocabulary.ids.tolist())}
    one, two, three = pair_matrices(s, (1, 2, 3))
    want = np.zeros((3, 3))
    for x, y, w in [("a", "b", 1), ("b", "c", 1), ("c", "a", 1), ("c", "b", 1)]:
        want[r[x], r[y]] += w
    np.testing.assert_allclose(one.toarray(), want)
    want[r["a"], r["c"]] += 0.5  # a _ c
    want[r["b"], r["a"]] += 0.5  # b _ a
    np.testing.assert_allclose(two.toarray(), want)
    np.testing.assert_allclose(three.toarray(), want)  # a _ _ a: the same item, skipped
    for w, m in ((1, one), (2, two)):
        np.testing.assert_allclose(pair_matrix(s, w, symmetric=False).toarray(), m.toarray())
        both = pair_matrix(s, w, symmetric=True).toarray()
        np.testing.assert_allclose(both, m.toarray() + m.toarray().T)


def test_choose_window_takes_the_smallest_window_that_predicts_best():
    from item2vec.queries.counts import choose_window, next_counts

    # "a" is followed by "b" two places later in many sessions (a filler between); one
    # session ends "a b": left out, window 1 has no other "a -> b" left, window 2 does
    lists = [["a", f"f{i}", "b"] for i in range(6)] + [["g", "a", "b"]]
    s = Sessions.from_lists(lists)
    window, forward = choose_window(s, beta=0.0)
    assert window == 2  # 3 and 5 predict as well: the smallest wins
    r = {v: i for i, v in enumerate(s.vocabulary.ids.tolist())}
    assert forward[r["a"], r["b"]] == 1 + 6 * 0.5
    # adjacent evidence only: window 1
    s = Sessions.from_lists([["a", "b"]] * 4 + [["c", "d", "e"]] * 3)
    assert choose_window(s, beta=0.0)[0] == 1
    assert choose_window(Sessions.from_lists([["a", "a"]]), beta=1.0)[0] == 1  # nothing to judge
    assert next_counts(Sessions.from_lists(lists)).window == 2


def test_loo_history_hit_rate_by_hand():
    from item2vec.queries.counts import (
        last_histories,
        loo_history_hit_rate,
        loo_history_hits,
        pair_matrix,
    )

    s = Sessions.from_lists([["x", "y", "b"], ["x", "t"], ["y", "t"], ["y", "b"], ["b", "q", "b"]])
    r = {v: i for i, v in enumerate(s.vocabulary.ids.tolist())}
    hist, last = last_histories(s, 2)
    # oldest first, -1 padding; "b q b" is left out (its answer is in its history)
    want = [[r["x"], r["y"]], [-1, r["x"]], [-1, r["y"]], [-1, r["y"]]]
    np.testing.assert_array_equal(hist, want)
    np.testing.assert_array_equal(last, [r["b"], r["t"], r["t"], r["b"]])
    forward = pair_matrix(s, window=1, symmetric=False)
    # rows: x -> y 1, t 1; y -> t 1, b 2. Without each case's own pair (window 1: only the
    # item just before the answer), divided by the rows' sums:
    # (x, y) -> b: y 2/3 (t 1/2, b 1/2), x 1/3 (y 1/2, t 1/2): t 1/2 > b 1/3, y not a candidate
    # (x) -> t and (y) -> t: nothing left for t; (y) -> b: t 1/2 = b 1/2, a tie (half a place)
    hits = loo_history_hits(forward, 0.0, 1, hist, last, k=1)
    np.testing.assert_array_equal(hits, [False, False, False, True])
    assert loo_history_hit_rate(forward, 0.0, 1, hist, last, k=2) == 0.5


def test_loo_hit_rate_by_hand():
    from item2vec.queries.counts import last_pairs, loo_hit_rate

    # row 0: 1 -> 3, 2 -> 2, 3 -> 2; row 1: 0 -> 1
    c = sp.csr_matrix(np.array([[0, 3, 2, 2], [1, 0, 0, 0], [0] * 4, [0] * 4], float))
    a, b = np.array([0, 0, 1]), np.array([1, 2, 0])
    # (0 -> 1): own 2, nothing above, two ties: rank 1 -> hit at k=2, not at k=1
    # (0 -> 2): own 1, three above (minus itself: 2) -> hit at k=3 only
    # (1 -> 0): own 0, no count left: always a miss
    assert loo_hit_rate(c, a, b, k=1) == 0.0
    assert loo_hit_rate(c, a, b, k=2) == pytest.approx(1 / 3)
    assert loo_hit_rate(c, a, b, k=3) == pytest.approx(2 / 3)
    assert loo_hit_rate(c, a[:0], b[:0]) == 0.0
    s = Sessions.from_lists([["x", "y", "z"], ["x"], ["z", "z"], ["y", "x"]])
    a, b = last_pairs(s)  # last two items of each session with two different ones
    v = s.vocabulary
    assert list(zip(v.ids[a], v.ids[b])) == [("y", "z"), ("y", "x")]


def test_sknn_votes_of_the_most_similar_sessions():
    from item2vec.evaluation.baselines import sknn

    train = Sessions.from_lists(
        [["a", "b", "c"], ["a", "b", "d"], ["a", "e"], ["x", "y"], ["x", "y"], ["x", "y"]]
    )
    v = train.vocabulary
    rec = sknn(train, neighbours=2)
    # history {a, b}: sessions 0 and 1 share 2 items (cosine 2/sqrt(6)), session 2 one
    # (1/2); with 2 neighbours only sessions 0 and 1 vote: c and d, tied, then popularity
    got = rec(np.array([v.encode(["a", "b"])]), 4)[0]
    assert set(v.decode(got[:2]).tolist()) == {"c", "d"}
    assert v.decode(got[2:3]).tolist() == ["x"]  # backfill: the most popular, not a or b
    # with 3 neighbours e gets session 2's vote, below c and d
    got = sknn(train, neighbours=3)(np.array([v.encode(["a", "b"])]), 3)[0]
    assert v.decode(got[2:3]).tolist() == ["e"]
    # a 1-D query is a history of one item; the query is never listed
    one = rec(v.encode(["e"]), 2)[0]
    assert "e" not in v.decode(one[one >= 0]).tolist()
    with pytest.raises(ParameterError, match="neighbours must be an integer >= 1, got 0"):
        sknn(train, neighbours=0)


def test_count_baselines_sum_a_history_with_recency_weights():
    # after c: d (twice); after b: e (three times). History [b, c] (c newest, weight 2/3):
    # d scores 2/3 * 2, e scores 1/3 * 3: d first. History [c, b]: e first.
    train = Sessions.from_lists([["c", "d"], ["c", "d"], ["b", "e"], ["b", "e"], ["b", "e"]])
    v = train.vocabulary
    rec = transitions(train)
    assert v.decode(rec(np.array([v.encode(["b", "c"])]), 2)[0]).tolist() == ["d", "e"]
    assert v.decode(rec(np.array([v.encode(["c", "b"])]), 2)[0]).tolist() == ["e", "d"]
    # a history of one item (2-D) ranks as the 1-D query does
    q = v.encode(["c", "b"])
    np.testing.assert_array_equal(rec(q[:, None], 3), rec(q, 3))
    # popularity leaves every history item out
    pop = popularity(train)(np.array([v.encode(["b", "e"])]), 2)[0]
    assert set(v.decode(pop).tolist()) == {"c", "d"}
