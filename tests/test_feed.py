"""The trainer's feed: groups of batches of one context width, sampled ahead on a thread."""

from __future__ import annotations

import time

import numpy as np
import pytest

from item2vec import datasets


def _units_stream(window: int | str, n: int, batch: int, seed: int = 0):
    """Batches of units from the real sampler, with their traced effective windows."""
    from item2vec.sampling import stream_units

    data = datasets.synthetic(n_items=50, n_clusters=5, n_sessions=n, mean_length=6, seed=seed)
    return list(
        stream_units(data.sessions, batch_size=batch, window=window, negatives=3, sample=0,
                     seed=seed, trace=True, max_contexts=4 if window == "session" else None)
    )  # fmt: skip


def _rows(ctx: np.ndarray, tgt: np.ndarray, neg: np.ndarray) -> list[tuple]:
    """Each unit as (target, sorted real contexts, negatives): comparable across layouts."""
    return sorted(
        (int(t), tuple(sorted(int(x) for x in c if x >= 0)), tuple(int(x) for x in ng))
        for c, t, ng in zip(ctx, tgt, neg, strict=True)
    )


@pytest.mark.parametrize("window", [1, 3, "session"])
def test_width_groups_keep_every_unit_and_trim_only_padding(window):
    from item2vec.sampling.feed import width_groups

    batches = _units_stream(window, 400, 64)
    groups = list(width_groups(iter(batches), window, 64, 4))
    want = _rows(*(np.concatenate([getattr(u, f) for u in batches])
                   for f in ("contexts", "targets", "negatives")))  # fmt: skip
    got = []
    full_width = batches[0].contexts.shape[1]
    for ctx, tgt, neg in groups:
        g, u, c = ctx.shape
        assert tgt.shape == (g, u) and neg.shape == (g, u, 3) and 1 <= g <= 4
        assert c <= full_width
        flat = ctx.reshape(-1, c)
        # the width is the narrowest that holds every unit of the group: some unit fills it
        if window == "session":
            n_real = (flat >= 0).sum(axis=1)
            assert n_real.max() <= c and (c == full_width or n_real.max() > c // 2)
        else:
            assert c % 2 == 0 and ((flat[:, 0] >= 0) | (flat[:, -1] >= 0)).all()
        got += _rows(flat, tgt.ravel(), neg.reshape(-1, 3))
    assert sorted(got) == want  # same units, same contexts, nothing lost or duplicated
    assert sum(t.shape[0] for _, t, _ in groups) <= len(batches) + 3 * 2


def test_width_groups_on_a_hand_made_batch():
    """Window 2: columns are offsets -2, -1, +1, +2; reach 1 units keep the middle two."""
    from item2vec.sampling import Units
    from item2vec.sampling.feed import width_groups

    ctx = np.array([[-1, 5, 6, -1], [7, 8, -1, -1], [-1, 9, -1, -1], [1, -1, -1, 2]], np.int32)
    u = Units(np.arange(4, dtype=np.int32), ctx, np.zeros((4, 1), np.int32))
    groups = list(width_groups(iter([u]), 2, 2, 8))
    by_width = {g[0].shape[2]: g for g in groups}
    assert sorted(by_width) == [2, 4]
    np.testing.assert_array_equal(by_width[2][0][0], [[5, 6], [9, -1]])
    np.testing.assert_array_equal(by_width[2][1][0], [0, 2])
    np.testing.assert_array_equal(by_width[4][0][0], [[7, 8, -1, -1], [1, -1, -1, 2]])


def test_prefetcher_hands_the_sources_error_to_the_consumer():
    from item2vec.sampling.feed import Prefetcher

    def source():
        yield 1
        yield 2
        raise ValueError("chunk 3 of the log is corrupt")

    feed = Prefetcher(source(), depth=1)
    assert [next(feed), next(feed)] == [1, 2]
    for _ in range(2):  # and to every later call
        with pytest.raises(ValueError, match="chunk 3 of the log is corrupt"):
            next(feed)
    feed.close()
    assert list(Prefetcher(iter(range(5)), depth=2)) == [0, 1, 2, 3, 4]


def test_prefetcher_close_stops_a_thread_blocked_on_a_full_queue():
    import itertools

    from item2vec.sampling.feed import Prefetcher

    feed = Prefetcher(itertools.count(), depth=2)
    assert next(feed) == 0
    feed.close()
    assert not feed._thread.is_alive()


def test_prefetcher_close_ends_the_iteration_of_a_waiting_consumer():
    import threading

    from item2vec.sampling.feed import Prefetcher

    def source():
        yield 0
        time.sleep(0.3)  # sampling a slow chunk while the feed is closed
        yield 1

    feed = Prefetcher(source(), depth=1)
    assert next(feed) == 0
    got: list = []

    def consume():
        try:
            got.append(next(feed))
        except StopIteration:
            got.append("stopped")

    consumer = threading.Thread(target=consume)
    consumer.start()
    feed.close()  # stops the producer before it hands over 1
    consumer.join(timeout=10)
    assert got == ["stopped"] and not consumer.is_alive()


def test_epoch_groups_are_a_pure_function_of_seed_and_epoch_and_skip_whole_batches():
    from item2vec.config import Config
    from item2vec.sampling.feed import epoch_groups

    data = datasets.synthetic(n_items=50, n_clusters=5, n_sessions=300, mean_length=6, seed=0)
    c = Config(dim=8, window=2, batch_size=32, seed=4)
    a = list(epoch_groups(data.sessions, c, 1))
    b = list(epoch_groups(data.sessions, c, 1))
    assert len(a) == len(b) and all(
        np.array_equal(x, y) for ga, gb in zip(a, b, strict=True) for x, y in zip(ga, gb)
    )
    _assert_skip_drops_whole_batches(a, list(epoch_groups(data.sessions, c, 1, skip=3)), 3)


def _batches(groups) -> list[tuple]:
    """Each batch of a list of groups, as a tuple of its arrays."""
    return [tuple(a[i] for a in g) for g in groups for i in range(len(g[1]))]


def _assert_skip_drops_whole_batches(groups, skipped, skip: int) -> None:
    batches, rest = _batches(groups), _batches(skipped)
    assert len(rest) == len(batches) - skip
    for x, y in zip(rest, batches[skip:], strict=True):
        for u, v in zip(x, y, strict=True):
            np.testing.assert_array_equal(u, v)


def test_width_groups_share_each_blocks_first_negatives_and_pad_short_batches():
    """block 4, batches of 8: every unit is kept once, with the negatives of the first unit
    of its block; a short batch is padded with context-less units of target -1."""
    from item2vec.sampling.feed import update_orders, width_groups

    batches = _units_stream(2, 150, 64)
    blocks = list(width_groups(iter(batches), 2, 8, 4, block=4))
    plain = list(width_groups(iter(batches), 2, 8, 4))
    assert len(blocks) == len(plain)
    real = 0
    for (ctx, tgt, neg), (ctx1, tgt1, neg1) in zip(blocks, plain, strict=True):
        g, u, c = ctx.shape
        assert neg.shape == (g, u // 4, 3) and u % 4 == 0
        n = tgt1.shape[1]  # the same units in the same places, then the padding
        np.testing.assert_array_equal(ctx[:, :n], ctx1)
        np.testing.assert_array_equal(tgt[:, :n], tgt1)
        np.testing.assert_array_equal(neg, neg1[:, ::4])
        assert (ctx[:, n:] == -1).all() and (tgt[:, n:] == -1).all() and u - n < 4
        real += int((tgt >= 0).sum())
        # the sorted candidate rows follow the step's layout: each block's targets, negatives
        cand_perm, cand_rows = update_orders((ctx, tgt, neg))[2:]
        layout = np.concatenate([np.maximum(tgt, 0).reshape(g, -1, 4), neg], 2).reshape(g, -1)
        np.testing.assert_array_equal(np.take_along_axis(layout, cand_perm, 1), cand_rows)
        assert (np.diff(cand_rows, axis=1) >= 0).all()
    assert real == sum(len(b.targets) for b in batches)
    with pytest.raises(ValueError, match=r"block \(3\) must divide batch_size \(8\)"):
        next(width_groups(iter(batches), 2, 8, 4, block=3))


def test_a_block_takes_its_negatives_from_its_units_draws_in_order():
    """One draw per unit, blocks of 4 sharing 3: block b takes the draws of its units 0-2; a
    short batch's last block (one real unit) goes on with the batch's first draws."""
    from item2vec.sampling import Units
    from item2vec.sampling.feed import width_groups

    n = 13  # batches of 8: one full, then 5 units padded to 8
    ctx = np.tile(np.array([[1, 2]], np.int32), (n, 1))
    u = Units(np.arange(n, dtype=np.int32), ctx, 100 + np.arange(n, dtype=np.int32)[:, None])
    full, short = list(width_groups(iter([u]), 1, 8, 1, block=4, negatives=3))
    np.testing.assert_array_equal(full[2][0], [[100, 101, 102], [104, 105, 106]])
    np.testing.assert_array_equal(short[1][0], [8, 9, 10, 11, 12, -1, -1, -1])
    np.testing.assert_array_equal(short[2][0], [[108, 109, 110], [112, 108, 109]])


def test_span_groups_stack_batches_of_blocks_and_skip_whole_batches():
    """Batches of batch_size / block blocks, groups of 1, 2, 4, ... batches up to
    GROUP_UNITS targets' worth, the short last batch alone; skip drops whole batches."""
    from item2vec.config import Config
    from item2vec.sampling import epoch_units
    from item2vec.sampling.feed import GROUP_UNITS, span_groups
    from item2vec.sampling.units import pool_size

    data = datasets.synthetic(n_items=50, n_clusters=5, n_sessions=3000, mean_length=6, seed=0)
    c = Config(dim=8, window=2, batch_size=64, seed=4)  # blocks of 8: 8 blocks per batch
    groups = list(span_groups(data.sessions, c, 1))
    sizes = [len(g[0]) for g in groups]
    per_group = GROUP_UNITS // 64
    grown = [min(2**i, per_group) for i in range(len(sizes))]
    assert sizes[:-2] == grown[:-2] and 1 <= sizes[-2] <= grown[-2]  # the stream ends
    assert sizes[-1] == 1 and all(len(g) == 4 for g in groups)
    for spans, targets, radii, negatives in groups[:-1]:
        assert spans.shape[1:] == (8, 8 + 4) and targets.shape[1:] == radii.shape[1:] == (8, 8)
        assert negatives.shape[1:] == (8, pool_size(c.negatives, 8))
    assert groups[-1][0].shape[1] <= 8
    # one chunk: the same subsampling and windows as the units of the epoch
    units = sum(len(u) for u in epoch_units(data.sessions, **c.stream_kwargs(1)))
    assert sum(int((b[1] >= 0).sum()) for b in _batches(groups)) == units
    _assert_skip_drops_whole_batches(groups, list(span_groups(data.sessions, c, 1, skip=5)), 5)


def test_spans_feed_in_memory_skipgram_with_blocks_only():
    from item2vec.config import Config
    from item2vec.sampling.corpus import ParquetCorpus
    from item2vec.sampling.feed import uses_spans

    s = datasets.synthetic(n_items=20, n_clusters=2, n_sessions=10, seed=0).sessions
    assert uses_spans(s, Config())
    assert not uses_spans(s, Config(negative_block=1))
    assert not uses_spans(s, Config(window="session"))
    assert not uses_spans(s, Config(mode="cbow"))
    assert not uses_spans(object.__new__(ParquetCorpus), Config())  # streams its own units
