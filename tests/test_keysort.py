"""The shuffles' two-thread sort and block runner, and that a thread count never changes
the couples a seed gives."""

from __future__ import annotations

import numpy as np
import pytest

import item2vec.sampling.keras_skipgrams as keras_skipgrams
import item2vec.sampling.windows as windows
from item2vec.data.sessions import Sessions, Vocabulary
from item2vec.sampling import skipgram_couples, skipgrams
from item2vec.sampling.keysort import PARALLEL_FROM, run_parts, sort_keys


@pytest.mark.parametrize("n", [0, 1, 7, PARALLEL_FROM - 1, PARALLEL_FROM, PARALLEL_FROM + 3])
@pytest.mark.parametrize("threads", [1, 2])
def test_sort_keys_sorts_like_numpy(n, threads):
    keys = np.random.default_rng(n).bit_generator.random_raw(n)
    keys[: n // 3] = keys[n // 2 : n // 2 + n // 3]  # ties across the halves
    expected = np.sort(keys)
    sort_keys(keys, threads)
    np.testing.assert_array_equal(keys, expected)


def test_run_parts_runs_every_part_and_raises_their_errors():
    seen = []
    run_parts(seen.append, [1, 2], threads=2)
    assert sorted(seen) == [1, 2]
    run_parts(seen.append, [3, 4, 5], threads=2)  # not two parts: all on this thread, in order
    assert seen[2:] == [3, 4, 5]

    def fail(part):
        if part == "helper":
            raise ValueError("the helper's part failed")

    with pytest.raises(ValueError, match="the helper's part failed"):
        run_parts(fail, ["helper", "caller"], threads=2)


def _zipf(n: int, v: int) -> np.ndarray:
    return np.minimum(np.random.default_rng(0).zipf(1.2, n), v - 1)


@pytest.mark.parametrize("kw", [dict(), dict(negative_samples=2.5, categorical=True)])
def test_drop_in_couples_do_not_depend_on_the_thread_count(monkeypatch, kw):
    seq = _zipf(200_000, 5_000)  # > PARALLEL_FROM couples: the two-thread path
    runs = []
    for threads in (1, 2):
        monkeypatch.setattr(keras_skipgrams, "THREADS", threads)
        runs.append(skipgrams(seq, 5_000, window_size=2, seed=3, **kw))
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)
    couples, labels = runs[0]
    assert len(couples) > PARALLEL_FROM
    # the multiset of positives is the window's, whatever the threads
    pos = couples[(labels[:, 1] if labels.ndim == 2 else labels) == 1]
    expected = sum(2 * int(np.count_nonzero(seq[d:] * seq[:-d])) for d in (1, 2))
    assert len(pos) == expected


def test_skipgram_couples_do_not_depend_on_the_thread_count(monkeypatch):
    v = 5_000
    z = _zipf(300_000, v).astype(np.int32)
    vocab = Vocabulary(ids=np.arange(v, dtype=np.int64), counts=np.bincount(z, minlength=v))
    s = Sessions(z, np.array([0, len(z)]), vocab)
    kw = dict(window=3, negatives=2, sample=1e-3, shrink_window=False, seed=5)
    runs = []
    for threads in (1, 2):
        monkeypatch.setattr(windows, "THREADS", threads)
        runs.append(skipgram_couples(s, **kw))
    a, b = runs
    assert len(a.labels) > PARALLEL_FROM
    for x, y in ((a.targets, b.targets), (a.contexts, b.contexts), (a.labels, b.labels)):
        np.testing.assert_array_equal(x, y)
    neg = a.labels == 0
    assert np.count_nonzero(neg) == 2 * np.count_nonzero(~neg)
    assert not np.any(a.targets[neg] == -1) and a.targets.max() < v
