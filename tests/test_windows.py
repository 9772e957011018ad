"""Windows: the plan, window semantics, couples, subsampling, the whole corpus, errors."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sampling_helpers import FAST, brute_pairs, corpus, positives, session_lists, tv

from item2vec.data.sessions import Sessions
from item2vec.data.vocabulary import Vocabulary
from item2vec.exceptions import DataError, ParameterError
from item2vec.sampling.negatives import NegativeSampler, keep_probability
from item2vec.sampling.streaming import stream_couples, stream_spans, stream_units
from item2vec.sampling.units import pool_size
from item2vec.sampling.windows import (
    DEFAULT_MAX_CONTEXTS,
    WindowPlan,
    chunk_couples,
    chunk_spans,
    chunk_units,
    permutation,
    skipgram_couples,
    window_units,
)


# --------------------------------------------------------------------------- windows
@FAST
@given(lists=session_lists, window=st.integers(1, 4), shrink=st.booleans(), seed=st.integers(0, 9))
def test_units_are_exactly_the_drawn_windows(lists, window, shrink, seed):
    s = corpus(lists)
    u = window_units(
        s, window=window, negatives=2, sample=0, shrink_window=shrink, seed=seed, trace=True
    )
    assert u.targets.dtype == u.contexts.dtype == u.negatives.dtype == np.int32
    assert u.contexts.shape == (len(u), 2 * window) and u.negatives.shape == (len(u), 2)
    assert (u.windows >= 1).all() and (u.windows <= window).all()
    if not shrink:
        assert (u.windows == window).all()
    np.testing.assert_array_equal(u.targets, s.items[u.events])
    assert len(np.unique(u.events)) == len(u)
    sess = np.searchsorted(s.offsets, u.events, side="right") - 1
    lo, hi = s.offsets[sess], s.offsets[sess + 1]
    for row, e, w, a, b in zip(u.contexts, u.events, u.windows, lo, hi, strict=True):
        want = np.full(2 * window, -1)
        for d in range(1, w + 1):
            if e - d >= a:
                want[window - d] = s.items[e - d]
            if e + d < b:
                want[window + d - 1] = s.items[e + d]
        np.testing.assert_array_equal(row, want)
    assert (u.contexts >= 0).any(axis=1).all()
    # every event with a neighbour inside its window is a unit
    assert u.n_positive == int((u.contexts >= 0).sum())
    assert not (u.negatives == u.targets[:, None]).any()


@FAST
@given(lists=session_lists, window=st.integers(1, 3), seed=st.integers(0, 5))
def test_couples_without_randomness_are_every_in_window_pair(lists, window, seed):
    s = corpus(lists)
    want = brute_pairs(lists, window)
    c = skipgram_couples(s, window=window, negatives=0, sample=0, shrink_window=False, seed=seed)
    assert positives(c) == want
    u = window_units(s, window=window, negatives=0, sample=0, shrink_window=False, seed=seed)
    assert positives(u) == want
    assert positives(u.to_couples()) == want and u.n_positive == sum(want.values())


@FAST
@given(lists=session_lists, seed=st.integers(0, 5))
def test_session_mode_pairs_every_other_item(lists, seed):
    s = corpus(lists)
    kw = dict(window="session", negatives=1, sample=0, seed=seed)
    u = window_units(s, max_contexts=12, **kw)
    assert u.contexts.shape[1] == 12
    assert positives(u) == brute_pairs(lists, "session")
    assert positives(skipgram_couples(s, max_contexts=12, **kw)) == brute_pairs(lists, "session")


@FAST
@given(lists=session_lists, cap=st.integers(1, 4), seed=st.integers(0, 5))
def test_session_cap_takes_a_subset_of_the_other_events(lists, cap, seed):
    s = corpus(lists)
    u = window_units(
        s, window="session", max_contexts=cap, negatives=0, sample=0, seed=seed, trace=True
    )
    assert u.contexts.shape == (len(u), cap)
    sess = np.searchsorted(s.offsets, u.events, side="right") - 1
    for row, e, k in zip(u.contexts, u.events, sess, strict=True):
        others = Counter(s.items[s.offsets[k] : s.offsets[k + 1]].tolist())
        others[int(s.items[e])] -= 1
        got = Counter(row[row >= 0].tolist())
        assert len(row[row >= 0]) == min(cap, sum(others.values()))
        assert all(others[i] >= n for i, n in got.items())


def test_session_cap_subsets_are_uniform():
    s = corpus([list(range(8))] * 3000)
    u = window_units(s, window="session", max_contexts=3, negatives=0, sample=0, seed=1)
    mine = u.targets == 0
    counts = np.bincount(u.contexts[mine].ravel(), minlength=8)[1:]
    assert (u.contexts[mine] >= 0).all() and counts.sum() == 3 * mine.sum()
    assert tv(counts, np.full(7, 1 / 7)) < 0.03
    # all 3 chosen positions are distinct
    assert all(len(set(r)) == 3 for r in u.contexts[mine].tolist())


def test_shrink_window_is_uniform():
    s = corpus([list(range(10))] * 400)
    u = window_units(s, window=4, negatives=0, sample=0, seed=3, trace=True)
    assert tv(np.bincount(u.windows, minlength=5)[1:], np.full(4, 0.25)) < 0.03


def test_subsampling_drops_before_windowing():
    # item 0 is always dropped: windows then join its neighbours, like word2vec
    lists = [[1, 0, 2, 0, 0, 3], [0, 4], [5, 0, 6, 7]]
    s = corpus(lists)
    keep = np.ones(len(s.vocabulary))
    keep[0] = 0
    plan = WindowPlan(window=1, max_contexts=2, shrink=False, negatives=0, keep=keep, sampler=None)
    u = chunk_units(plan, s.items, s.offsets, np.random.default_rng(0), trace=True)
    t, ctx, ev = u.targets, u.contexts, u.events
    got = Counter(
        (c, tt) for row, tt in zip(ctx.tolist(), t.tolist(), strict=True) for c in row if c >= 0
    )
    assert got == brute_pairs([[1, 2, 3], [4], [5, 6, 7]], 1)
    assert not (s.items[ev] == 0).any()


def test_couple_negatives_never_equal_their_target():
    # all targets are item 0 (sessions of 0s); the other items are drawable by their counts
    s = corpus([[0, 0, 0, 0]] * 50, n_items=4, counts=[1000, 3, 2, 1])
    c = skipgram_couples(s, window=2, negatives=3, sample=0, ns_exponent=1.0, seed=0)
    neg = c.labels == 0
    assert neg.sum() == 3 * (c.labels == 1).sum()
    assert not (c.targets[neg] == 0).any() and (c.contexts == 0).all()


def test_empirical_keep_rate_matches_the_formula():
    rng = np.random.default_rng(12345)  # not the sampler's seed: same uniforms otherwise
    items = rng.choice(6, size=60_000, p=[0.5, 0.25, 0.12, 0.08, 0.04, 0.01]).tolist()
    s = corpus([items], n_items=6)
    keep = keep_probability(s.vocabulary.counts, 1e-2)
    u = window_units(s, window=1, negatives=0, sample=1e-2, seed=0, trace=True)
    kept = np.bincount(s.items[u.events], minlength=6)
    n = s.vocabulary.counts
    assert (np.abs(kept - keep * n) <= 4 * np.sqrt(n * keep * (1 - keep)) + 2).all()
    assert keep[0] < 0.5  # the test would be vacuous otherwise


# --------------------------------------------------------------------------- errors
S = corpus([[0, 1, 2], [2, 3]])


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(window=0), r"window must be an integer >= 1 or 'session', got 0"),
        (dict(window=2.5), r"window must be an integer >= 1 or 'session', got 2.5"),
        (dict(window="basket"), r"window must be .* got 'basket'"),
        (dict(window=True), r"window must be .* got True"),
        (dict(negatives=-1), r"negatives must be an integer >= 0, got -1"),
        (dict(negatives=1.5), r"negatives must be an integer >= 0, got 1.5"),
        (dict(ns_exponent=float("nan")), r"ns_exponent must be a finite number, got nan"),
        (dict(ns_exponent=float("inf")), r"ns_exponent must be a finite number, got inf"),
        (dict(sample=-0.1), r"sample must be a finite number >= 0, got -0.1"),
        (dict(sample=float("nan")), r"sample must be a finite number >= 0, got nan"),
        (dict(sample="1e-3"), r"sample must be a finite number >= 0, got '1e-3'"),
        (dict(shrink_window="yes"), r"shrink_window must be True or False, got 'yes'"),
        (dict(max_contexts=5), r"max_contexts applies only to window='session'.* got max_cont"),
        (dict(window="session", max_contexts=0), r"max_contexts must be an integer >= 1, got 0"),
        (dict(direction="backward"), r"direction must be one of .* got 'backward'"),
        (dict(direction=None), r"direction must be one of 'both', 'forward', got None"),
    ],
)
def test_bad_parameters(kw, match):
    args = dict(window=2, negatives=2) | kw
    for fn in (window_units, skipgram_couples):
        with pytest.raises(ParameterError, match=match):
            fn(S, **args)
    with pytest.raises(ParameterError, match=match):
        stream_units(S, batch_size=4, **args)
    with pytest.raises(ParameterError, match=match):
        stream_couples(S, batch_size=4, **args)


def test_empty_corpus_and_bad_sessions():
    empty = Sessions(np.empty(0, np.int32), np.zeros(1, np.int64), S.vocabulary)
    with pytest.raises(DataError, match=r"the corpus is empty: 0 sessions, 0 events"):
        window_units(empty, window=2, negatives=1)
    no_events = Sessions(np.empty(0, np.int32), np.zeros(3, np.int64), S.vocabulary)
    with pytest.raises(DataError, match=r"the corpus is empty: 2 sessions, 0 events"):
        stream_units(no_events, batch_size=2, window=2, negatives=1)
    with pytest.raises(DataError, match=r"sessions must be an item2vec.Sessions, got list"):
        skipgram_couples([[1, 2]], window=2, negatives=1)


def test_vocabulary_too_small_for_negatives():
    one = corpus([[0, 0, 0]], n_items=1)
    with pytest.raises(ParameterError, match=r"vocabulary too small for negatives=5: 1 item$"):
        window_units(one, window=2, negatives=5)
    units = window_units(one, window=2, negatives=0, sample=0)  # no negatives: fine
    assert len(units) == 3 and units.negatives.shape == (3, 0)
    zero = corpus([[0, 1, 0]], n_items=2, counts=[3, 0])
    with pytest.raises(ParameterError, match=r"negatives=1: 1 item of 2 with count \*\* ns_exp"):
        stream_couples(zero, batch_size=2, window=1, negatives=1)
    with pytest.raises(DataError, match=r"counts must be a non-empty 1-D array of counts >= 0"):
        NegativeSampler([-1, 2])


def test_whole_corpus_is_built_in_pieces(monkeypatch):
    import item2vec.sampling.windows as windows

    rng = np.random.default_rng(5)
    lists = [rng.integers(0, 10, size=rng.integers(1, 9)).tolist() for _ in range(60)]
    s = corpus(lists)
    kw = dict(window=2, negatives=1, sample=0, shrink_window=False, seed=0, trace=True)
    whole = window_units(s, **kw)
    monkeypatch.setattr(windows, "_CHUNK", 7)
    pieces = window_units(s, **kw)
    assert positives(pieces) == positives(whole) == brute_pairs(lists, 2)
    assert sorted(pieces.events.tolist()) == sorted(whole.events.tolist())
    np.testing.assert_array_equal(pieces.targets, s.items[pieces.events])
    assert not (pieces.negatives == pieces.targets[:, None]).any()


def test_large_permutation_by_sorting_is_a_permutation(monkeypatch):
    import item2vec.sampling.windows as windows

    monkeypatch.setattr(windows, "_SORTED_PERMUTATION_FROM", 1000)
    n = 100_003  # the sort-based path
    p = permutation(n, np.random.default_rng(0))
    assert p.dtype == np.int64 and len(p) == n
    assert np.array_equal(np.sort(p), np.arange(n))
    assert np.abs(np.diff(p)).mean() > n / 10  # scrambled
    np.testing.assert_array_equal(p, permutation(n, np.random.default_rng(0)))


# ------------------------------------------------------------- the plan and the chunk seam
def test_plan_from_vocabulary_is_the_plan_of_the_sessions():
    s = corpus([[0, 1, 2, 3], [2, 3, 4]])
    kw = dict(window=2, negatives=2, sample=1e-2)
    a = WindowPlan.from_vocabulary(s.vocabulary, **kw)
    b = WindowPlan.from_sessions(s, **kw)
    assert (a.window, a.max_contexts, a.shrink, a.negatives) == (2, 4, True, 2)
    assert (b.window, b.max_contexts, b.shrink, b.negatives) == (2, 4, True, 2)
    np.testing.assert_array_equal(a.keep, keep_probability(s.vocabulary.counts, 1e-2))
    np.testing.assert_array_equal(a.keep, b.keep)
    np.testing.assert_array_equal(a.sampler.probabilities, b.sampler.probabilities)
    bare = WindowPlan.from_vocabulary(s.vocabulary, window="session", negatives=0, sample=0)
    assert bare.window is None and bare.max_contexts == DEFAULT_MAX_CONTEXTS
    assert bare.keep is None and bare.sampler is None
    with pytest.raises(ParameterError, match=r"window must be an integer >= 1 or 'session', got 0"):
        WindowPlan.from_vocabulary(s.vocabulary, window=0, negatives=1)
    with pytest.raises(ParameterError, match=r"vocabulary too small for negatives=1: 1 item$"):
        WindowPlan.from_vocabulary(Vocabulary(np.arange(1), [3]), window=1, negatives=1)


@FAST
@given(lists=session_lists, window=st.sampled_from([1, 2, "session"]), seed=st.integers(0, 5))
def test_a_chunk_gives_the_windows_of_its_sessions(lists, window, seed):
    s = corpus(lists)
    cap = dict(max_contexts=12) if window == "session" else {}
    kw = dict(window=window, negatives=1, sample=0, shrink_window=False, **cap)
    plan = WindowPlan.from_sessions(s, **kw)
    u = chunk_units(plan, s.items, s.offsets, np.random.default_rng(seed), trace=True)
    assert positives(u) == brute_pairs(lists, window)
    np.testing.assert_array_equal(u.targets, s.items[u.events])
    assert not (u.negatives == u.targets[:, None]).any()
    c = chunk_couples(plan, s.items, s.offsets, np.random.default_rng(seed))
    assert positives(c) == brute_pairs(lists, window) and len(c) == 2 * u.n_positive
    whole = skipgram_couples(s, seed=seed, **kw)  # the whole corpus is one chunk
    for x, y in zip(c.arrays(), whole.arrays(), strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("margin", [12, 64])  # the packed sort, then the permutation fallback
def test_couples_shuffle_paths_give_the_same_couples(monkeypatch, margin):
    import item2vec.sampling.windows as windows

    monkeypatch.setattr(windows, "_TIE_MARGIN", margin)
    rng = np.random.default_rng(7)
    lists = [rng.integers(0, 10, size=rng.integers(1, 12)).tolist() for _ in range(80)]
    s = corpus(lists)
    c = skipgram_couples(s, window=2, negatives=3, sample=0, shrink_window=False, seed=1)
    assert positives(c) == brute_pairs(lists, 2)
    neg = c.labels == 0
    assert neg.sum() == 3 * (c.labels == 1).sum() and len(c) == 4 * (c.labels == 1).sum()
    assert c.targets.dtype == c.contexts.dtype == np.int32 and c.labels.dtype == np.float32
    assert set(np.unique(c.labels).tolist()) <= {0.0, 1.0}
    # every negative's context is a positive's context, as often as k times the positives
    want = Counter({ctx: 3 * n for ctx, n in Counter(c.contexts[~neg].tolist()).items()})
    assert Counter(c.contexts[neg].tolist()) == want
    assert 0.1 < c.labels[: len(c) // 2].mean() < 0.4  # shuffled: labels are mixed


# --------------------------------------------------------------------------- spans
def _span_pairs(sp) -> Counter:
    """(context, target) multiset of the couples of Spans (slot within each radius)."""
    out: Counter = Counter()
    w = (sp.spans.shape[1] - sp.targets.shape[1]) // 2
    for row, tgt, rad in zip(sp.spans, sp.targets, sp.radii, strict=True):
        for m, t in enumerate(tgt.tolist()):
            for s, c in enumerate(row.tolist()):
                if t >= 0 and c >= 0 and 1 <= abs(s - (w + m)) <= rad[m]:
                    out[(c, t)] += 1
    return out


@FAST
@given(lists=session_lists, window=st.integers(1, 3), block=st.integers(1, 5),
       shrink=st.booleans(), seed=st.integers(0, 9))  # fmt: skip
def test_spans_are_the_couples_of_the_same_units(lists, window, block, shrink, seed):
    """Same seed, same subsampling and effective windows: the spans hold exactly the
    couples of chunk_units, every target once, in blocks of consecutive events."""
    s = corpus(lists)
    plan = WindowPlan.from_sessions(s, window=window, negatives=2, sample=0.05,
                                    shrink_window=shrink)  # fmt: skip
    u = chunk_units(plan, s.items, s.offsets, np.random.default_rng(seed))
    sp = chunk_spans(plan, s.items, s.offsets, np.random.default_rng(seed), block)
    assert _span_pairs(sp) == positives(u)
    assert Counter(sp.targets[sp.targets >= 0].tolist()) == Counter(u.targets.tolist())
    assert sp.spans.shape == (len(sp), block + 2 * window) and sp.targets.shape == (len(sp), block)
    np.testing.assert_array_equal(sp.targets >= 0, sp.radii > 0)
    assert ((sp.radii >= 0) & (sp.radii <= window)).all() and (sp.targets >= 0).any(axis=1).all()
    # a real target is its slot's event; negatives: a pool per block
    at = sp.spans[:, window : window + block]
    assert ((sp.targets == at) | (sp.targets < 0)).all()
    assert sp.negatives.shape == (len(sp), pool_size(2, block))


def test_span_pools_are_independent_draws_from_the_noise_distribution():
    """Targets included: a target skips its own draws in the step, as word2vec rejects them."""
    rng = np.random.default_rng(0)
    lists = [rng.integers(0, 10, rng.integers(2, 9)).tolist() for _ in range(3000)]
    s = corpus(lists)
    plan = WindowPlan.from_sessions(s, window=2, negatives=5, ns_exponent=0.5, sample=0)
    sp = chunk_spans(plan, s.items, s.offsets, np.random.default_rng(1), 8)
    counts = np.bincount(sp.negatives.ravel(), minlength=10)
    assert sp.negatives.shape[1] == 8 and tv(counts, plan.sampler.probabilities) < 0.01
    assert (sp.negatives == sp.targets[:, :1]).any()  # a block's targets are not excluded


def test_spans_without_subsampling_are_every_in_window_pair_in_session_order():
    """Sessions [0 1 2 3 4] and [5 6]: blocks of 2 from each session's first event; the
    last block of the first session holds one target and padding."""
    lists = [[0, 1, 2, 3, 4], [5, 6]]
    s = corpus(lists)
    plan = WindowPlan.from_sessions(s, window=1, negatives=1, sample=0, shrink_window=False)
    sp = chunk_spans(plan, s.items, s.offsets, np.random.default_rng(0), 2)
    assert _span_pairs(sp) == brute_pairs(lists, 1)
    rows = sorted(map(tuple, sp.spans.tolist()))
    assert rows == [(-1, 0, 1, 2), (-1, 5, 6, -1), (1, 2, 3, 4), (3, 4, -1, -1)]
    assert sorted(map(tuple, sp.targets.tolist())) == [(0, 1), (2, 3), (4, -1), (5, 6)]


def test_spans_need_an_integer_window():
    s = corpus([[0, 1, 2], [3, 4]])
    plan = WindowPlan.from_sessions(s, window="session", negatives=1)
    with pytest.raises(
        ValueError, match="chunk_spans needs an integer window, not window='session'"
    ):
        chunk_spans(plan, s.items, s.offsets, np.random.default_rng(0), 2)
    with pytest.raises(ParameterError, match="stream_spans needs an integer window"):
        stream_spans(s, batch_size=4, block=2, window="session", negatives=1)
    with pytest.raises(ParameterError, match="block must be an integer >= 1"):
        stream_spans(s, batch_size=4, block=0, window=1, negatives=1)


def test_stream_spans_batches_blocks_and_keeps_every_target():
    s = corpus([[i % 10 for i in range(j, j + 7)] for j in range(40)])
    batches = list(stream_spans(s, batch_size=8, block=4, window=2, negatives=2, sample=0,
                                seed=3, epoch=1))  # fmt: skip
    assert all(len(b) == 8 for b in batches[:-1]) and 1 <= len(batches[-1]) <= 8
    assert sum(int((b.targets >= 0).sum()) for b in batches) == s.n_events
    again = list(stream_spans(s, batch_size=8, block=4, window=2, negatives=2, sample=0,
                              seed=3, epoch=1))  # fmt: skip
    for a, b in zip(batches, again, strict=True):
        for x, y in zip(a.arrays(), b.arrays(), strict=True):
            np.testing.assert_array_equal(x, y)
