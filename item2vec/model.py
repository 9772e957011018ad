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
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from .checks import MODES

__all__ = ["MODES", "Item2VecModel", "unit_loss_and_grads"]


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
) -> tuple[tf.Tensor, list[tuple[tf.Variable, tf.IndexedSlices]]]:
    """Summed sigmoid cross-entropy of a batch of units and its sparse gradients.

    Gradients are written out by hand (they are two batched matrix products) rather than
    taken with a tape: every update stays an ``IndexedSlices`` over the rows that were read,
    and ``scale`` (e.g. the learning rate) multiplies the small ``(U, C, 1+K)`` logit
    gradient rather than the ``(rows, D)`` updates. ``tests/test_model.py`` checks them
    against ``tf.GradientTape`` on :meth:`Item2VecModel.unit_logits`.

    Returns the loss (sum over real couples; over the first ``loss_units`` units only if
    given: the trainer reports a loss estimated that way, as the transcendental functions
    of the full loss cost 8% of a step) and ``[(variable, IndexedSlices), ...]`` times
    ``scale``. A variable may appear more than once (the shared table gets one entry for the
    context rows and one for the target rows); apply every entry.
    """
    candidates = tf.concat([targets[:, None], negatives], axis=1)  # (U, 1+K)
    mask = tf.cast(contexts >= 0, tf.float32)  # (U, C)
    safe_ctx = tf.maximum(contexts, 0)
    ec = tf.gather(model.E, safe_ctx)  # (U, C, D)
    et = tf.gather(model.E_out, candidates)  # (U, 1+K, D)
    bt = tf.gather(tf.reshape(model.b, [-1]), candidates)  # (U, 1+K); 4x faster than (n, 1)
    k1 = tf.shape(candidates)[1]
    labels = tf.one_hot(tf.zeros_like(targets), k1)  # (U, 1+K): column 0 is the positive
    dim = tf.shape(ec)[-1]
    # sigmoid cross-entropy summed over couples: softplus(x) - x * label
    few = (lambda t: t) if loss_units is None else (lambda t: t[:loss_units])  # noqa: E731
    if model.mode == "cbow":
        n = tf.maximum(tf.reduce_sum(mask, axis=1, keepdims=True), 1.0)  # (U, 1)
        h = tf.reduce_sum(ec * mask[..., None], axis=1) / n  # (U, D)
        logits = tf.einsum("ud,ukd->uk", h, et) + bt  # (U, 1+K)
        loss = tf.reduce_sum(tf.nn.softplus(few(logits))) - tf.reduce_sum(few(logits)[:, 0])
        g = (tf.sigmoid(logits) - labels) * scale  # (U, 1+K)
        d_h = tf.einsum("uk,ukd->ud", g, et)  # (U, D)
        d_ec = (d_h / n)[:, None, :] * mask[..., None]  # (U, C, D)
        d_et = g[..., None] * h[:, None, :]  # (U, 1+K, D)
        d_b = g  # (U, 1+K)
    else:
        # einsum measured 25% faster here than matmul(..., transpose_b=True) on CPU
        logits = tf.einsum("ucd,ukd->uck", ec, et) + bt[:, None, :]  # (U, C, 1+K)
        x, m = few(logits), few(mask)
        loss = tf.reduce_sum(tf.reduce_sum(tf.nn.softplus(x), -1) * m) - tf.reduce_sum(
            x[..., 0] * m
        )
        g = (tf.sigmoid(logits) - labels[:, None, :]) * (mask * scale)[..., None]  # (U, C, 1+K)
        d_ec = tf.matmul(g, et)  # (U, C, D)
        d_et = tf.matmul(g, ec, transpose_a=True)  # (U, 1+K, D)
        d_b = tf.reduce_sum(g, axis=1)  # (U, 1+K)
    flat_ctx = tf.reshape(safe_ctx, [-1])
    flat_cand = tf.reshape(candidates, [-1])
    return loss, [
        (model.E, tf.IndexedSlices(tf.reshape(d_ec, [-1, dim]), flat_ctx, tf.shape(model.E))),
        (
            model.E_out,
            tf.IndexedSlices(tf.reshape(d_et, [-1, dim]), flat_cand, tf.shape(model.E_out)),
        ),
        (model.b, tf.IndexedSlices(tf.reshape(d_b, [-1, 1]), flat_cand, tf.shape(model.b))),
    ]
