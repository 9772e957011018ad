"""Negatives and subsampling: the alias table, the sampler's draws, keep rates, the prior."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sampling_helpers import FAST, tv

from item2vec.exceptions import ParameterError
from item2vec.sampling.negatives import NegativeSampler, alias_table, keep_probability, log_prior


# --------------------------------------------------------------------------- negatives
def alias_distribution(prob: np.ndarray, alias: np.ndarray) -> np.ndarray:
    """The exact distribution a Walker table draws: own height plus what aliases pass on."""
    n = len(prob)
    return (prob + np.bincount(alias, weights=1.0 - prob, minlength=n)) / n


EXPONENTS = [-3.0, -1.0, -0.5, 0.0, 0.5, 0.75, 1.0, 2.0]  # the tuner's space and beyond


def check_alias_table(p: np.ndarray) -> None:
    prob, alias = alias_table(p)
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
