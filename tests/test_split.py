"""Tests of the next-event split (moved from test_evaluate.py), with hand-computed answers."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import corpus

from item2vec.data.split import NextEventSplit, next_event_split, validation_pool, validation_split
from item2vec.exceptions import DataError, ParameterError


# ----------------------------------------------------------------------------- split
def test_split_hand_made():
    s = corpus([[0, 1, 2, 3], [4, 5], [6, 7, 8], [0, 2, 4]])
    sp = next_event_split(s, n_test=3, seed=0)
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
    sp = next_event_split(s, n_test=1, seed=3)
    assert sp.train.lengths.tolist() == [2, 2, 2, 2]
    (t,) = sp.test_sessions
    assert sp.queries[0] == s[t][-2] and sp.answers[0] == s[t][-1]


def test_split_short_sessions_stay_whole_and_are_never_tested():
    s = corpus([[0, 1], [2, 3, 4], [5, 6], [7]])
    sp = next_event_split(s, n_test=1)
    assert sp.test_sessions.tolist() == [1]
    assert sp.train.to_lists() == [[0, 1], [2, 3], [5, 6], [7]]


def test_split_min_length_and_fraction(synth):
    s = synth.sessions
    sp = next_event_split(s, test_fraction=0.2, seed=1, min_length=5)
    eligible = np.flatnonzero(s.lengths >= 5)
    assert len(sp) == round(0.2 * len(eligible))
    assert np.isin(sp.test_sessions, eligible).all()
    assert (sp.train.lengths == s.lengths - (s.lengths >= 5)).all()
    last = s.offsets[sp.test_sessions + 1] - 1
    assert (sp.answers == s.items[last]).all() and (sp.queries == s.items[last - 1]).all()


def test_split_seed_reproducible(synth):
    a = next_event_split(synth.sessions, n_test=100, seed=7)
    b = next_event_split(synth.sessions, n_test=100, seed=7)
    c = next_event_split(synth.sessions, n_test=100, seed=8)
    assert (a.test_sessions == b.test_sessions).all() and (a.answers == b.answers).all()
    assert not (a.test_sessions == c.test_sessions).all()
    assert (np.diff(a.test_sessions) > 0).all()


def test_validation_split_disjoint_from_test(synth):
    s = synth.sessions
    sp = next_event_split(s, test_fraction=0.3, seed=0)
    va = validation_split(sp, n_valid=300, seed=1)
    assert len(va) == 300 and va.min_length == sp.min_length
    assert not np.isin(va.test_sessions, sp.test_sessions).any()
    t = sp.train
    last = t.offsets[va.test_sessions + 1] - 1
    assert (va.answers == t.items[last]).all() and (va.queries == t.items[last - 1]).all()
    assert (va.train.lengths == t.lengths - (t.lengths >= 3)).all()
    again = validation_split(sp, n_valid=300, seed=1)
    assert (again.test_sessions == va.test_sessions).all()


def test_validation_split_hand_made():
    s = corpus([[0, 1, 2, 3], [4, 5, 6, 7], [1, 2]])
    sp = next_event_split(s, n_test=1, seed=0)
    va = validation_split(sp, n_valid=1)
    (t,) = sp.test_sessions
    assert va.test_sessions.tolist() == [1 - t]
    assert va.queries.tolist() == [s[1 - t][1]] and va.answers.tolist() == [s[1 - t][2]]
    assert va.train.lengths.tolist() == [2, 2, 2]


def test_validation_split_several_events():
    s = corpus([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]])
    sp = next_event_split(s, n_test=1, seed=0)
    (t,) = sp.test_sessions
    v = 1 - t
    assert validation_pool(sp, 2).tolist() == [v] and validation_pool(sp, 3).size == 0
    va = validation_split(sp, n_valid=1, events=2)
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
    one = validation_split(sp, n_valid=1)
    assert one.test_sessions.tolist() == [v] and one.answers.tolist() == [s[v][3]]
    with pytest.raises(ParameterError, match="events must be an integer >= 1, got 0"):
        validation_split(sp, events=0)
    msg = r"no session outside the test set has >= 5 items \(min_length 3 \+ events 3 - 1\)"
    with pytest.raises(DataError, match=msg):
        validation_split(sp, events=3)


def test_split_errors():
    short = corpus([[0, 1], [1, 2]])
    msg = "no session has >= 3 items; the next-event protocol needs sessions of length >= 3"
    with pytest.raises(DataError, match=msg):
        next_event_split(short)
    s = corpus([[0, 1, 2], [2, 1, 0]])
    with pytest.raises(ParameterError, match="n_test must be an integer >= 1, got 0"):
        next_event_split(s, n_test=0)
    with pytest.raises(ParameterError, match="n_test=3 exceeds the 2 sessions"):
        next_event_split(s, n_test=3)
    for bad in (0, 1.5, -0.1, "0.1", True):
        with pytest.raises(
            ParameterError, match=r"test_fraction must be a finite number in \(0, 1\], got "
        ):
            next_event_split(s, test_fraction=bad)
    with pytest.raises(ParameterError, match="min_length must be an integer >= 2, got 1"):
        next_event_split(s, min_length=1)
    sp = next_event_split(s, n_test=2)
    with pytest.raises(DataError, match="no session outside the test set has >= 3"):
        validation_split(sp)
    with pytest.raises(ParameterError, match="answers has shape"):
        NextEventSplit(s, np.array([1, 2]), np.array([1]), np.array([0, 1]), 0)


def test_history_split_hand_made():
    s = corpus([[0, 1, 2, 3], [4, 5], [6, 7, 8], [0, 2, 4]])
    sp = next_event_split(s, n_test=3, seed=0, history=2)
    plain = next_event_split(s, n_test=3, seed=0)
    assert sp.history == 2 and plain.history is None and plain.histories is None
    assert sp.histories.tolist() == [[1, 2], [6, 7], [0, 2]]  # oldest first, within session
    assert sp.histories.dtype == np.int32
    np.testing.assert_array_equal(sp.histories[:, -1], sp.queries)
    assert sp.train.to_lists() == plain.train.to_lists()  # the same training data
    wide = next_event_split(s, n_test=3, seed=0, history=5)
    assert wide.histories.tolist() == [[-1, -1, 0, 1, 2], [-1, -1, -1, 6, 7], [-1, -1, -1, 0, 2]]
    with pytest.raises(ParameterError, match="history must be an integer >= 1, got 0"):
        next_event_split(s, n_test=3, history=0)


def test_history_validation_split_keeps_the_protocol():
    s = corpus([[0, 1, 2, 3, 4], [5, 6, 7, 8], [0, 2, 4, 6], [1, 3, 5, 7]])
    sp = next_event_split(s, n_test=1, seed=0, history=3)
    val = validation_split(sp, n_valid=2, seed=1)
    assert val.history == 3
    for case, session in enumerate(val.test_sessions):
        before = sp.train.to_lists()[session][:-1]  # the validation answer is the last one
        want = ([-1] * 3 + before)[-3:]
        assert val.histories[case].tolist() == want


def test_history_protocol_leaves_out_answers_in_the_history():
    from item2vec.evaluation.baselines import popularity
    from item2vec.evaluation.protocols import evaluate

    # sessions 0 and 2 end with an item already in their history
    s = corpus([[0, 1, 0], [2, 3, 4], [5, 6, 5], [1, 2, 3, 4]])
    sp = next_event_split(s, n_test=4, seed=0, history=2)
    res = evaluate(popularity(sp.train), sp, ks=(2,))
    assert res["answer in history"] == 2 and res["n_cases"] == 2


def test_the_full_ranking_split_trains_without_the_last_two_items():
    from item2vec import Sessions
    from item2vec.data.split import full_ranking_split

    s = Sessions.from_lists([["a", "b", "c", "d"], ["e", "f"], ["b", "c", "a"]])
    split = full_ranking_split(s)
    assert split.train.to_lists() == [["a", "b"], ["e", "f"], ["b"]]
    v = s.vocabulary
    assert v.decode(split.answers).tolist() == ["d", "a"]
    assert v.decode(split.queries).tolist() == ["c", "c"]
    hist = [[i for i in row if i >= 0] for row in split.histories]
    assert [v.decode(np.array(h)).tolist() for h in hist] == [["a", "b", "c"], ["b", "c"]]
    assert split.train.vocabulary.counts[v.index("d")] == 0  # never trained on
