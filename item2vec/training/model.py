"""The Keras model: one shared item Embedding, a target-only bias, dot-product logits.

For a couple (context ``c``, target ``t``)::

    logit(c, t) = E[c] . E[t] + b[t]        # one number per couple
    loss        = sigmoid cross-entropy(logit, label)

``E`` (n_items, dim) is shared by both slots; ``b`` (n_items, 1) starts at zero and only
target rows receive gradient. With ``separate_output=True`` the target slot reads a second
table (classic word2vec ``syn1neg``); that is an explicit option, never the default.

Training works on *window units* (see :mod:`item2vec.sampling`): a target, its context
window (padded with -1) and K negatives shared by the whole window. Scoring a unit is one
small matrix product per window (the HogBatch idea) instead of ``C * (1 + K)`` separate dot
products:

    skip-gram: logits[u, c, j] = E[ctx[u, c]] . E[cand[u, j]] + b[cand[u, j]]   (U, C, 1+K)
    CBOW:      logits[u, j]    = mean_c E[ctx[u, c]] . E[cand[u, j]] + b[cand[u, j]]  (U, 1+K)

where ``cand[u] = [target[u], neg[u, 0], ..., neg[u, K-1]]`` and column 0 is the positive.

The single-process trainer shares each draw of K negatives between a *block* of M units
(``negative_block``; 8 by default for skip-gram with an integer window): the block's
contexts are scored against ``[target_0, ..., target_{M-1}, neg_0, ..., neg_{K-1}]``, each
context against its own target and the K negatives only (see :func:`unit_loss_and_grads`).
Every context still meets K negatives from the noise distribution; a batch gathers and
updates ``C + 1 + K / M`` rows per unit instead of ``C + 1 + K``.

On in-memory sessions the blocks are *spans* (:class:`~item2vec.sampling.units.Spans`): M
consecutive targets of a session, whose contexts lie among the ``M + 2W`` events around
them, so each of those events is gathered, scored and updated once for all the couples it
is in (:func:`span_loss_and_grads`): about ``(M + 2W) / M`` context rows per target instead
of its ``2r`` contexts. The same couples, each scored as above.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ..checks import MODES
from ..sampling.units import pool_order

__all__ = [
    "MODES",
    "Item2VecModel",
    "span_context_mask",
    "span_loss_and_grads",
    "unit_loss_and_grads",
]


class Item2VecModel(keras.Model):
    """Shared-embedding skip-gram / CBOW scorer.

    Parameters
    ----------
    n_items : rows of the embedding table (exactly the vocabulary size).
    dim : embedding width.
    mode : ``"skipgram"`` or ``"cbow"`` (only affects :meth:`unit_logits`).
    separate_output : use a second table for the target slot (word2vec's output vectors).
    seed : initialiser seed.

    Calling the model on a dict ``{"context": int (B,), "target": int (B,)}`` returns the
    couple logits, shape ``(B,)``.
    """

    def __init__(
        self,
        n_items: int,
        dim: int,
        *,
        mode: str = "skipgram",
        separate_output: bool = False,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.n_items = int(n_items)
        self.dim = int(dim)
        self.mode = mode
        self.separate_output = bool(separate_output)
        self.seed = int(seed)
        scale = 0.5 / self.dim
        self.item_embedding = keras.layers.Embedding(
            self.n_items,
            self.dim,
            embeddings_initializer=keras.initializers.RandomUniform(-scale, scale, seed=seed),
            name="item_embedding",
        )
        self.target_bias = keras.layers.Embedding(
            self.n_items, 1, embeddings_initializer="zeros", name="target_bias"
        )
        self.output_embedding = (
            keras.layers.Embedding(
                self.n_items, self.dim, embeddings_initializer="zeros", name="output_embedding"
            )
            if self.separate_output
            else None
        )
        self.item_embedding.build((None,))
        self.target_bias.build((None,))
        if self.output_embedding is not None:
            self.output_embedding.build((None,))

    # ------------------------------------------------------------------ tables
    @property
    def E(self) -> tf.Variable:  # noqa: N802 - the paper's name
        """The shared item table (n_items, dim) as the backing ``tf.Variable``."""
        return self.item_embedding.embeddings.value

    @property
    def E_out(self) -> tf.Variable:  # noqa: N802
        """Table read by the target slot: ``E`` unless ``separate_output``."""
        if self.output_embedding is None:
            return self.E
        return self.output_embedding.embeddings.value

    @property
    def b(self) -> tf.Variable:
        """The target bias (n_items, 1)."""
        return self.target_bias.embeddings.value

    # ------------------------------------------------------------------ scoring
    def call(self, inputs: dict[str, tf.Tensor]) -> tf.Tensor:
        context = tf.convert_to_tensor(inputs["context"])  # (B,)
        target = tf.convert_to_tensor(inputs["target"])  # (B,)
        ec = self.item_embedding(context)  # (B, D)
        table = self.output_embedding or self.item_embedding
        et = table(target)  # (B, D)
        bt = self.target_bias(target)[..., 0]  # (B,)
        return tf.reduce_sum(ec * et, axis=-1) + bt  # (B,)

    def unit_logits(self, contexts: tf.Tensor, candidates: tf.Tensor) -> tf.Tensor:
        """Logits of window units; see the module docstring for shapes.

        ``contexts`` (U, C) int with -1 padding; ``candidates`` (U, 1+K) int.
        """
        mask = tf.cast(contexts >= 0, tf.float32)  # (U, C)
        ec = tf.gather(self.E, tf.maximum(contexts, 0))  # (U, C, D)
        et = tf.gather(self.E_out, candidates)  # (U, 1+K, D)
        bt = tf.gather(self.b[:, 0], candidates)  # (U, 1+K)
        if self.mode == "cbow":
            n = tf.maximum(tf.reduce_sum(mask, axis=1, keepdims=True), 1.0)  # (U, 1)
            h = tf.reduce_sum(ec * mask[..., None], axis=1) / n  # (U, D)
            return tf.einsum("ud,ukd->uk", h, et) + bt  # (U, 1+K)
        return tf.einsum("ucd,ukd->uck", ec, et) + bt[:, None, :]  # (U, C, 1+K)

    def get_config(self) -> dict[str, Any]:
        return {
            "n_items": self.n_items,
            "dim": self.dim,
            "mode": self.mode,
            "separate_output": self.separate_output,
            "seed": self.seed,
            "name": self.name,
        }


def unit_loss_and_grads(
    model: Item2VecModel,
    contexts: tf.Tensor,
    targets: tf.Tensor,
    negatives: tf.Tensor,
    scale: tf.Tensor | float = 1.0,
    loss_units: int | None = None,
    block: int = 1,
) -> tuple[tf.Tensor, list[tuple[tf.Variable, tf.IndexedSlices]]]:
    """Summed sigmoid cross-entropy of a batch of units and its sparse gradients.

    ``contexts`` (U, C) int with -1 padding, ``targets`` (U,), ``negatives`` (U / block, K):
    each row of negatives is shared by ``block`` consecutive units (``U`` a multiple of
    ``block``). With ``block=1`` every unit has its own ``K`` negatives, as in the module
    docstring. With ``block=M`` a block of ``M`` units is scored against one candidate list
    ``[target_0, ..., target_{M-1}, neg_0, ..., neg_{K-1}]``: each context of unit ``m``
    scores its own target (label 1) and the ``K`` negatives (label 0), never the other
    units' targets, and a negative equal to unit ``m``'s target is masked for that unit.
    Each context still meets ``K`` negatives from the same noise distribution (the couples
    of ``block=1`` one by one; the draws are shared, so correlated within a block); the
    gathered rows per unit fall from ``C + 1 + K`` to ``C + 1 + K / M``, the products grow
    from ``1 + K`` to ``M + K`` columns. A unit without a real context gets no gradient
    (padding: its target may be ``-1``, read as row 0).

    Gradients are written out by hand (they are two batched matrix products) rather than
    taken with a tape: every update stays an ``IndexedSlices`` over the rows that were read,
    and ``scale`` (e.g. the learning rate) multiplies the small logit gradient rather than
    the ``(rows, D)`` updates. ``tests/test_model.py`` checks them against
    ``tf.GradientTape`` on :meth:`Item2VecModel.unit_logits` and on a couple-by-couple
    loss for blocks.

    Returns the loss (sum over real couples; over the first ``loss_units`` units only if
    given: the trainer reports a loss estimated that way, as the transcendental functions
    of the full loss cost 8% of a step) and ``[(variable, IndexedSlices), ...]`` times
    ``scale``: the context rows in the order of ``contexts`` flattened, the candidate rows
    in block order (``[targets of the block, its negatives]`` per block). A variable may
    appear more than once (the shared table gets one entry for the context rows and one
    for the candidate rows); apply every entry.
    """
    m = block
    units = tf.shape(contexts)[0]
    n_ctx = tf.shape(contexts)[1]
    own = targets if m == 1 else tf.maximum(targets, 0)  # blocks are padded with -1 units
    candidates = tf.concat([tf.reshape(own, [-1, m]), negatives], axis=1)  # (B, M+K)
    mask = tf.cast(contexts >= 0, tf.float32)  # (U, C)
    safe_ctx = tf.maximum(contexts, 0)
    ec = tf.gather(model.E, safe_ctx)  # (U, C, D)
    et = tf.gather(model.E_out, candidates)  # (B, M+K, D)
    bt = tf.gather(tf.reshape(model.b, [-1]), candidates)  # (B, M+K); 4x faster than (n, 1)
    width = tf.shape(candidates)[1]
    dim = tf.shape(ec)[-1]
    few = (lambda t: t) if loss_units is None else (lambda t: t[: loss_units // m])  # noqa: E731
    if model.mode == "cbow":
        n = tf.maximum(tf.reduce_sum(mask, axis=1, keepdims=True), 1.0)  # (U, 1)
        h = tf.reduce_sum(ec * mask[..., None], axis=1) / n  # (U, D)
        per_unit = 1  # scored rows per unit: the context mean
        real = tf.cast(tf.reduce_any(contexts >= 0, axis=1, keepdims=True), tf.float32)
        rows = tf.reshape(h, [-1, m, dim])  # (B, M, D)
    else:
        per_unit = n_ctx  # each context
        real = mask  # (U, C)
        rows = tf.reshape(ec, [-1, m * n_ctx, dim])  # (B, X = M*C, D)
    # einsum measured 25% faster here than matmul(..., transpose_b=True) on CPU
    logits = tf.einsum("bxd,byd->bxy", rows, et) + bt[:, None, :]  # (B, X, M+K)
    labels = tf.one_hot(tf.range(tf.shape(rows)[1]) // per_unit, width)  # (X, M+K): own target
    if m > 1:
        # per unit: its own target, and the negatives but one equal to its target; never the
        # other units' targets. Then to each of its rows.
        negative = tf.cast(tf.range(width) >= m, tf.float32)  # (M+K,)
        clash = tf.cast(tf.equal(candidates[:, :m, None], candidates[:, None, :]), tf.float32)
        allowed = tf.one_hot(tf.range(m), width) + negative * (1.0 - clash)  # (B, M, M+K)
        weight = tf.reshape(real, [-1, m, per_unit, 1]) * allowed[:, :, None, :]
        weight = tf.reshape(weight, tf.shape(logits))  # (B, X, M+K)
    else:
        weight = real[..., None]  # (U, X = C or 1, 1)
    # sigmoid cross-entropy summed over couples: softplus(x) - x * label
    x, w = few(logits), few(weight)
    loss = tf.reduce_sum((tf.nn.softplus(x) - x * labels) * w)
    g = (tf.sigmoid(logits) - labels) * (weight * scale)  # (B, X, M+K)
    d_rows = tf.matmul(g, et)  # (B, X, D)
    d_et = tf.matmul(g, rows, transpose_a=True)  # (B, M+K, D)
    d_b = tf.reduce_sum(g, axis=1)  # (B, M+K)
    if model.mode == "cbow":
        d_h = tf.reshape(d_rows, [units, dim])
        d_ec = (d_h / n)[:, None, :] * mask[..., None]  # (U, C, D)
    else:
        d_ec = d_rows
    return loss, _row_gradients(model, d_ec, safe_ctx, d_et, d_b, candidates)


def _row_gradients(
    model: Item2VecModel, d_in: tf.Tensor, rows: tf.Tensor, d_out: tf.Tensor, d_b: tf.Tensor,
    candidates: tf.Tensor,
) -> list[tuple[tf.Variable, tf.IndexedSlices]]:  # fmt: skip
    """``[(E, input rows), (E_out, candidate rows), (b, candidate rows)]`` as
    ``IndexedSlices``: ``d_in`` (..., D) at ``rows``, ``d_out`` (..., D) and ``d_b`` at
    ``candidates``, each flattened in order."""
    dim = tf.shape(d_in)[-1]
    flat_in, flat_cand = tf.reshape(rows, [-1]), tf.reshape(candidates, [-1])
    return [
        (model.E, tf.IndexedSlices(tf.reshape(d_in, [-1, dim]), flat_in, tf.shape(model.E))),
        (
            model.E_out,
            tf.IndexedSlices(tf.reshape(d_out, [-1, dim]), flat_cand, tf.shape(model.E_out)),
        ),
        (model.b, tf.IndexedSlices(tf.reshape(d_b, [-1, 1]), flat_cand, tf.shape(model.b))),
    ]


def span_context_mask(spans: tf.Tensor, targets: tf.Tensor, radii: tf.Tensor) -> tf.Tensor:
    """Which slots of each span are contexts of which of its targets: ``(B, M, S)`` float32,
    1 where ``1 <= |s - (W + m)| <= radii[b, m]``, ``spans[b, s] >= 0`` and
    ``targets[b, m] >= 0`` (``W = (S - M) / 2``), for ``spans`` (B, S), ``targets`` and
    ``radii`` (B, M) (see :class:`~item2vec.sampling.units.Spans`). Its sum is the batch's positive
    couples."""
    s, m = tf.shape(spans)[1], tf.shape(targets)[1]
    centre = (s - m) // 2 + tf.range(m)  # slot of each target
    dist = tf.abs(tf.range(s)[None, :] - centre[:, None])  # (M, S)
    # products of 0/1 floats rather than logical ands: oneDNN logs an error for DT_BOOL ops
    within = tf.cast(dist[None] <= tf.cast(radii, tf.int32)[:, :, None], tf.float32)
    other = tf.cast(dist >= 1, tf.float32)[None]  # not the target itself
    real = tf.cast(spans >= 0, tf.float32)[:, None, :]
    real *= tf.cast(targets >= 0, tf.float32)[..., None]
    return within * other * real


def span_loss_and_grads(
    model: Item2VecModel,
    spans: tf.Tensor,
    targets: tf.Tensor,
    radii: tf.Tensor,
    negatives: tf.Tensor,
    k: int,
    scale: tf.Tensor | float = 1.0,
    loss_blocks: int | None = None,
) -> tuple[tf.Tensor, list[tuple[tf.Variable, tf.IndexedSlices]]]:
    """Summed sigmoid cross-entropy of a batch of spans (skip-gram) and its sparse gradients.

    ``spans`` (B, S), ``targets`` and ``radii`` (B, M), ``negatives`` (B, P) as in
    :class:`~item2vec.sampling.units.Spans` (``M`` and ``P`` static). Target ``m`` meets the first
    ``k`` entries of its block's pool, in the order of :func:`~item2vec.sampling.units.pool_order`,
    that differ from ``targets[b, m]`` (fewer only if more than ``P - k`` entries equal it):
    independent draws from the noise distribution, those equal to the target rejected, as
    word2vec draws them. Each couple (context slot ``s`` of target ``m``,
    :func:`span_context_mask`) is scored as in the module docstring against target ``m``
    (label 1) and the negatives ``m`` meets (label 0): the couples of the same window units
    in the unit layout, their losses summed. A slot in several couples is scored once per
    candidate; its logit's weight is the number of its couples that meet that candidate.

    Returns the loss (over the first ``loss_blocks`` blocks if given) and the gradients
    times ``scale`` as :func:`unit_loss_and_grads` returns them: the span rows in the order
    of ``spans`` flattened (-1 read as row 0, with zero gradient), the candidate rows
    ``[targets of the block, its negatives]`` per block; apply every entry.
    """
    ctx = span_context_mask(spans, targets, radii)  # (B, M, S)
    m, p = int(targets.shape[-1]), int(negatives.shape[-1])
    own = tf.maximum(targets, 0)
    candidates = tf.concat([own, negatives], axis=1)  # (B, M + P)
    rows_in = tf.maximum(spans, 0)
    es = tf.gather(model.E, rows_in)  # (B, S, D)
    et = tf.gather(model.E_out, candidates)  # (B, M + P, D)
    bt = tf.gather(tf.reshape(model.b, [-1]), candidates)  # (B, M + P)
    logits = tf.einsum("bsd,bcd->bsc", es, et) + bt[:, None, :]  # (B, S, M + P)
    positive = tf.transpose(ctx, [0, 2, 1])  # (B, S, M): slot s a context of target m
    weight, labels = [positive], [positive]
    if p:
        order = pool_order(k, m)  # (M, P): the pool entry each target reads j-th
        read = tf.gather(negatives, tf.reshape(order, [-1]), axis=1)  # (B, M * P)
        other = tf.cast(tf.reshape(read, [-1, m, p]) != targets[:, :, None], tf.float32)
        taken = other * tf.cast(tf.cumsum(other, axis=2) <= k, tf.float32)  # first k others
        back = tf.constant(np.eye(p, dtype=np.float32)[order])  # (M, P, P): j-th -> entry
        meets = tf.einsum("bmj,mjq->bmq", taken, back)  # (B, M, P)
        weight.append(tf.matmul(positive, meets))  # (B, S, P): couples meeting each entry
        labels.append(tf.zeros_like(logits[:, :, m:]))
    weight, labels = tf.concat(weight, axis=2), tf.concat(labels, axis=2)  # (B, S, M + P)
    few = (lambda t: t) if loss_blocks is None else (lambda t: t[:loss_blocks])  # noqa: E731
    x = few(logits)
    loss = tf.reduce_sum((tf.nn.softplus(x) - x * few(labels)) * few(weight))
    g = (tf.sigmoid(logits) - labels) * (weight * scale)  # (B, S, M + P)
    d_es = tf.matmul(g, et)  # (B, S, D)
    d_et = tf.matmul(g, es, transpose_a=True)  # (B, M + P, D)
    d_b = tf.reduce_sum(g, axis=1)  # (B, M + P)
    return loss, _row_gradients(model, d_es, rows_in, d_et, d_b, candidates)
