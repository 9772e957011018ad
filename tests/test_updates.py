"""The update rules and the learning-rate schedule both trainers share, against hand sums."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from item2vec.training.updates import (
    ACCUMULATOR_INITIAL,
    LinearDecay,
    accumulator_arrays,
    adagrad_rows,
    apply_adagrad,
    apply_sgd,
    assign_accumulators,
    dedupe_rows,
    gradient_scale,
    new_accumulators,
    sgd_rows,
)


def _table(rows: int = 4, dim: int = 2) -> tf.Variable:
    return tf.Variable(np.arange(rows * dim, dtype=np.float32).reshape(rows, dim) / 10)


def test_linear_decay_by_hand():
    d = LinearDecay(0.1, 0.01, 200.0)
    assert d(0) == pytest.approx(0.1)
    assert d(100) == pytest.approx(0.05)
    assert d(190) == pytest.approx(0.01)  # 0.1 * 0.05 = 0.005: floored
    assert d(1000) == pytest.approx(0.01)
    # the graph version is the same schedule in float32
    for done in (0, 50, 100, 150, 199, 400):
        assert float(d.tensor(done)) == pytest.approx(d(done), rel=1e-6)
    assert d.tensor(tf.constant(10, tf.int64)).dtype == tf.float32


def test_gradient_scale_folds_the_rate_into_sgd_only():
    assert gradient_scale(False, 0.3) == 0.3
    assert gradient_scale(True, 0.3) == 1.0


def test_dedupe_rows_sums_repeats_in_first_appearance_order():
    values = tf.constant([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    rows, sums = dedupe_rows(values, tf.constant([2, 0, 2]))
    np.testing.assert_array_equal(rows.numpy(), [2, 0])
    np.testing.assert_array_equal(sums.numpy(), [[6.0, 8.0], [3.0, 4.0]])


def test_sgd_rows_subtracts_the_scaled_gradient():
    table = _table()
    want = table.numpy().copy()
    g = np.array([[0.5, -1.0], [2.0, 0.25]], np.float32)
    sgd_rows(table, tf.constant([3, 1]), tf.constant(g))
    want[3] -= g[0]
    want[1] -= g[1]
    np.testing.assert_array_equal(table.numpy(), want)


def test_adagrad_rows_by_hand():
    table = _table()
    (acc,) = new_accumulators([table])
    np.testing.assert_array_equal(acc.numpy(), np.full((4, 1), ACCUMULATOR_INITIAL, np.float32))
    want = table.numpy().astype(np.float64)
    a = np.full(4, ACCUMULATOR_INITIAL)
    g = np.array([[0.3, -0.4], [1.0, 2.0]])
    lr = 0.5
    for _ in range(2):  # the accumulator grows: the second step is smaller
        adagrad_rows(table, acc, tf.constant([0, 2]), tf.constant(g, tf.float32), lr)
        for r, gr in zip([0, 2], g, strict=True):
            a[r] += np.mean(gr**2)
            want[r] -= lr * gr / np.sqrt(a[r])
    np.testing.assert_allclose(acc.numpy()[:, 0], a, rtol=1e-6)
    np.testing.assert_allclose(table.numpy(), want, rtol=1e-6)


@pytest.mark.parametrize("dense", [False, True])
def test_apply_sgd_sums_every_entry_whatever_the_layout(dense):
    E, b = _table(), tf.Variable(np.zeros((4, 1), np.float32))
    want_e, want_b = E.numpy().copy(), b.numpy().copy()
    ctx = tf.IndexedSlices(tf.constant([[1.0, 1.0], [2.0, 0.0]]), tf.constant([0, 0]))
    cand = tf.IndexedSlices(tf.constant([[0.5, 0.5]]), tf.constant([3]))
    bias = tf.IndexedSlices(tf.constant([[0.25], [0.5]]), tf.constant([3, 3]))
    apply_sgd([(E, ctx), (E, cand), (b, bias)], b, dense)
    want_e[0] -= [3.0, 1.0]
    want_e[3] -= [0.5, 0.5]
    want_b[3] -= 0.75
    np.testing.assert_allclose(E.numpy(), want_e, rtol=1e-6)
    np.testing.assert_allclose(b.numpy(), want_b, rtol=1e-6)


def test_apply_adagrad_deduplicates_a_tables_entries_first():
    E = _table()
    (acc,) = new_accumulators([E])
    want = E.numpy().astype(np.float64)
    parts = [(E, tf.IndexedSlices(tf.constant([[1.0, 0.0]]), tf.constant([1]))),
             (E, tf.IndexedSlices(tf.constant([[1.0, 2.0]]), tf.constant([1])))]  # fmt: skip
    apply_adagrad(parts, [E], [acc], 0.1)
    g = np.array([2.0, 2.0])  # both entries of row 1, summed before the rule
    a = ACCUMULATOR_INITIAL + np.mean(g**2)
    want[1] -= 0.1 * g / np.sqrt(a)
    np.testing.assert_allclose(E.numpy(), want, rtol=1e-6)
    np.testing.assert_allclose(acc.numpy()[1, 0], a, rtol=1e-6)


def test_accumulator_arrays_round_trip():
    accs = new_accumulators([_table(3), _table(5, 1)])
    arrays = accumulator_arrays(accs)
    assert sorted(arrays) == ["accumulator_0", "accumulator_1"]
    assert arrays["accumulator_1"].shape == (5, 1) and arrays["accumulator_1"].dtype == np.float32
    fresh = new_accumulators([_table(3), _table(5, 1)])
    arrays["accumulator_1"][2] = 7.0
    assign_accumulators(fresh, {**arrays, "output_vectors": np.zeros(1)})  # others ignored
    assert fresh[1].numpy()[2, 0] == 7.0 and accs[1].numpy()[2, 0] == ACCUMULATOR_INITIAL
