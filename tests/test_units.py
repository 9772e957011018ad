"""Units and Couples: expansion to couples, and rebatching chunks into exact batches."""

from __future__ import annotations

import numpy as np
import pytest

from item2vec.sampling.units import Couples, Units, rebatch


def units(events: np.ndarray) -> Units:
    n = len(events)
    return Units(
        targets=events.astype(np.int32),
        contexts=np.stack([events, -np.ones(n, np.int64)], axis=1).astype(np.int32),
        negatives=np.zeros((n, 2), np.int32),
        events=events.astype(np.int64),
    )


def test_to_couples_gives_positives_then_each_positive_with_the_rows_negatives():
    u = Units(
        targets=np.array([5, 6], np.int32),
        contexts=np.array([[1, -1], [2, 3]], np.int32),
        negatives=np.array([[7, 8], [9, 4]], np.int32),
    )
    assert len(u) == 2 and u.n_positive == 3
    c = u.to_couples()
    assert c.targets.tolist() == [5, 6, 6, 7, 8, 9, 4, 9, 4]
    assert c.contexts.tolist() == [1, 2, 3, 1, 1, 2, 2, 3, 3]
    assert c.labels.tolist() == [1, 1, 1] + [0] * 6 and c.labels.dtype == np.float32
    assert [a.tolist() for a in c.arrays()] == [c.targets.tolist(), c.contexts.tolist(),
                                                c.labels.tolist()]  # fmt: skip


@pytest.mark.parametrize("sizes", [[3, 0, 5, 1], [8], [1, 1, 1], [0], [4, 4]])
@pytest.mark.parametrize("batch", [1, 3, 4, 7])
def test_rebatch_cuts_chunks_into_exact_batches_in_order(sizes, batch):
    bounds = np.cumsum([0, *sizes])
    chunks = [units(np.arange(a, b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    out = list(rebatch(iter(chunks), batch))
    lengths = [len(b) for b in out]
    assert all(n == batch for n in lengths[:-1]) and all(0 < n <= batch for n in lengths)
    assert sum(lengths) == bounds[-1]
    events = np.concatenate([b.events for b in out]) if out else np.zeros(0, np.int64)
    np.testing.assert_array_equal(events, np.arange(bounds[-1]))
    assert all(b.windows is None for b in out)  # absent fields stay absent


def test_rebatch_takes_couples_too():
    chunks = [Couples(np.arange(a, a + 3), np.arange(a, a + 3), np.ones(3, np.float32))
              for a in (0, 3)]  # fmt: skip
    out = list(rebatch(chunks, 4))
    assert [len(b) for b in out] == [4, 2]
    assert np.concatenate([b.targets for b in out]).tolist() == list(range(6))
