"""The compiled step: shared by trainers of one shape, training each one's own tables."""

from __future__ import annotations

import numpy as np
import pytest

from item2vec import Item2Vec, datasets

FAST = dict(dim=16, window=3, epochs=4, batch_size=256, progress=False, seed=0)


@pytest.fixture(scope="module")
def planted():
    return datasets.synthetic(n_items=300, n_clusters=10, n_sessions=3000, mean_length=8, seed=1)


def test_models_of_one_shape_share_the_compiled_step_and_keep_their_own_weights(planted):
    from item2vec.training.step import _STEPS, _STEPS_KEPT

    first = Item2Vec(**{**FAST, "epochs": 1, "workers": 1}).fit(planted.sessions)
    before = first.model_.E.numpy().copy()
    n_steps = len(_STEPS)
    second = Item2Vec(**{**FAST, "epochs": 1, "workers": 1, "seed": 1}).fit(planted.sessions)
    assert len(_STEPS) == n_steps  # reused, not traced again
    # the shared graph trained the second model's tables, not the first's
    np.testing.assert_array_equal(first.model_.E.numpy(), before)
    assert not np.array_equal(second.item_vectors_, first.item_vectors_)
    wider = Item2Vec(**{**FAST, "dim": 24, "epochs": 1, "workers": 1}).fit(planted.sessions)
    assert len(_STEPS) == min(n_steps + 1, _STEPS_KEPT) and wider.item_vectors_.shape[1] == 24


@pytest.mark.parametrize("optimizer", ["sgd", "adagrad"])
def test_an_empty_group_changes_nothing_and_a_group_equals_its_batches(optimizer):
    """A group of G batches in one call trains exactly as G calls of one batch each."""
    import tensorflow as tf

    from item2vec.training.model import Item2VecModel
    from item2vec.training.step import bind_step
    from item2vec.training.updates import new_accumulators

    rng = np.random.default_rng(0)
    ctx = rng.integers(-1, 20, (3, 8, 4)).astype(np.int32)
    tgt = rng.integers(0, 20, (3, 8)).astype(np.int32)
    neg = rng.integers(0, 20, (3, 8, 2)).astype(np.int32)
    lr = tf.constant([0.1, 0.05, 0.02], tf.float32)
    runs = []
    for grouped in (True, False):
        model = Item2VecModel(20, 4, seed=3)
        tables = [model.E, model.b]
        accs = new_accumulators(tables) if optimizer == "adagrad" else []
        step = bind_step(tables, accs, mode="skipgram", negatives=2, dense=False)
        before = model.E.numpy().copy()
        out = step(tf.zeros([0, 0, 0], tf.int32), tf.zeros([0, 0], tf.int32),
                   tf.zeros([0, 0, 2], tf.int32), tf.zeros([0], tf.float32))  # fmt: skip
        assert [float(x) for x in out] == [0.0, 0.0, 0.0]
        np.testing.assert_array_equal(model.E.numpy(), before)
        if grouped:
            step(ctx, tgt, neg, lr)
        else:
            for i in range(3):
                step(ctx[i : i + 1], tgt[i : i + 1], neg[i : i + 1], lr[i : i + 1])
        runs.append((model.E.numpy(), model.b.numpy()))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def test_update_orders_by_hand():
    from item2vec.sampling.feed import update_orders

    ctx = np.array([[[-1, 2], [0, 2]]], np.int32)  # G=1, U=2, C=2; -1 pads (row 0)
    tgt = np.array([[1, 0]], np.int32)
    neg = np.array([[[2], [1]]], np.int32)  # K=1: candidates [1, 2], [0, 1]
    ctx_perm, ctx_rows, cand_perm, cand_rows = update_orders((ctx, tgt, neg))
    # context rows [0, 2, 0, 2]: ties keep their order
    np.testing.assert_array_equal(ctx_perm, [[0, 2, 1, 3]])
    np.testing.assert_array_equal(ctx_rows, [[0, 0, 2, 2]])
    # candidate rows [1, 2, 0, 1]
    np.testing.assert_array_equal(cand_perm, [[2, 0, 3, 1]])
    np.testing.assert_array_equal(cand_rows, [[0, 1, 1, 2]])
    assert all(a.dtype == np.int32 for a in (ctx_perm, ctx_rows, cand_perm, cand_rows))


@pytest.mark.parametrize("top", [50, 1 << 30], ids=["uint32 keys", "uint64 keys"])
def test_sorted_rows_is_a_stable_sort_per_batch(top):
    from item2vec.sampling.feed import _sorted_rows

    rows = np.random.default_rng(0).integers(0, top, (3, 5000)).astype(np.int32)
    rows[:, :10] = rows[:, 10:20]  # ties
    perm, srt = _sorted_rows(rows)
    np.testing.assert_array_equal(perm, np.argsort(rows, axis=1, kind="stable"))
    np.testing.assert_array_equal(srt, np.sort(rows, axis=1))


def test_the_sorted_dense_update_equals_the_unsorted_one():
    import tensorflow as tf

    from item2vec.sampling.feed import update_orders
    from item2vec.training.model import Item2VecModel
    from item2vec.training.step import bind_step

    rng = np.random.default_rng(1)
    ctx = rng.integers(-1, 30, (4, 64, 6)).astype(np.int32)
    tgt = rng.integers(0, 30, (4, 64)).astype(np.int32)
    neg = rng.integers(0, 30, (4, 64, 3)).astype(np.int32)
    lr = tf.constant([0.05, 0.04, 0.03, 0.02], tf.float32)
    runs = []
    for sorted_rows in (False, True):
        model = Item2VecModel(30, 8, seed=2)
        step = bind_step([model.E, model.b], [], mode="skipgram", negatives=3, dense=True,
                         sorted_rows=sorted_rows)  # fmt: skip
        orders = update_orders((ctx, tgt, neg)) if sorted_rows else ()
        step(ctx, tgt, neg, lr, *orders)
        runs.append((model.E.numpy(), model.b.numpy()))
    assert not np.allclose(runs[0][0], Item2VecModel(30, 8, seed=2).E.numpy())  # it trained
    # the same sums in another order: equal up to rounding (a misplaced row would be off by
    # a whole gradient row)
    np.testing.assert_allclose(runs[1][0], runs[0][0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(runs[1][1], runs[0][1], rtol=1e-4, atol=1e-5)


def test_the_trainer_sorts_rows_only_for_dense_sgd_on_the_cpu(planted):
    from item2vec.config import Config
    from item2vec.training.model import Item2VecModel
    from item2vec.training.train import Trainer

    def trainer(**kw):
        config = Config(**{"dim": 8, "epochs": 1, "batch_size": 64, "workers": 1, **kw})
        model = Item2VecModel(len(planted.sessions.vocabulary), 8)
        return Trainer(model, planted.sessions, config, progress=False)

    assert trainer()._sorted_rows  # 300 items <= 64 x 6 rows a batch: dense
    assert not trainer(optimizer="adagrad")._sorted_rows
    assert not trainer(batch_size=16)._sorted_rows  # 300 > 16 x 6: rows are scattered
    sorted_fit = trainer()
    sorted_fit.fit()
    assert sorted_fit.history[0].couples > 0 and np.isfinite(sorted_fit.history[0].loss)


def _span_group(rng, g=3, b=4, m=4, w=2, p=4, n=20):
    spans = rng.integers(-1, n, (g, b, m + 2 * w)).astype(np.int32)
    targets = np.where(rng.random((g, b, m)) < 0.8, spans[:, :, w : w + m], -1)
    targets = np.where(targets >= 0, targets, -1).astype(np.int32)
    radii = np.where(targets >= 0, rng.integers(1, w + 1, (g, b, m)), 0).astype(np.int32)
    negatives = rng.integers(0, n, (g, b, p)).astype(np.int32)
    return spans, targets, radii, negatives


@pytest.mark.parametrize("mode", ["sparse", "dense", "sorted", "adagrad", "int64"])
def test_a_span_group_trains_as_its_batches_and_counts_its_couples(mode):
    """Spans of 4 targets, window 2, a pool of 4 negatives (2 per target): a group of 3
    batches in one call equals 3 calls of one batch, for each update rule; the sorted dense
    sums and int64 rows (as fed to a GPU) train as the plain ones; the reported couples are
    the context mask's."""
    import tensorflow as tf

    from item2vec.sampling.feed import update_orders
    from item2vec.training.model import Item2VecModel, span_context_mask
    from item2vec.training.step import bind_step
    from item2vec.training.updates import new_accumulators

    group = _span_group(np.random.default_rng(0))
    lr = tf.constant([0.1, 0.05, 0.02], tf.float32)
    dtype = tf.int64 if mode == "int64" else tf.int32
    runs, outs = [], []
    for grouped in (True, False):
        model = Item2VecModel(20, 4, seed=3)
        tables = [model.E, model.b]
        accs = new_accumulators(tables) if mode == "adagrad" else []
        kind = dict(dense=mode != "sparse", sorted_rows=mode == "sorted", indices=dtype)
        step = bind_step(tables, accs, mode="skipgram", negatives=2, block=4, spans=True, **kind)
        for i in [slice(None)] if grouped else [slice(j, j + 1) for j in range(3)]:
            arrays = [tf.constant(a[i], dtype) for a in group]
            orders = (
                update_orders((group[0][i], group[1][i], group[3][i])) if mode == "sorted" else ()
            )
            outs.append(step(*arrays, lr[i], *orders))
        runs.append((model.E.numpy(), model.b.numpy()))
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(runs[0][1], runs[1][1], rtol=1e-5, atol=1e-6)
    assert not np.allclose(runs[0][0], Item2VecModel(20, 4, seed=3).E.numpy())  # it trained
    mask = span_context_mask(*(tf.constant(a.reshape(-1, a.shape[-1])) for a in group[:3]))
    assert int(outs[0][2]) == int(tf.reduce_sum(mask)) == sum(int(o[2]) for o in outs[1:])
    if mode in ("sorted", "int64"):  # against the plain dense SGD step of the same group
        model = Item2VecModel(20, 4, seed=3)
        step = bind_step([model.E, model.b], [], mode="skipgram", negatives=2, dense=True,
                         block=4, spans=True)  # fmt: skip
        step(*group, lr)
        np.testing.assert_allclose(model.E.numpy(), runs[0][0], rtol=1e-4, atol=1e-5)
