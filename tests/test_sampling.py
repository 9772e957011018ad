"""Sampler: window semantics, negatives, subsampling, streaming, the Keras drop-in, errors."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from item2vec.data import Sessions, Vocabulary
from item2vec.exceptions import DataError, ParameterError
from item2vec.sampling import (
    NegativeSampler,
    _alias_table,
    _core,
    _Plan,
    keep_probability,
    log_prior,
    skipgram_couples,
    skipgrams,
    stream_couples,
    stream_units,
    window_units,
)

FAST = settings(max_examples=40, deadline=None)


def corpus(lists: list[list[int]], n_items: int | None = None, counts=None) -> Sessions:
    """Sessions straight from item rows (no sessionisation), with the given counts."""
    items = np.asarray([i for s in lists for i in s], np.int32)
    offsets = np.zeros(len(lists) + 1, np.int64)
    np.cumsum([len(s) for s in lists], out=offsets[1:])
    n = n_items if n_items is not None else max(int(items.max(initial=0)) + 1, 10)
    if counts is None:
        counts = np.maximum(np.bincount(items, minlength=n), 1)
    vocab = Vocabulary(ids=np.arange(n, dtype=np.int64), counts=np.asarray(counts))
    return Sessions(items, offsets, vocab)


def brute_pairs(lists, window) -> Counter:
    """(context, target) multiset: every pair within ``window`` ("session": all) of a session."""
    out: Counter = Counter()
    for s in lists:
        for i, t in enumerate(s):
            for j, c in enumerate(s):
                if j != i and (window == "session" or abs(i - j) <= window):
                    out[(c, t)] += 1
    return out


def positives(obj) -> Counter:
    """(context, target) multiset of the positive couples of Couples or Units."""
    if hasattr(obj, "labels"):
        pos = obj.labels == 1
        return Counter(zip(obj.contexts[pos].tolist(), obj.targets[pos].tolist(), strict=True))
    rows, cols = np.nonzero(obj.contexts >= 0)
    ctx, tgt = obj.contexts[rows, cols].tolist(), obj.targets[rows].tolist()
    return Counter(zip(ctx, tgt, strict=True))


session_lists = st.lists(
    st.lists(st.integers(0, 9), min_size=1, max_size=12), min_size=1, max_size=8
).filter(lambda ls: sum(map(len, ls)) >= 2)


def tv(counts: np.ndarray, p: np.ndarray) -> float:
    return 0.5 * float(np.abs(counts / counts.sum() - p).sum())


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
    plan = _Plan(window=1, max_contexts=2, shrink=False, negatives=0, keep=keep, sampler=None)
    t, ctx, _, ev = _core(plan, s.items, s.offsets, np.random.default_rng(0), True, False)
    got = Counter(
        (c, tt) for row, tt in zip(ctx.tolist(), t.tolist(), strict=True) for c in row if c >= 0
    )
    assert got == brute_pairs([[1, 2, 3], [4], [5, 6, 7]], 1)
    assert not (s.items[ev] == 0).any()


# --------------------------------------------------------------------------- negatives
def alias_distribution(prob: np.ndarray, alias: np.ndarray) -> np.ndarray:
    """The exact distribution a Walker table draws: own height plus what aliases pass on."""
    n = len(prob)
    return (prob + np.bincount(alias, weights=1.0 - prob, minlength=n)) / n


EXPONENTS = [-3.0, -1.0, -0.5, 0.0, 0.5, 0.75, 1.0, 2.0]  # the tuner's space and beyond


def check_alias_table(p: np.ndarray) -> None:
    prob, alias = _alias_table(p)
    assert ((prob >= 0) & (prob <= 1)).all()
    assert alias.min() >= 0 and alias.max() < len(p)
    assert not (prob[p == 0] > 0).any()  # an item with no mass is never its own draw
    tv = 0.5 * np.abs(alias_distribution(prob, alias) - p).sum()
    assert tv < 1e-9, (p.tolist(), tv)


def test_alias_table_is_exact_where_it_once_was_not():
    # issue 16: a small bucket's deficit starting where a large one's excess ends (to rounding)
    for w in ([0.0, 2.0, 34.0, 36.0, 1.0, 35.0], [22, 12, 29, 39, 12, 12, 38, 40, 6, 45]):
        check_alias_table(np.asarray(w, float) / np.sum(w))
    ns = NegativeSampler([22, 12, 29, 39, 12, 12, 38, 40, 6, 45], ns_exponent=1.0)
    np.testing.assert_allclose(alias_distribution(ns._prob, ns._alias), ns.probabilities)


def test_alias_table_is_exact_for_thousands_of_count_vectors():
    # Deterministic: seeded counts of every shape (zeros, ties, one dominant item, huge ranges)
    rng = np.random.default_rng(20261201)
    for case in range(3000):
        n = int(rng.integers(1, 51))
        kind = case % 5
        if kind == 0:
            c = rng.integers(0, 4, n)  # many zeros and ties
        elif kind == 1:
            c = rng.integers(1, 50, n)
        elif kind == 2:
            c = np.ones(n, np.int64)
            c[rng.integers(n)] = 10**9  # one dominant item
        elif kind == 3:
            c = np.floor(10 ** rng.uniform(0, 12, n))  # counts over 12 orders of magnitude
        else:
            c = rng.zipf(1.5, n)
        if not np.any(c > 0):
            c[0] = 1
        for a in EXPONENTS:
            check_alias_table(NegativeSampler(c, a).probabilities)


@pytest.mark.parametrize("n", [1000, 100_000, 1_000_000])
def test_alias_table_is_exact_for_large_vocabularies(n):
    c = np.random.default_rng(n).zipf(1.3, n)
    for a in (-1.0, 0.0, 0.75, 1.0):
        check_alias_table(NegativeSampler(c, a).probabilities)


@FAST
@given(w=st.lists(st.floats(0, 1e6), min_size=1, max_size=40).filter(lambda w: sum(w) > 0))
def test_alias_table_reproduces_the_distribution(w):
    check_alias_table(np.asarray(w) / np.sum(w))


def test_draws_follow_the_table_on_the_reported_counts():
    # the statistical twin of the exactness tests, on the counts issue 16 reported
    counts = np.array([22, 12, 29, 39, 12, 12, 38, 40, 6, 45])
    ns = NegativeSampler(counts, ns_exponent=1.0)
    draws = ns.sample(400_000, np.random.default_rng(0))
    assert tv(np.bincount(draws, minlength=10), counts / counts.sum()) < 0.005


COUNTS = np.array([500, 200, 100, 50, 20, 10, 5, 2, 1, 1])


@pytest.mark.parametrize("a", [1.0, 0.75, 0.0, -0.5, -1.0])
def test_negatives_follow_count_to_the_power(a):
    p = COUNTS**a / (COUNTS**a).sum()
    ns = NegativeSampler(COUNTS, a)
    np.testing.assert_allclose(ns.probabilities, p)
    draws = ns.sample(200_000, np.random.default_rng(0))
    assert draws.dtype == np.int32
    assert tv(np.bincount(draws, minlength=10), p) < 0.01


@pytest.mark.parametrize("a", [1.0, 0.75, 0.0, -0.5])
def test_negatives_exclude_the_target_exactly(a):
    ns = NegativeSampler(COUNTS, a)
    for t in (0, 4, 9):
        targets = np.full(20_000, t, np.int32)
        draws = ns.draw(targets, 5, np.random.default_rng(t))
        assert draws.shape == (20_000, 5) and not (draws == t).any()
        q = ns.probabilities.copy()
        q[t] = 0
        assert tv(np.bincount(draws.ravel(), minlength=10), q / q.sum()) < 0.01


def test_fallback_after_redraws_is_exact():
    # target 0 holds 99.8% of the mass: most slots survive the redraw passes
    ns = NegativeSampler([1000, 1, 1], 1.0)
    draws = ns.draw(np.zeros(30_000, np.int32), 2, np.random.default_rng(0))
    assert not (draws == 0).any()
    assert tv(np.bincount(draws.ravel(), minlength=3)[1:], np.array([0.5, 0.5])) < 0.01
    two = NegativeSampler([5, 1], -3.0).draw(
        np.array([0, 1, 0], np.int32), 4, np.random.default_rng()
    )
    np.testing.assert_array_equal(two, [[1] * 4, [0] * 4, [1] * 4])


def test_extreme_exponents_do_not_overflow():
    ns = NegativeSampler([10**9, 10**6, 1], 50.0)
    assert np.isfinite(ns.probabilities).all() and ns.probabilities[0] == pytest.approx(1)
    z = NegativeSampler([0, 3, 4], -1.0)
    assert z.probabilities[0] == 0 and z.n_drawable == 2


def test_couple_negatives_never_equal_their_target():
    # all targets are item 0 (sessions of 0s); the other items are drawable by their counts
    s = corpus([[0, 0, 0, 0]] * 50, n_items=4, counts=[1000, 3, 2, 1])
    c = skipgram_couples(s, window=2, negatives=3, sample=0, ns_exponent=1.0, seed=0)
    neg = c.labels == 0
    assert neg.sum() == 3 * (c.labels == 1).sum()
    assert not (c.targets[neg] == 0).any() and (c.contexts == 0).all()


# --------------------------------------------------------------------------- subsampling
def test_keep_probability_formula():
    counts = np.array([1000, 100, 10, 1, 0])
    thr = 1e-2 * counts.sum()
    f = counts[:4].astype(float)
    want = np.minimum(1, (np.sqrt(f / thr) + 1) * thr / f)
    np.testing.assert_allclose(keep_probability(counts, 1e-2)[:4], want)
    assert keep_probability(counts, 1e-2)[4] == 1
    np.testing.assert_array_equal(keep_probability(counts, 0), np.ones(5))


def test_log_prior_hand_computed():
    # no subsampling: ns_exponent * log(count); an unseen item counts as seen once
    np.testing.assert_allclose(log_prior([1, np.e**2, 0], -0.5, 0), [0, -1, 0], atol=1e-6)
    # threshold 0.01 * 1000 = 10: keep(900) = (sqrt(90) + 1) / 90, keep(100) = (sqrt(10) + 1) / 10
    np.testing.assert_allclose(log_prior([900, 100], 1.0, 1e-2), [8.952084, 5.481693], rtol=1e-6)
    np.testing.assert_allclose(log_prior([900, 100], 0.5, 1e-2)[0], 5.550887, rtol=1e-6)
    with pytest.raises(ParameterError, match=r"ns_exponent must be a finite number"):
        log_prior([1, 2], float("nan"), 0)


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


# --------------------------------------------------------------------------- seeds
def test_same_seed_same_output_different_seed_different_output():
    s = corpus([[1, 2, 3, 4, 5, 6, 7, 8], [3, 4, 5, 6, 1, 1, 2], [9, 8, 7, 6, 5]] * 20)
    kw = dict(window=3, negatives=2, sample=1e-2)
    for fn in (window_units, skipgram_couples):
        a, b, c = fn(s, seed=7, **kw), fn(s, seed=7, **kw), fn(s, seed=8, **kw)
        for x, y in zip(a.arrays(), b.arrays(), strict=True):
            np.testing.assert_array_equal(x, y)
        assert any(
            x.shape != z.shape or (x != z).any()
            for x, z in zip(a.arrays(), c.arrays(), strict=True)
        )

    def epoch(seed, e):
        return np.concatenate(
            [u.targets for u in stream_units(s, batch_size=16, seed=seed, epoch=e, **kw)]
        )

    np.testing.assert_array_equal(epoch(1, 0), epoch(1, 0))
    assert not np.array_equal(epoch(1, 0), epoch(1, 1))
    assert not np.array_equal(epoch(1, 0), epoch(2, 0))


# --------------------------------------------------------------------------- streaming
@FAST
@given(
    lists=session_lists,
    window=st.sampled_from([1, 2, "session"]),
    batch=st.integers(1, 7),
    chunk=st.integers(1, 15),
)
def test_stream_equals_whole_corpus(lists, window, batch, chunk):
    s = corpus(lists)
    kw = dict(window=window, negatives=1, sample=0, shrink_window=False)
    whole = window_units(s, seed=0, trace=True, **kw)
    kw.update(batch_size=batch, chunk_events=chunk, seed=3)
    batches = list(stream_units(s, trace=True, **kw))
    sizes = [len(b) for b in batches]
    assert all(n == batch for n in sizes[:-1]) and 0 < (sizes[-1] if sizes else 1) <= batch
    assert sum(sizes) == len(whole)
    events = np.concatenate([b.events for b in batches]) if batches else np.empty(0)
    assert sorted(events.tolist()) == sorted(whole.events.tolist())
    assert sum((positives(b) for b in batches), Counter()) == positives(whole)
    for b in batches:
        assert not (b.negatives == b.targets[:, None]).any()
        np.testing.assert_array_equal(b.targets, s.items[b.events])
    cb = list(stream_couples(s, **kw))
    assert all(len(b) == batch for b in cb[:-1])
    assert sum((positives(b) for b in cb), Counter()) == positives(whole)
    assert sum(len(b) for b in cb) == 2 * whole.n_positive


def test_stream_batches_are_exact_and_shuffled():
    s = corpus([[i % 7, (i + 1) % 7, (i + 3) % 7] for i in range(300)])
    kw = dict(window=1, negatives=2, sample=0, shrink_window=False)
    batches = list(stream_units(s, batch_size=64, chunk_events=50, trace=True, **kw))
    assert all(isinstance(b.contexts, np.ndarray) for b in batches)
    assert [len(b) for b in batches] == [64] * 14 + [900 - 14 * 64]
    events = np.concatenate([b.events for b in batches])
    assert sorted(events.tolist()) == list(range(900))
    assert np.abs(np.diff(events)).mean() > 50  # not in corpus order


# --------------------------------------------------------------------------- Keras drop-in
def keras_positives(sequence, window_size):
    """The positive loop of keras.preprocessing.sequence.skipgrams, verbatim."""
    couples = []
    for i, wi in enumerate(sequence):
        if not wi:
            continue
        for j in range(max(0, i - window_size), min(len(sequence), i + window_size + 1)):
            if j != i and sequence[j]:
                couples.append([wi, sequence[j]])
    return couples


@FAST
@given(seq=st.lists(st.integers(0, 6), max_size=30), ws=st.integers(1, 4))
def test_skipgrams_positives_match_keras(seq, ws):
    c, y = skipgrams(seq, 7, window_size=ws, negative_samples=0, shuffle=False)
    assert c.shape == (len(y), 2) and y.shape == (len(y),)
    assert c.tolist() == keras_positives(seq, ws) and (y == 1).all()
    c2, y2 = skipgrams(seq, 7, window_size=ws, negative_samples=0, seed=1)
    assert sorted(c2.tolist()) == sorted(keras_positives(seq, ws))


@pytest.mark.parametrize("ns", [1.0, 2.0, 0.5])
@pytest.mark.parametrize("shuffle", [True, False])
def test_skipgrams_negatives(ns, shuffle):
    rng = np.random.default_rng(0)
    seq = rng.integers(0, 50, size=3000)
    c, y = skipgrams(seq, 50, window_size=2, negative_samples=ns, shuffle=shuffle, seed=0)
    pos, neg = c[y == 1], c[y == 0]
    assert len(neg) == int(len(pos) * ns)
    assert ((neg[:, 1] >= 1) & (neg[:, 1] <= 49) & (neg[:, 1] != neg[:, 0])).all()
    words, firsts = Counter(neg[:, 0].tolist()), Counter(pos[:, 0].tolist())
    if ns >= 1:
        assert words == Counter({w: n * int(ns) for w, n in firsts.items()})
    else:
        assert all(firsts[w] >= n for w, n in words.items())
    assert tv(np.bincount(neg[:, 1], minlength=50)[1:], np.full(49, 1 / 49)) < 0.06
    if shuffle:
        assert 0.3 < y[: len(y) // 2].mean() < 0.8  # labels are mixed


def test_skipgrams_options_and_seed():
    seq = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]
    a = skipgrams(seq, 10, window_size=2, seed=4)
    b = skipgrams(seq, 10, window_size=2, seed=4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    c, y = skipgrams(seq, 10, window_size=2, categorical=True, seed=4)
    assert y.shape == (len(c), 2) and (y.sum(axis=1) == 1).all()
    table = np.zeros(10)
    c, y = skipgrams(seq, 10, sampling_table=table)
    assert len(c) == 0 and c.shape == (0, 2)
    big, yb = skipgrams(seq, 10**6, window_size=2, seed=0)  # the permutation path
    assert sorted(big[yb == 1].tolist()) == sorted(keras_positives(seq, 2))


def test_skipgrams_matches_real_keras():
    tf = pytest.importorskip("tensorflow")
    keras_skipgrams = tf.keras.preprocessing.sequence.skipgrams
    seq = [random.Random(0).randrange(0, 20) for _ in range(60)]
    kc, kl = keras_skipgrams(seq, 20, window_size=3, negative_samples=0, shuffle=False)
    c, y = skipgrams(seq, 20, window_size=3, negative_samples=0, shuffle=False)
    assert c.tolist() == kc and y.tolist() == kl


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


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(batch_size=0), r"batch_size must be an integer >= 1, got 0"),
        (dict(batch_size=None), r"batch_size must be an integer >= 1, got None"),
        (dict(chunk_events=0), r"chunk_events must be an integer >= 1, got 0"),
        (dict(seed=-1), r"seed must be an integer >= 0, got -1"),
        (dict(epoch=1.0), r"epoch must be an integer >= 0, got 1.0"),
    ],
)
def test_bad_stream_parameters(kw, match):
    args = dict(window=2, negatives=1, batch_size=4) | kw
    with pytest.raises(ParameterError, match=match):
        stream_units(S, **args)  # raised on call, not on first next()
    with pytest.raises(ParameterError, match=match):
        stream_couples(S, **args)


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


@pytest.mark.parametrize(
    "args, kw, exc, match",
    [
        (([1, 2], 0), {}, ParameterError, r"vocabulary_size must be an integer >= 1, got 0"),
        (([1, 2], 5), dict(window_size=0), ParameterError, r"window_size must be .* got 0"),
        (([1, 2], 5), dict(negative_samples=-1), ParameterError, r"negative_samples must be a"),
        (
            ([1, 7], 5),
            {},
            DataError,
            r"sequence values must be in 0..4 \(vocabulary_size=5\), got 7",
        ),
        (([1, -2], 5), {}, DataError, r"sequence values must be in 0..4 .* got -2"),
        (([[1, 2]], 5), {}, DataError, r"sequence must be a 1-D sequence of integer word indices"),
        ((["a", "b"], 5), {}, DataError, r"sequence must be a 1-D sequence of integer"),
        (([1, 1], 2), {}, ParameterError, r"vocabulary_size must be >= 3 to draw negatives.* 2"),
        (([1, 2], 5), dict(sampling_table=[1.0]), ParameterError, r"sampling_table must be 1-D"),
    ],
)
def test_skipgrams_bad_input(args, kw, exc, match):
    with pytest.raises(exc, match=match):
        skipgrams(*args, **kw)


def test_whole_corpus_is_built_in_pieces(monkeypatch):
    import item2vec.sampling as sampling

    rng = np.random.default_rng(5)
    lists = [rng.integers(0, 10, size=rng.integers(1, 9)).tolist() for _ in range(60)]
    s = corpus(lists)
    kw = dict(window=2, negatives=1, sample=0, shrink_window=False, seed=0, trace=True)
    whole = window_units(s, **kw)
    monkeypatch.setattr(sampling, "_CHUNK", 7)
    pieces = window_units(s, **kw)
    assert positives(pieces) == positives(whole) == brute_pairs(lists, 2)
    assert sorted(pieces.events.tolist()) == sorted(whole.events.tolist())
    np.testing.assert_array_equal(pieces.targets, s.items[pieces.events])
    assert not (pieces.negatives == pieces.targets[:, None]).any()


def test_large_permutation_by_sorting_is_a_permutation(monkeypatch):
    import item2vec.sampling as sampling
    from item2vec.sampling import _permutation

    monkeypatch.setattr(sampling, "_SORTED_PERMUTATION_FROM", 1000)
    n = 100_003  # the sort-based path
    p = _permutation(n, np.random.default_rng(0))
    assert p.dtype == np.int64 and len(p) == n
    assert np.array_equal(np.sort(p), np.arange(n))
    assert np.abs(np.diff(p)).mean() > n / 10  # scrambled
    np.testing.assert_array_equal(p, _permutation(n, np.random.default_rng(0)))


def test_property_tests_are_deterministic_by_default():
    # conftest's profile: CI must not draw new examples (or replay stored ones) per run
    import os

    from hypothesis import settings as current

    if os.environ.get("HYPOTHESIS_PROFILE", "deterministic") == "deterministic":
        assert current.default.derandomize and current.default.database is None
