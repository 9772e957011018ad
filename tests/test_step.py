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
    from item2vec.step import _STEPS, _STEPS_KEPT

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

    from item2vec.model import Item2VecModel
    from item2vec.step import bind_step
    from item2vec.updates import new_accumulators

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
