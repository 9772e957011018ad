"""The compiled step of multi-worker training: one ``tf.function`` around ``strategy.run``.

:class:`DistributedStep` computes each worker's loss and sparse gradients, packs them into
one ``IndexedSlices`` over the virtual table ``[E; E_out]`` with a bias column, sums them
across workers (:func:`all_gather_rows`, or a dense all-reduce: :func:`choose_aggregation`)
and applies the same update on every worker (the method is described in
:mod:`item2vec.distributed.trainer`).
"""

from __future__ import annotations

from typing import Any

from ..config import Config
from ..exceptions import ParameterError

__all__ = [
    "AGGREGATIONS",
    "DENSE_MAX_VALUES",
    "DistributedStep",
    "all_gather_rows",
    "choose_aggregation",
]

AGGREGATIONS = ("auto", "sparse", "dense")
"""How the workers sum their row gradients (see :func:`choose_aggregation`)."""
#: ``aggregation="auto"`` densifies tables of at most this many values (rows * (dim + 1)):
#: on 2 workers dense was 1.1-1.9x faster at 1k items x 64 dims, 1.2x at 10k, 1.4-2x slower at
#: 89k (docs/scaling.md).
DENSE_MAX_VALUES = 1 << 20


def choose_aggregation(aggregation: str, n_items: int, dim: int, separate_output: bool) -> str:
    """``"sparse"`` or ``"dense"``: what ``"auto"`` means for a table of this size."""
    if aggregation not in AGGREGATIONS:
        raise ParameterError(
            f"aggregation must be one of {', '.join(AGGREGATIONS)}, got {aggregation!r}"
        )
    if aggregation != "auto":
        return aggregation
    rows = n_items * (2 if separate_output else 1)
    return "dense" if rows * (dim + 1) <= DENSE_MAX_VALUES else "sparse"


class DistributedStep:
    """The compiled distributed step (one ``tf.function`` around ``strategy.run``)."""

    def __init__(
        self, strategy: Any, model: Any, config: Config, aggregation: str, total_steps: int
    ) -> None:
        import tensorflow as tf

        from ..training.updates import LinearDecay, new_accumulators

        self.strategy, self.model, self.config = strategy, model, config
        self.aggregation = aggregation
        self.total_steps = total_steps
        self.schedule = LinearDecay(config.learning_rate, config.min_learning_rate, total_steps)
        n = model.n_items
        sep = model.output_embedding is not None
        self.tables = [model.E, model.E_out, model.b] if sep else [model.E, model.b]
        self.n_rows = n * (2 if sep else 1)  # rows of the packed virtual table
        self.accumulators: list[Any] = []
        if config.optimizer == "adagrad":
            with strategy.scope():
                self.accumulators = new_accumulators(self.tables)
        self.run = tf.function(self._run)

    def learning_rate(self, step: Any) -> Any:
        """Linear decay to the floor over the run's global steps, float32: the schedule of
        :meth:`item2vec.training.train.Trainer.learning_rate`
        (:class:`~item2vec.training.updates.LinearDecay`)."""
        return self.schedule.tensor(step)

    def _run(self, iterator: Any, step: Any) -> tuple[Any, Any, Any]:
        """One step: summed ``[loss, couples]`` of all workers, 1, and the units of this
        worker's own batch (0 once its shard is used up); or zeros at the end of the epoch.

        ``get_next_as_optional`` agrees across workers (an all-reduce of who has data), so
        every worker sees the end at the same step. One step per call, not a ``tf.range``
        loop: inside a while loop a collective keeps the shapes of its first iteration,
        and the gathered rows change size every step."""
        import tensorflow as tf

        totals, done = tf.zeros([2], tf.float32), tf.constant(0, tf.int64)
        mine = tf.constant(0, tf.int32)
        batch = iterator.get_next_as_optional()
        if batch.has_value():
            out = self.strategy.run(
                self._replica, args=(*batch.get_value(), self.learning_rate(step))
            )
            local = self.strategy.experimental_local_results
            totals, done, mine = local(out[0])[0], done + 1, local(out[1])[0]
        return totals, done, mine

    def _pack(self, grads: list) -> tuple[Any, Any]:
        """One IndexedSlices over the virtual table ``[E; E_out]`` with a bias column.

        ``grads`` may name a table more than once (context and target rows of ``E``). The
        bias shares the target rows' indices, so it becomes their last column; a gradient
        over other indices gets zeros in the columns it does not touch."""
        import tensorflow as tf

        m = self.model
        n, dim, sep = m.n_items, m.dim, m.output_embedding is not None
        bias = next(g for var, g in grads if var is m.b)
        values, indices, bias_used = [], [], False
        for var, g in grads:
            if var is m.b:
                continue
            if g.indices is bias.indices and not bias_used:  # same rows: side by side
                values.append(tf.concat([g.values, bias.values], 1))
                bias_used = True
            else:
                values.append(tf.pad(g.values, [[0, 0], [0, 1]]))
            indices.append(g.indices + (n if sep and var is m.E_out else 0))
        if not bias_used:
            values.append(tf.pad(bias.values, [[0, 0], [dim, 0]]))
            indices.append(bias.indices + (n if sep else 0))
        return tf.concat(values, 0), tf.concat(indices, 0)

    def _replica(self, contexts: Any, targets: Any, negatives: Any, lr: Any) -> Any:
        import tensorflow as tf

        from ..training.model import unit_loss_and_grads
        from ..training.updates import dedupe_rows, gradient_scale

        rc = tf.distribute.get_replica_context()
        scale = gradient_scale(bool(self.accumulators), lr)  # SGD: lr in the gradients
        loss, grads = unit_loss_and_grads(self.model, contexts, targets, negatives, scale)
        values, indices = self._pack(grads)
        if self.aggregation == "dense":
            local = tf.math.unsorted_segment_sum(values, indices, self.n_rows)
            total = rc.all_reduce(tf.distribute.ReduceOp.SUM, local)
            rows = tf.cast(tf.where(tf.reduce_any(total != 0, axis=1))[:, 0], tf.int32)
            vals = tf.gather(total, rows)
        else:
            rows, vals = dedupe_rows(values, indices)
            rows, vals = dedupe_rows(*all_gather_rows(rc, vals, rows))
        self._apply(rows, vals, lr)
        couples = tf.reduce_sum(tf.cast(contexts >= 0, tf.float32))
        sums = rc.all_reduce(tf.distribute.ReduceOp.SUM, tf.stack([loss, couples]))
        return sums, tf.shape(targets)[0]

    def _apply(self, rows: Any, vals: Any, lr: Any) -> None:
        """Update each table from the packed, deduplicated rows (the same on every worker)."""
        import tensorflow as tf

        from ..training.updates import adagrad_rows, sgd_rows

        n, dim = self.model.n_items, self.model.dim
        sep = len(self.tables) == 3
        if sep:
            out = rows >= n
            parts = [(0, rows, vals[:, :dim], ~out), (1, rows - n, vals[:, :dim], out),
                     (2, rows - n, vals[:, dim:], out)]  # fmt: skip
        else:
            parts = [(0, rows, vals[:, :dim], None), (1, rows, vals[:, dim:], None)]
        for k, r, v, mask in parts:
            if mask is not None:
                r, v = tf.boolean_mask(r, mask), tf.boolean_mask(v, mask)
            if self.accumulators:  # row-wise Adagrad, as in Trainer
                adagrad_rows(self.tables[k], self.accumulators[k], r, v, lr)
            else:
                sgd_rows(self.tables[k], r, v)


def all_gather_rows(rc: Any, values: Any, indices: Any) -> tuple[Any, Any]:
    """Every worker's rows, in worker order: lengths first, then values and indices padded
    to the longest (an all-gather needs one shape everywhere), padding dropped after."""
    import tensorflow as tf

    lengths = rc.all_gather(tf.shape(indices)[:1], axis=0)  # (n_workers,)
    pad = tf.reduce_max(lengths) - tf.shape(indices)[0]
    values = rc.all_gather(tf.pad(values, [[0, pad], [0, 0]]), axis=0)
    indices = rc.all_gather(tf.pad(indices, [[0, pad]], constant_values=-1), axis=0)
    real = indices >= 0
    return tf.boolean_mask(values, real), tf.boolean_mask(indices, real)
