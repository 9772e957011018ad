"""The Keras drop-in: the same couples as ``keras.preprocessing.sequence.skipgrams``."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sampling_helpers import FAST, tv

from item2vec.exceptions import DataError, ParameterError
from item2vec.sampling.keras_skipgrams import skipgrams


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


def test_shuffled_and_ordered_paths_keep_the_same_sampled_positives():
    # the sampling table is drawn first on both paths: the same seed keeps the same words
    rng = np.random.default_rng(3)
    seq = rng.integers(0, 40, size=500)
    table = rng.random(40)
    kw = dict(window_size=3, negative_samples=1.5, sampling_table=table, seed=11)
    c, y = skipgrams(seq, 40, shuffle=True, **kw)
    c0, y0 = skipgrams(seq, 40, shuffle=False, **kw)
    assert sorted(c[y == 1].tolist()) == sorted(c0[y0 == 1].tolist())
    assert (y == 0).sum() == (y0 == 0).sum() == int((y0 == 1).sum() * 1.5)
    neg = c[y == 0]
    assert ((neg[:, 1] >= 1) & (neg[:, 1] <= 39) & (neg[:, 1] != neg[:, 0])).all()
    assert c.dtype == y.dtype == np.int32 and c.flags.c_contiguous
