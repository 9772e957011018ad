"""Rows to sessions: the builder carries open sessions, ordering, item codes and row lookups."""

from __future__ import annotations

import numpy as np
import pytest

from item2vec.data.session_rows import (
    DROPPED,
    Block,
    ItemCoder,
    RowLookup,
    Rows,
    SessionBuilder,
    concat_sessions,
    grow,
    order_and_collapse,
)
from item2vec.data.vocabulary import Vocabulary
from item2vec.exceptions import DataError


def rows(keys: list[str], items: list[int]) -> Rows:
    uniques, inv = np.unique(np.array(keys, dtype=object), return_inverse=True)
    return Rows(inv.astype(np.int64), uniques, np.asarray(items, np.int64), None)


@pytest.mark.parametrize("hashed", [False, True])
def test_builder_carries_the_open_session_across_batches(hashed):
    batches = [rows(["a", "a", "b"], [0, 1, 2]), rows(["b", "b", "c"], [3, 4, 5]), rows(["c"], [6])]
    builder = SessionBuilder(hashed=hashed)
    blocks = [builder.feed(r, origin=k) for k, r in enumerate(batches)]
    assert blocks[0] is not None and blocks[2] is None and builder.open and builder.key == "c"
    blocks = [b for b in [*blocks, builder.flush()] if b is not None]
    assert not builder.open and builder.sessions == 3
    assert np.concatenate([b.lengths for b in blocks]).tolist() == [2, 3, 2]
    assert np.concatenate([b.items for b in blocks]).tolist() == list(range(7))
    assert np.concatenate([b.origins for b in blocks]).tolist() == [0, 0, 1]
    hashes = [b.hashes for b in blocks]
    if hashed:
        keys = np.concatenate(hashes)
        assert keys.dtype == np.uint64 and len(set(keys.tolist())) == 3
    else:
        assert all(h is None for h in hashes)
    assert builder.flush() is None


def test_builder_refuses_a_session_that_comes_back():
    with pytest.raises(DataError, match=r"not grouped by session: session 'a'"):
        SessionBuilder(hashed=False).feed(rows(["a", "b", "a"], [0, 1, 2]), origin=0)


def test_order_and_collapse_orders_by_time_then_merges_repeats():
    block = Block(
        items=np.array([3, 3, 1, 2, 2]),
        lengths=np.array([3, 2]),
        times=np.array([2, 1, 0, 5, 5]),
        origins=np.zeros(2, np.int64),
        hashes=None,
    )
    items, sid = order_and_collapse(block, collapse=False)
    assert items.tolist() == [1, 3, 3, 2, 2] and sid.tolist() == [0, 0, 0, 1, 1]
    items, sid = order_and_collapse(block, collapse=True)
    assert items.tolist() == [1, 3, 2] and sid.tolist() == [0, 0, 1]


def test_item_codes_and_vocabulary_rows():
    coder = ItemCoder()
    assert coder(np.array(["b", "a", "b"], dtype=object)).tolist() == [0, 1, 0]
    assert coder(np.array(["c", "a"], dtype=object)).tolist() == [2, 1]
    assert len(coder) == 3 and coder.ids().tolist() == ["b", "a", "c"]
    numeric = RowLookup(Vocabulary(np.array([10, 20]), np.array([2, 1])))
    assert numeric(np.array([20, 30, 10])).tolist() == [1, DROPPED, 0]
    text = RowLookup(Vocabulary(["x", "y"], [2, 1]))
    assert text(np.array(["y", "z"], dtype=object)).tolist() == [1, DROPPED]


def test_bookkeeping_helpers():
    a = np.array([1, 2])
    assert grow(a, 1) is a
    assert grow(a, 3, 9).tolist() == [1, 2, 9, 9]  # geometric: at least twice as long
    items, offsets = concat_sessions([np.array([1, 2, 3]), np.array([4])],
                                     [np.array([2, 1]), np.array([1])])  # fmt: skip
    assert items.tolist() == [1, 2, 3, 4] and offsets.tolist() == [0, 2, 3, 4]
