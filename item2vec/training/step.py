"""The single-process trainer's compiled step: a group of batches in one graph call.

``step(tables, accumulators, contexts (G, U, C), targets (G, U), negatives (G, U / M, K),
lr (G,))`` (int32 rows; int64 for a GPU, see :func:`compiled_step`) runs the ``G`` batches
of a group (see :mod:`item2vec.sampling.feed`) in a ``tf.while_loop``: for each batch
:func:`~item2vec.training.model.unit_loss_and_grads` (or, for a step built with ``spans``, taking
``spans (G, B, S), targets (G, B, M), radii (G, B, M), negatives (G, B, P)`` before ``lr``:
:func:`~item2vec.training.model.span_loss_and_grads`) and the update rules of
:mod:`item2vec.training.updates` (SGD, or row-wise Adagrad when accumulators are given;
each gradient row times its item's rate when ``rates`` (n, 1) are given: an update of a
trained model, see :mod:`item2vec.training.incremental`), each row of negatives shared by a
block of ``M`` units.
It returns ``(loss, scored, couples)``: the loss summed over the first :data:`LOSS_UNITS`
units of each batch, the couples it was summed over, and all real couples. A step built with
``sorted_rows`` (dense SGD on the CPU) takes four more arrays after ``lr``, each batch's
rows in sorted order (:func:`~item2vec.sampling.feed.update_orders`), and sums the row gradients
over them.

The graph takes the tables as arguments, so it is traced once per settings, table
shapes and device and shared by every trainer that matches (:func:`compiled_step`). Given a
``device`` (``"/CPU:0"``, ``"/GPU:0"``) its ops are placed there in the graph itself, so a
call from any thread runs there; the tables should live there too.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf

from ..sampling.units import pool_size
from .model import span_context_mask, span_loss_and_grads, unit_loss_and_grads
from .updates import apply_adagrad, apply_sgd, gradient_scale, scale_rows

#: The reported loss is summed over the first this many units of each batch (shuffled, so
#: an unbiased estimate); the full loss's softplus costs 8% of a step.
LOSS_UNITS = 512

StepFn = Callable[..., tuple[tf.Tensor, ...]]
"""``step(contexts, targets, negatives, lr, *orders) -> (loss, scored, couples)`` for one
group (``spans, targets, radii, negatives`` before ``lr`` for a step over spans; ``orders``:
those of :func:`~item2vec.sampling.feed.update_orders`, for a ``sorted_rows`` step)."""

#: Compiled steps by settings and table shapes (see :func:`compiled_step`), newest last.
_STEPS: OrderedDict[tuple, Any] = OrderedDict()
_STEPS_KEPT = 16
_STEPS_LOCK = threading.Lock()


class TableView:
    """The attributes of :class:`~item2vec.training.model.Item2VecModel` that
    :func:`~item2vec.training.model.unit_loss_and_grads` reads, over the step's table arguments.

    ``tables`` is ``(E, b)`` or ``(E, E_out, b)``: ``E`` (n, D), ``E_out`` (n, D), ``b``
    (n, 1).
    """

    def __init__(self, tables: Sequence[tf.Variable], mode: str) -> None:
        self.variables = tuple(tables)
        self.E, self.b = tables[0], tables[-1]
        self.E_out = tables[1] if len(tables) == 3 else tables[0]
        self.mode = mode


def bind_step(
    tables: Sequence[tf.Variable],
    accumulators: Sequence[tf.Variable],
    *,
    mode: str,
    negatives: int,
    dense: bool,
    rates: tf.Variable | None = None,
    device: str = "",
    indices: tf.DType = tf.int32,
    sorted_rows: bool = False,
    block: int = 1,
    spans: bool = False,
) -> StepFn:
    """The compiled step (:func:`compiled_step`) bound to these tables and accumulators
    (and the per-row ``rates`` (n, 1) float32 of an update, if any), its ops on ``device``
    (``""``: TensorFlow's default placement), taking rows of dtype ``indices``. With
    ``sorted_rows`` the step takes the four arrays of
    :func:`~item2vec.sampling.feed.update_orders` after ``lr``; each row of its negatives is shared
    by ``block`` units, or with ``spans`` it takes groups of spans of ``block`` targets."""
    tables, accumulators = tuple(tables), tuple(accumulators)
    extra = () if rates is None else (rates,)
    concrete = compiled_step(
        tables, accumulators, mode=mode, negatives=negatives, dense=dense, rates=extra,
        device=device, indices=indices, sorted_rows=sorted_rows, block=block, spans=spans,
    )  # fmt: skip

    def step(*arrays):
        return concrete(tables, accumulators, extra, *arrays)

    return step


def compiled_step(
    tables: tuple[tf.Variable, ...],
    accumulators: tuple[tf.Variable, ...],
    *,
    mode: str,
    negatives: int,
    dense: bool,
    rates: tuple[tf.Variable, ...] = (),
    device: str = "",
    indices: tf.DType = tf.int32,
    sorted_rows: bool = False,
    block: int = 1,
    spans: bool = False,
) -> Callable:
    """The step graph for tables of these shapes on ``device``, traced once and kept (the
    last ``_STEPS_KEPT`` shapes, settings and devices).

    ``tables`` is ``(E, b)`` or ``(E, E_out, b)``; ``accumulators`` are Adagrad's (empty
    for SGD); ``rates`` is ``()`` or the ``(n, 1)`` per-row rates of an update. The graph
    takes them as arguments, so any variables of the same shapes can be trained with it.
    ``device`` (``"/CPU:0"``, ``"/GPU:0"``, or ``""`` for TensorFlow's default placement)
    is written into the graph's ops: the inputs are copied there if they live elsewhere.
    ``indices`` is the dtype of the rows fed in (contexts, targets, negatives): int32, or
    int64 on a GPU, where TensorFlow keeps int32 tensors in host memory (slicing a batch
    out of its group would copy it back and forth).
    ``sorted_rows``: the dense SGD update sums row gradients over sorted rows, given as
    four more int32 inputs (G, R) after the learning rate
    (:func:`~item2vec.sampling.feed.update_orders`).
    ``block``: units per row of negatives (:func:`~item2vec.training.model.unit_loss_and_grads`),
    or with ``spans`` targets per span (:func:`~item2vec.training.model.span_loss_and_grads`: the
    group is ``spans, targets, radii, negatives`` and its negatives ``(G, B, P)``, ``P`` =
    :func:`~item2vec.sampling.units.pool_size`). Tracing and graph optimisation cost 0.1-0.3 s per
    new function, about 5% of a 10-epoch fit on Online Retail.
    """
    key = (
        mode, negatives, dense, LOSS_UNITS, len(tables), len(accumulators), len(rates),
        tuple(tuple(v.shape) for v in tables + accumulators + rates), device, indices.name,
        sorted_rows, block, spans,
    )  # fmt: skip
    with _STEPS_LOCK:
        if key in _STEPS:
            _STEPS.move_to_end(key)
            return _STEPS[key]
    fn = _step_function(mode, dense, device, block, negatives if spans else None)
    orders = [tf.TensorSpec([None, None], tf.int32)] * (4 if sorted_rows else 0)
    if spans:
        arrays = [
            tf.TensorSpec([None, None, None], indices),  # spans (G, B, S)
            tf.TensorSpec([None, None, block], indices),  # targets (G, B, M)
            tf.TensorSpec([None, None, block], indices),  # radii (G, B, M)
            tf.TensorSpec([None, None, pool_size(negatives, block)], indices),  # (G, B, P)
        ]
    else:
        arrays = [
            tf.TensorSpec([None, None, None], indices),  # contexts (G, U, C)
            tf.TensorSpec([None, None], indices),  # targets (G, U)
            tf.TensorSpec([None, None, negatives], indices),  # negatives (G, U / block, K)
        ]
    concrete = fn.get_concrete_function(
        tables,
        accumulators,
        rates,
        *arrays,
        tf.TensorSpec([None], tf.float32),  # learning rate of each batch (G,)
        # ctx_perm, ctx_rows (G, U*C or B*S), cand_perm, cand_rows (G, U + U/M*K or B*(M+P))
        *orders,
    )
    with _STEPS_LOCK:
        _STEPS[key] = concrete
        while len(_STEPS) > _STEPS_KEPT:
            _STEPS.popitem(last=False)
    return concrete


def _step_function(
    mode: str, dense: bool, device: str = "", block: int = 1, span_negatives: int | None = None
) -> Any:
    """The ``tf.function`` behind :func:`compiled_step`: SGD (plain, with the learning
    rate in the logit gradient) or row-wise Adagrad when accumulators are given; its ops on
    ``device`` when one is given (a device scope in the body: the one around a call or a
    trace would not be kept in the graph). ``span_negatives`` (the negatives each target
    meets) makes it a step over spans."""
    spans = span_negatives is not None
    n_arrays = 4 if spans else 3

    def batch(view, accs, rates, arrays, lr, orders):
        scale = gradient_scale(bool(accs), lr)
        if spans:
            loss, grads = span_loss_and_grads(
                view, *arrays, span_negatives, scale, loss_blocks=LOSS_UNITS // block
            )
        else:
            loss, grads = unit_loss_and_grads(
                view, *arrays, scale, loss_units=LOSS_UNITS, block=block
            )
        if rates:
            grads = scale_rows(grads, rates[0])
        if accs:
            apply_adagrad(grads, view.variables, accs, lr)
        else:
            apply_sgd(grads, view.b, dense, orders)
        return loss

    def couples(arrays):
        """(scored, all): real couples of the first LOSS_UNITS units and of all (G, ...)."""
        if spans:
            s, t, r = (tf.reshape(a, [-1, tf.shape(a)[-1]]) for a in arrays[:3])
            per_block = tf.reshape(tf.reduce_sum(span_context_mask(s, t, r), [1, 2]),
                                   tf.shape(arrays[1])[:2])  # fmt: skip
            return tf.reduce_sum(per_block[:, : LOSS_UNITS // block]), tf.reduce_sum(per_block)
        real = tf.cast(arrays[0] >= 0, tf.int32)
        return tf.reduce_sum(real[:, :LOSS_UNITS]), tf.reduce_sum(real)

    # an explicit while_loop, not autograph: tracing must not depend on reading this
    # file's source (autograph falls back to plain Python when it cannot)
    @tf.function(autograph=False)
    def step(tables, accs, rates, *inputs):
        view = TableView(tables, mode)
        arrays, lr, orders = inputs[:n_arrays], inputs[n_arrays], inputs[n_arrays + 1 :]

        def body(i, loss):
            pairs = [(orders[j][i], orders[j + 1][i]) for j in range(0, len(orders), 2)]
            return i + 1, loss + batch(view, accs, rates, [a[i] for a in arrays], lr[i], pairs)

        with tf.device(device) if device else contextlib.nullcontext():
            n = tf.shape(arrays[0])[0]
            start = (tf.constant(0), tf.constant(0.0))
            _, loss = tf.while_loop(lambda i, _: i < n, body, start)
            scored, total = couples(arrays)
            return loss, tf.cast(scored, tf.int32), tf.cast(total, tf.int32)

    return step
