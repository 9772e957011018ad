"""The model, pinned: hand-computed logits, shapes, which rows move, hand-written gradients."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from item2vec.sampling.units import pool_order
from item2vec.training.model import (
    Item2VecModel,
    span_context_mask,
    span_loss_and_grads,
    unit_loss_and_grads,
)

N, D = 7, 4


def _model(mode: str = "skipgram", separate_output: bool = False, seed: int = 0):
    m = Item2VecModel(N, D, mode=mode, separate_output=separate_output, seed=seed)
    rng = np.random.default_rng(seed)
    E = rng.normal(size=(N, D)).astype(np.float32)
    b = rng.normal(size=(N, 1)).astype(np.float32)
    m.E.assign(E)
    m.b.assign(b)
    if separate_output:
        m.E_out.assign(rng.normal(size=(N, D)).astype(np.float32))
    return m


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_couple_logits_equal_numpy_dot_plus_target_bias():
    m = _model()
    E, b = m.E.numpy(), m.b.numpy()[:, 0]
    ctx = np.array([0, 1, 2, 6, 3])
    tgt = np.array([1, 1, 5, 0, 3])
    logits = m({"context": ctx, "target": tgt}).numpy()
    expected = np.array([E[c] @ E[t] + b[t] for c, t in zip(ctx, tgt, strict=True)])
    assert logits.shape == (5,)  # one number per couple, never (batch, dim, dim)
    np.testing.assert_allclose(logits, expected, rtol=1e-5)
    # bias belongs to the target only: swapping the slots changes the logit by b[t]-b[c]
    swapped = m({"context": tgt, "target": ctx}).numpy()
    np.testing.assert_allclose(logits - swapped, b[tgt] - b[ctx], rtol=1e-5, atol=1e-5)


def test_tables_have_exact_shapes_and_bias_starts_at_zero():
    m = Item2VecModel(N, D)
    assert tuple(m.E.shape) == (N, D)  # never dim + 1 wide
    assert tuple(m.b.shape) == (N, 1)
    assert not np.any(m.b.numpy())
    assert m.E_out is m.E  # shared by default
    names = [w.path for w in m.weights]
    assert len(names) == 2, names  # no hidden output table


def test_separate_output_is_explicit_and_used_for_targets():
    m = _model(separate_output=True)
    assert m.E_out is not m.E and len(m.weights) == 3
    E, Eo, b = m.E.numpy(), m.E_out.numpy(), m.b.numpy()[:, 0]
    got = m({"context": np.array([2]), "target": np.array([4])}).numpy()
    np.testing.assert_allclose(got, [E[2] @ Eo[4] + b[4]], rtol=1e-5)


@pytest.mark.parametrize("mode", ["skipgram", "cbow"])
def test_unit_logits_match_numpy(mode):
    m = _model(mode)
    E, b = m.E.numpy(), m.b.numpy()[:, 0]
    ctx = np.array([[0, 2, -1, 3], [-1, -1, 5, -1]], np.int32)
    cand = np.array([[1, 4, 6], [2, 0, 3]], np.int32)
    got = m.unit_logits(ctx, cand).numpy()
    if mode == "skipgram":
        assert got.shape == (2, 4, 3)
        for u in range(2):
            for c in range(4):
                if ctx[u, c] >= 0:
                    want = E[ctx[u, c]] @ E[cand[u]].T + b[cand[u]]
                    np.testing.assert_allclose(got[u, c], want, rtol=1e-5)
    else:
        assert got.shape == (2, 3)
        for u in range(2):
            h = E[ctx[u][ctx[u] >= 0]].mean(axis=0)
            np.testing.assert_allclose(got[u], h @ E[cand[u]].T + b[cand[u]], rtol=1e-5)


def _loss_numpy(m, ctx, tgt, neg):
    E, Eo, b = m.E.numpy(), m.E_out.numpy(), m.b.numpy()[:, 0]
    total = 0.0
    for u in range(len(tgt)):
        cand = np.concatenate([[tgt[u]], neg[u]])
        labels = np.zeros(len(cand))
        labels[0] = 1
        real = ctx[u][ctx[u] >= 0]
        hs = [E[c] for c in real] if m.mode == "skipgram" else [E[real].mean(axis=0)]
        for h in hs:
            p = _sigmoid(h @ Eo[cand].T + b[cand])
            total -= np.sum(labels * np.log(p) + (1 - labels) * np.log(1 - p))
    return total


def _assert_same_gradients(grads, variables, ref_grads):
    """The sparse gradients, summed into each table, equal the tape's."""
    for v, r in zip(variables, ref_grads, strict=True):
        # the shared table gets one entry per slot: their sum is its gradient
        dense = sum(
            tf.math.unsorted_segment_sum(g.values, g.indices, v.shape[0]).numpy()
            for var, g in grads
            if var is v
        )
        np.testing.assert_allclose(dense, tf.convert_to_tensor(r).numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", ["skipgram", "cbow"])
@pytest.mark.parametrize("separate_output", [False, True])
def test_hand_written_gradients_equal_autodiff(mode, separate_output):
    m = _model(mode, separate_output)
    ctx = tf.constant([[0, 2, -1, 3], [-1, 6, 5, -1], [1, -1, -1, -1]], tf.int32)
    tgt = tf.constant([1, 2, 6], tf.int32)
    neg = tf.constant([[4, 6], [0, 3], [3, 3]], tf.int32)
    loss, grads = unit_loss_and_grads(m, ctx, tgt, neg)
    np.testing.assert_allclose(
        float(loss), _loss_numpy(m, ctx.numpy(), tgt.numpy(), neg.numpy()), rtol=1e-4
    )
    variables = [m.E, m.b] if not separate_output else [m.E, m.E_out, m.b]
    with tf.GradientTape() as tape:
        logits = m.unit_logits(ctx, tf.concat([tgt[:, None], neg], 1))
        labels = tf.one_hot(tf.zeros_like(tgt), 3)
        if mode == "skipgram":
            mask = tf.cast(ctx >= 0, tf.float32)[..., None]
            labels = tf.broadcast_to(labels[:, None, :], tf.shape(logits))
        else:
            mask = 1.0
        ref = tf.reduce_sum(
            tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits) * mask
        )
    ref_grads = tape.gradient(ref, variables)
    np.testing.assert_allclose(float(loss), float(ref), rtol=1e-5)
    _assert_same_gradients(grads, variables, ref_grads)
    # scale multiplies every gradient and leaves the loss alone
    loss2, scaled = unit_loss_and_grads(m, ctx, tgt, neg, scale=0.5)
    np.testing.assert_allclose(float(loss2), float(loss), rtol=1e-6)
    for (_, g), (_, g2) in zip(grads, scaled, strict=True):
        np.testing.assert_allclose(g2.values.numpy(), 0.5 * g.values.numpy(), rtol=1e-5)


def test_one_sgd_step_moves_only_target_bias_rows_and_both_slots_of_e():
    m = _model()
    before_E, before_b = m.E.numpy().copy(), m.b.numpy().copy()
    ctx = tf.constant([[0, -1], [0, -1]], tf.int32)  # item 0 only ever a context
    tgt = tf.constant([1, 1], tf.int32)  # item 1 only ever a target
    neg = tf.constant([[2], [3]], tf.int32)  # 2, 3 only negatives (target slot)
    _, grads = unit_loss_and_grads(m, ctx, tgt, neg)
    for v, g in grads:
        v.scatter_sub(tf.IndexedSlices(g.values * 0.1, g.indices, g.dense_shape))
    changed_b = np.flatnonzero(np.any(m.b.numpy() != before_b, axis=1))
    assert changed_b.tolist() == [1, 2, 3]  # target-slot rows only; never the context 0
    changed_E = np.flatnonzero(np.any(m.E.numpy() != before_E, axis=1))
    assert changed_E.tolist() == [0, 1, 2, 3]  # shared table: context AND target rows


def test_model_is_a_keras_model_with_summary_and_config():
    m = Item2VecModel(N, D, mode="cbow")
    lines: list[str] = []
    m.summary(print_fn=lambda s, **_: lines.append(s))
    text = "\n".join(lines)
    assert "item_embedding" in text and "target_bias" in text
    assert m.get_config()["mode"] == "cbow"


def _block_loss_tape(m, ctx, tgt, neg, block):
    """The couples of a block, one by one, as a GradientTape loss: each real context (CBOW:
    the mean of a unit's real contexts) scores its own target (label 1) and every shared
    negative of its block except its own target (label 0)."""
    loss = 0.0
    for u in range(len(tgt)):
        real = [int(c) for c in ctx[u] if c >= 0]
        if not real:
            continue
        if m.mode == "skipgram":
            rows = [tf.gather(m.E, c) for c in real]
        else:
            rows = [tf.reduce_mean(tf.gather(m.E, real), axis=0)]
        cand = [int(tgt[u])] + [int(j) for j in neg[u // block] if j != tgt[u]]
        labels = tf.constant([1.0] + [0.0] * (len(cand) - 1))
        for h in rows:
            logits = tf.linalg.matvec(tf.gather(m.E_out, cand), h) + tf.gather(m.b[:, 0], cand)
            loss += tf.reduce_sum(
                tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
            )
    return loss


@pytest.mark.parametrize("mode", ["skipgram", "cbow"])
@pytest.mark.parametrize("separate_output", [False, True])
def test_blocks_of_units_sharing_negatives_are_their_couples_one_by_one(mode, separate_output):
    """block=2: units 0-1 share negatives [4, 2], units 2-3 share [6, 0]. Unit 1's target
    is 2, so negative 2 is masked for unit 1 only; unit 3 is padding (no context, target -1:
    no gradient); other units' targets are never scored as negatives."""
    m = _model(mode, separate_output)
    ctx = tf.constant([[0, 3, -1], [5, -1, 1], [3, 2, 4], [-1, -1, -1]], tf.int32)
    tgt = tf.constant([1, 2, 5, -1], tf.int32)
    neg = tf.constant([[4, 2], [6, 0]], tf.int32)
    variables = [m.E, m.b] if not separate_output else [m.E, m.E_out, m.b]
    with tf.GradientTape() as tape:
        ref = _block_loss_tape(m, ctx.numpy(), tgt.numpy(), neg.numpy(), 2)
    ref_grads = tape.gradient(ref, variables)
    loss, grads = unit_loss_and_grads(m, ctx, tgt, neg, block=2)
    np.testing.assert_allclose(float(loss), float(ref), rtol=1e-5)
    _assert_same_gradients(grads, variables, ref_grads)
    # the candidate rows are each block's targets (padding read as row 0), then its negatives
    cand_rows = [g.indices.numpy().tolist() for var, g in grads if var is m.b][0]
    assert cand_rows == [1, 2, 4, 2, 5, 0, 6, 0]
    # the loss of the first units only: the first block
    few, _ = unit_loss_and_grads(m, ctx, tgt, neg, loss_units=2, block=2)
    first = _block_loss_tape(m, ctx.numpy()[:2], tgt.numpy()[:2], neg.numpy()[:1], 2)
    np.testing.assert_allclose(float(few), float(first), rtol=1e-5)


def test_block_of_one_is_every_unit_with_its_own_negatives():
    m = _model()
    ctx = tf.constant([[0, 2, -1, 3], [-1, 6, 5, -1], [1, -1, -1, -1]], tf.int32)
    tgt = tf.constant([1, 2, 6], tf.int32)
    neg = tf.constant([[4, 6], [0, 3], [3, 3]], tf.int32)
    ref = _block_loss_tape(m, ctx.numpy(), tgt.numpy(), neg.numpy(), 1)
    loss, _ = unit_loss_and_grads(m, ctx, tgt, neg)
    np.testing.assert_allclose(float(loss), float(ref), rtol=1e-5)


def _span_couples(spans, targets, radii):
    """Hand-listed couples of spans: (block, context slot, target index m)."""
    w = (spans.shape[1] - targets.shape[1]) // 2
    out = []
    for b in range(len(spans)):
        for m in range(targets.shape[1]):
            if targets[b, m] < 0:
                continue
            for s in range(spans.shape[1]):
                if spans[b, s] >= 0 and 1 <= abs(s - (w + m)) <= radii[b, m]:
                    out.append((b, s, m))
    return out


def _span_loss_tape(m, spans, targets, radii, negatives, k):
    """The couples of spans one by one: each context of target ``j`` scores ``j`` (label 1)
    and the first ``k`` pool entries in ``j``'s order that differ from it (label 0)."""
    order = pool_order(k, targets.shape[1])
    loss = 0.0
    for b, s, j in _span_couples(spans, targets, radii):
        t = int(targets[b, j])
        negs = [int(negatives[b, q]) for q in order[j] if negatives[b, q] != t][:k]
        cand = [t, *negs]
        labels = tf.constant([1.0] + [0.0] * len(negs))
        h = tf.gather(m.E, int(spans[b, s]))
        logits = tf.linalg.matvec(tf.gather(m.E_out, cand), h) + tf.gather(m.b[:, 0], cand)
        loss += tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))
    return loss


def test_span_context_mask_is_each_targets_window_within_the_session():
    """W = 2, M = 2: slots 0..5, targets at slots 2 and 3. Target 0 (radius 2) reaches
    slots 0, 1, 3 and 4, of which slot 0 is outside the session (-1); target 1 (radius 1)
    slots 2 and 4."""
    spans = tf.constant([[-1, 5, 1, 2, 3, 6]], tf.int32)
    targets = tf.constant([[1, 2]], tf.int32)
    radii = tf.constant([[2, 1]], tf.int32)
    mask = span_context_mask(spans, targets, radii).numpy()
    np.testing.assert_array_equal(mask[0], [[0, 1, 0, 1, 1, 0], [0, 0, 1, 0, 1, 0]])
    # a padding target (-1) has no contexts
    none = span_context_mask(spans, tf.constant([[1, -1]], tf.int32), radii).numpy()
    np.testing.assert_array_equal(none[0, 1], np.zeros(6))


@pytest.mark.parametrize("separate_output", [False, True])
def test_spans_are_their_couples_one_by_one(separate_output):
    """Two blocks of M = 3 targets, W = 1, a pool of P = 3 negatives, k = 2 per target:
    target m reads entries 2m, 2m + 1, 2m + 2 (mod 3) and meets the first two that differ
    from it. Block 0: target 1 (item 3) reads [0, 3, 5] and skips the 3; target 2 (item 2)
    reads [5, 0, 3]. Block 1 ends its session after two targets (its third is padding),
    its first slot is outside the session, and target 0 (item 6) skips two of [6, 6, 4]:
    only one negative is left for it."""
    m = _model(separate_output=separate_output)
    spans = tf.constant([[0, 1, 3, 2, 4], [-1, 6, 5, -1, -1]], tf.int32)
    targets = tf.constant([[1, 3, 2], [6, 5, -1]], tf.int32)
    radii = tf.constant([[1, 1, 1], [1, 1, 0]], tf.int32)
    negatives = tf.constant([[3, 5, 0], [6, 6, 4]], tf.int32)
    np.testing.assert_array_equal(pool_order(2, 3), [[0, 1, 2], [2, 0, 1], [1, 2, 0]])
    variables = [m.E, m.b] if not separate_output else [m.E, m.E_out, m.b]
    args = (spans.numpy(), targets.numpy(), radii.numpy(), negatives.numpy())
    with tf.GradientTape() as tape:
        ref = _span_loss_tape(m, *args, 2)
    ref_grads = tape.gradient(ref, variables)
    loss, grads = span_loss_and_grads(m, spans, targets, radii, negatives, 2)
    np.testing.assert_allclose(float(loss), float(ref), rtol=1e-5)
    _assert_same_gradients(grads, variables, ref_grads)
    assert len(_span_couples(*args[:3])) == 8  # 2 + 2 + 2 in block 0, 1 + 1 in block 1
    # the candidate rows: each block's targets (padding read as row 0), then its pool
    cand_rows = [g.indices.numpy().tolist() for var, g in grads if var is m.b][0]
    assert cand_rows == [1, 3, 2, 3, 5, 0, 6, 5, 0, 6, 6, 4]
    # the loss of the first blocks only; the gradients scale with `scale`
    few, _ = span_loss_and_grads(m, spans, targets, radii, negatives, 2, loss_blocks=1)
    first = _span_loss_tape(m, *(a[:1] for a in args), 2)
    np.testing.assert_allclose(float(few), float(first), rtol=1e-5)
    _, half = span_loss_and_grads(m, spans, targets, radii, negatives, 2, scale=0.5)
    for (_, g), (_, h) in zip(grads, half, strict=True):
        np.testing.assert_allclose(h.values.numpy(), 0.5 * g.values.numpy(), rtol=1e-6)
