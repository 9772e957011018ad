"""Streaming: epochs in batches equal the whole corpus, are exact, shuffled and seeded."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sampling_helpers import FAST, corpus, positives, session_lists

from item2vec.exceptions import DataError, ParameterError
from item2vec.sampling.streaming import (
    UnitSource,
    check_stream,
    epoch_units,
    stream_couples,
    stream_units,
)
from item2vec.sampling.windows import skipgram_couples, window_units

S = corpus([[0, 1, 2], [2, 3]])


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


# --------------------------------------------------------------------------- errors
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


# --------------------------------------------------------------------------- seams
def test_check_stream_gives_plain_ints_or_names_the_bad_argument():
    got = check_stream(np.int64(4), 0, np.int32(2), 10)
    assert got == (4, 0, 2, 10) and all(type(v) is int for v in got)
    with pytest.raises(ParameterError, match=r"seed must be an integer >= 0, got -1"):
        check_stream(4, -1, 0, 10)


def test_epoch_units_streams_sessions_or_a_unit_source():
    kw = dict(batch_size=4, window=1, negatives=1, sample=0, seed=2, epoch=1)

    class Source:
        vocabulary = S.vocabulary

        def stream_units(self, **kwargs):
            return stream_units(S, **kwargs)

    assert isinstance(Source(), UnitSource) and not isinstance(S, UnitSource)
    want = [u.arrays() for u in stream_units(S, **kw)]
    for corpus_ in (S, Source()):
        got = [u.arrays() for u in epoch_units(corpus_, **kw)]
        assert len(got) == len(want)
        for a, b in zip(got, want, strict=True):
            for x, y in zip(a, b, strict=True):
                np.testing.assert_array_equal(x, y)
    with pytest.raises(DataError, match=r"corpus must be Sessions or have a stream_units method"):
        epoch_units([[0, 1]], **kw)
