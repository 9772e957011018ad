"""The training loop: the streaming sampler on a prefetching thread, a compiled sparse step,
word2vec's LR decay.

A step computes the summed sigmoid cross-entropy of a batch of window units (targets,
contexts, shared negatives) and its gradients by hand (:func:`unit_loss_and_grads`), and
applies them: plain SGD with word2vec's linear learning-rate decay to a floor by default,
or a row-wise Adagrad. Tables smaller than the rows a batch touches get one dense update
per batch (the row gradients summed with ``unsorted_segment_sum``); larger ones get row
scatters. Batches are re-cut so that each is only as wide as its units' effective windows
(:func:`_width_groups`), and a group of up to :data:`GROUP_UNITS` units runs in one compiled
call. One sampler thread feeds the whole run, so sampling works ahead across epochs.

Like gensim's worker threads, ``workers`` Python threads run groups concurrently on the
shared tables without locks (Hogwild!): TensorFlow releases the GIL inside a call. They are
the parallelism, so each TensorFlow op should get one thread (:func:`configure_threads`).
"""

from __future__ import annotations

import dataclasses
import math
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf

from .config import Config
from .data import Sessions, Vocabulary
from .exceptions import TrainingError
from .model import Item2VecModel, unit_loss_and_grads
from .sampling import keep_probability, stream_units

#: Most window units per compiled call (one element of the feed): a group holds this many
#: units' worth of batches (16 of 2,048). 32k measured best on Online Retail; since epochs
#: overlap (:meth:`Trainer._run`), 64k and 128k measured the same.
GROUP_UNITS = 1 << 15
#: Groups the sampler thread works ahead of the steps (:meth:`Trainer.feed`).
PREFETCH = 8
#: The reported loss is summed over the first this many units of each batch (shuffled, so
#: an unbiased estimate); the full loss's softplus costs 8% of a step.
LOSS_UNITS = 512
#: Bias tables up to this many rows are updated densely (bincount + assign) each step.
DENSE_BIAS_ROWS = 1 << 20


@dataclass
class EpochStats:
    """What one epoch did; ``metrics`` holds optional validation figures (e.g. ``HR@10``).

    ``loss`` is the mean sigmoid cross-entropy per positive couple (with its negatives),
    measured on the first :data:`LOSS_UNITS` units of every batch; ``couples`` counts all
    positive couples trained on.
    """

    epoch: int
    loss: float
    couples: int
    seconds: float
    learning_rate: float
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def couples_per_second(self) -> float:
        return self.couples / self.seconds if self.seconds > 0 else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "loss": self.loss,
            "couples": self.couples,
            "seconds": self.seconds,
            "couples_per_second": self.couples_per_second,
            "learning_rate": self.learning_rate,
            **self.metrics,
        }


@dataclass
class TrainState:
    """Position in the run, enough to resume: the sampler stream of an epoch is a pure
    function of ``(seed, epoch)``, so skipping ``batch_in_epoch`` batches restores it."""

    epoch: int = 0
    batch_in_epoch: int = 0
    global_step: int = 0
    units_done: int = 0  # window units trained on so far: drives the learning-rate decay


@dataclass
class _EpochRun:
    """An epoch in progress in :meth:`Trainer._run`: its groups in flight and its totals."""

    epoch: int
    done: int = 0  # batches done
    pending: int = 0  # groups read and not yet done
    closed: bool = False  # all of its groups have been read
    loss: float = 0.0
    scored: int = 0
    couples: int = 0
    lr: float = 0.0


def configure_threads() -> bool:
    """Give each TensorFlow op one thread, so the trainer's ``workers`` are the parallelism.

    By default TensorFlow splits every op over all cores; with two Hogwild workers on two
    cores that oversubscribes them and training measured about 20% slower on Online Retail.
    The CLI and the test suite call this at start. It must run before TensorFlow executes
    its first op; returns False (and changes nothing) when that is too late or when
    ``TF_NUM_INTRAOP_THREADS`` is set (the user's choice wins).
    """
    import os

    if "TF_NUM_INTRAOP_THREADS" in os.environ:
        return False
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow has already started
        return False
    return True


def expected_units_per_epoch(sessions: Sessions, config: Config) -> float:
    """Expected number of window units (kept events) per epoch, for the LR schedule."""
    keep = keep_probability(sessions.vocabulary.counts, config.sample)
    return float(np.sum(sessions.vocabulary.counts * keep))


class Trainer:
    """Runs epochs of sparse SGD/Adagrad on an :class:`Item2VecModel`.

    Parameters
    ----------
    model, sessions, config : what to train, on what (in-memory :class:`Sessions`, or a
        :class:`~item2vec.corpus.ParquetCorpus` streamed from disk), how.
    on_epoch_end : called with ``(EpochStats)``; may fill ``stats.metrics``.
    on_step : callables called with ``(TrainState)`` after each batch (checkpointing,
        monitoring), in order.
    progress : show a tqdm progress bar with loss and couples/s.
    """

    def __init__(
        self,
        model: Item2VecModel,
        sessions: Sessions,
        config: Config,
        *,
        on_epoch_end: Callable[[EpochStats], None] | None = None,
        on_step: list[Callable[[TrainState], None]] | None = None,
        progress: bool = True,
    ) -> None:
        self.model = model
        self.sessions = sessions
        self.config = config
        self.on_epoch_end = on_epoch_end
        self.on_step = list(on_step or [])
        self.progress = progress
        self.state = TrainState()
        self.history: list[EpochStats] = []
        per_epoch = expected_units_per_epoch(sessions, config)
        self.total_units = max(1.0, per_epoch * config.epochs)
        self.steps_per_epoch = max(1, math.ceil(per_epoch / config.batch_size))
        self._accumulators: list[tf.Variable] = []
        if config.optimizer == "adagrad":
            self._accumulators = [
                tf.Variable(tf.fill([v.shape[0], 1], 0.1), trainable=False)
                for v in self._variables()
            ]
        self._compiled: Callable | None = None  # built by the first step (see fit)
        self._step_fn: Callable = self._step

    # ------------------------------------------------------------------ the step
    def _step(self, *args: tf.Tensor) -> tuple[tf.Tensor, ...]:
        if self._compiled is None:
            self._compiled = self._build_step()
        return self._compiled(*args)

    def _variables(self) -> list[tf.Variable]:
        m = self.model
        tables = [m.E] if m.output_embedding is None else [m.E, m.E_out]
        return [*tables, m.b]

    def _build_step(self) -> Callable:
        """The compiled step for this trainer's tables: ``step(contexts, targets,
        negatives, lr)`` runs a group of G batches, stacked, in one graph call.

        One call per group instead of per batch saves the Python and dispatch overhead of
        a call (about 0.2 ms of a 3 ms batch). Batches of a group share their context width
        (see :func:`_width_groups`). The graph takes the tables as arguments and is shared
        by every trainer with the same settings and table shapes (:func:`_concrete_step`),
        so a new model (each trial of :func:`~item2vec.tune.tune`, each refit) does not
        trace and optimise it again.
        """
        model, c = self.model, self.config
        tables, accs = tuple(self._variables()), tuple(self._accumulators)
        # small tables: sum each batch's row gradients into a dense table-shaped update
        # (unsorted_segment_sum) and subtract it in one pass; measured 10-15% faster than a
        # row scatter while the table is smaller than the rows a batch touches
        dense = model.n_items <= c.batch_size * (1 + c.negatives)
        concrete = _concrete_step(tables, accs, mode=model.mode, negatives=c.negatives, dense=dense)

        def step(contexts, targets, negatives, lr):
            return concrete(tables, accs, contexts, targets, negatives, lr)

        return step

    def learning_rate(self, units_done: int) -> float:
        """Linear decay from ``learning_rate`` to ``min_learning_rate`` over the expected
        number of window units of the run (word2vec decays by words processed)."""
        c = self.config
        frac = min(1.0, units_done / self.total_units)
        return max(c.min_learning_rate, c.learning_rate * (1.0 - frac))

    # ------------------------------------------------------------------ data
    def groups(self, epoch: int, skip: int = 0) -> Iterator[tuple[np.ndarray, ...]]:
        """The epoch's batches as groups of up to ``GROUP_UNITS`` units of one context width:
        ``(contexts (G, U, C), targets (G, U), negatives (G, U, K))``, minus the first
        ``skip`` batches (resuming). A pure function of ``(seed, epoch)``."""
        c = self.config
        kwargs = c.stream_kwargs(epoch)
        # a ParquetCorpus streams itself from disk; in-memory Sessions use the sampler
        own = getattr(self.sessions, "stream_units", None)
        stream = own(**kwargs) if own is not None else stream_units(self.sessions, **kwargs)
        per_group = max(1, GROUP_UNITS // c.batch_size)
        for group in _width_groups(stream, c.window, c.batch_size, per_group):
            n = len(group[1])
            if skip >= n:
                skip -= n
                continue
            yield tuple(a[skip:] for a in group) if skip else group
            skip = 0

    def feed(self, epoch: int, skip: int = 0) -> _Prefetcher:
        """:meth:`groups` of every epoch from ``epoch`` (minus ``skip`` batches) to the last,
        as tensors sampled :data:`PREFETCH` groups ahead on a background thread; an empty
        group (no batches) ends each epoch.

        One feed for the whole run lets sampling of the next epoch run ahead while the
        steps finish this one. It is a thread and a bounded queue rather than
        ``tf.data.Dataset.from_generator``: that cost about 2 ms of CPU per element, and the
        whole fit measured 6.5% slower with it on 2 cores (Online Retail, 10 epochs).
        """
        end = self._empty_group()

        def gen() -> Iterator[tuple[tf.Tensor, ...]]:
            for e in range(epoch, self.config.epochs):
                for group in self.groups(e, skip if e == epoch else 0):
                    yield tuple(tf.constant(a) for a in group)
                yield end

        return _Prefetcher(gen(), PREFETCH)

    def _empty_group(self) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """A group of no batches: the feed's end-of-epoch marker, and the step's warm-up."""
        k = self.config.negatives
        return (
            tf.zeros([0, 0, 0], tf.int32),
            tf.zeros([0, 0], tf.int32),
            tf.zeros([0, 0, k], tf.int32),
        )

    # ------------------------------------------------------------------ loop
    def fit(self, state: TrainState | None = None) -> list[EpochStats]:
        """Train from ``state`` (default: the start) to the last epoch."""
        if state is not None:
            self.state = state
        if self.state.epoch >= self.config.epochs:
            return self.history
        feed = self.feed(self.state.epoch, self.state.batch_in_epoch)
        try:
            # trace and optimise the step (unless a trainer with the same settings and
            # shapes already has) on an empty group while the feed samples the first one
            self._step(*self._empty_group(), tf.zeros([0], tf.float32))
            self._run(feed)
        finally:
            feed.close()
        return self.history

    def _run(self, feed: Iterator) -> None:
        """Run the remaining epochs: ``workers`` threads pull groups from ``feed``.

        The workers live for the whole run, like gensim's job queue: one that reads the end
        of an epoch goes on with the next epoch's groups while the others finish theirs, so
        no core idles at an epoch boundary. An epoch ends when all of its groups are done:
        its stats are recorded, the weights checked and ``on_epoch_end`` called, in epoch
        order, by the worker that finished it (holding the lock, so the others pause at
        their next group). With one worker this is the plain sequential loop.
        ``state.epoch`` is the oldest unfinished epoch and ``state.batch_in_epoch`` its
        batches done, which is what a checkpoint resumes from.
        """
        c = self.config
        lock = threading.Lock()
        errors: list[BaseException] = []
        open_: list[_EpochRun] = []  # unfinished epochs, oldest first
        reading = self.state.epoch  # the epoch whose groups the feed yields
        bar = _progress(self.progress, self.steps_per_epoch * (c.epochs - reading))
        if bar is not None:
            bar.set_description(f"epoch {reading + 1}/{c.epochs}")
        started = time.perf_counter()

        def finish() -> None:
            """End, in order, the epochs whose groups were all read and are all done."""
            nonlocal started
            while open_ and open_[0].closed and open_[0].pending == 0:
                run = open_.pop(0)
                now = time.perf_counter()
                stats = EpochStats(
                    epoch=run.epoch + 1,
                    loss=run.loss / max(run.scored, 1),
                    couples=run.couples,
                    seconds=now - started,  # epochs overlap: each counts from the last end
                    learning_rate=run.lr,
                )
                started = now
                self.state.epoch = run.epoch + 1
                self.state.batch_in_epoch = open_[0].done if open_ else 0
                self._check_weights(stats.epoch)
                self.history.append(stats)
                if bar is not None:
                    bar.set_description(f"epoch {min(run.epoch + 2, c.epochs)}/{c.epochs}")
                if self.on_epoch_end is not None:
                    self.on_epoch_end(stats)

        def worker() -> None:
            nonlocal reading
            while True:
                with lock:
                    if errors or reading >= c.epochs:
                        return
                    ctx, tgt, neg = next(feed)
                    if not open_ or open_[-1].epoch != reading:
                        done = self.state.batch_in_epoch if reading == self.state.epoch else 0
                        lr = self.learning_rate(self.state.units_done)
                        open_.append(_EpochRun(reading, done=done, lr=lr))
                    run = open_[-1]
                    if tgt.shape[0] == 0:  # the end of the epoch's groups
                        run.closed = True
                        reading += 1
                        finish()
                        continue
                    run.pending += 1
                    first = self.state.global_step
                    n, size = int(tgt.shape[0]), int(tgt.shape[1])
                    seen = self.state.units_done
                    rates = [self.learning_rate(seen + i * size) for i in range(n)]
                    self.state.global_step += n
                    self.state.units_done += n * size
                    run.lr = rates[-1]
                out = self._step_fn(ctx, tgt, neg, tf.constant(rates, tf.float32))
                loss, scored, couples = float(out[0]), int(out[1]), int(out[2])
                with lock:
                    run.pending -= 1
                    if not math.isfinite(loss):
                        errors.append(
                            TrainingError(
                                f"training diverged: loss is {loss} at epoch {run.epoch + 1}, "
                                f"by step {first + n} (learning_rate={rates[-1]:.3g}); "
                                "lower learning_rate or batch_size"
                            )
                        )
                        return
                    run.loss += loss
                    run.scored += scored
                    run.couples += couples
                    run.done += n
                    if run is open_[0]:
                        self.state.batch_in_epoch = run.done
                    if bar is not None:
                        bar.update(n)
                        el = time.perf_counter() - started
                        bar.set_postfix(
                            loss=f"{run.loss / max(run.scored, 1):.4f}",
                            couples_s=f"{run.couples / max(el, 1e-9):.3g}",
                            lr=f"{rates[-1]:.2g}",
                            refresh=False,
                        )
                    for callback in self.on_step:
                        callback(self.state)
                    finish()

        def guarded() -> None:
            try:
                worker()
            except BaseException as e:  # KeyboardInterrupt included: stops the others too
                errors.append(e)

        try:
            threads = [threading.Thread(target=guarded) for _ in range(c.workers - 1)]
            for t in threads:
                t.start()
            guarded()
            for t in threads:
                t.join()
        except BaseException as e:  # e.g. Ctrl-C while waiting for the others: stop them
            errors.append(e)
            raise
        finally:
            if bar is not None:
                bar.close()
        if errors:
            raise errors[0]

    def _check_weights(self, epoch: int) -> None:
        for v in self._variables():
            if not bool(tf.reduce_all(tf.math.is_finite(v))):
                raise TrainingError(
                    f"training diverged: non-finite values in {v.name} after epoch {epoch} "
                    f"(step {self.state.global_step}); lower learning_rate or batch_size"
                )


class _Prefetcher:
    """Runs an iterator on a daemon thread, up to ``depth`` items ahead of the consumer.

    An exception in the iterator is raised by the consumer's next ``next()``; ``close()``
    stops the thread (it drops what it had sampled), waits for it, and ends the iteration
    for any consumer still waiting.
    """

    _END = object()

    def __init__(self, source: Iterator, depth: int) -> None:
        self._queue: queue.Queue = queue.Queue(depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._fill, args=(source,), name="item2vec-sampler", daemon=True
        )
        self._thread.start()

    def _fill(self, source: Iterator) -> None:
        try:
            for item in source:
                if not self._put(item):
                    return
            self._put(self._END)
        except BaseException as e:  # handed to the consumer
            self._put(_Failed(e))

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> _Prefetcher:
        return self

    def __next__(self) -> Any:
        item = self._queue.get()
        if item is self._END or isinstance(item, _Failed):
            self._queue.put(item)  # later calls see it too
            if item is self._END:
                raise StopIteration
            raise item.error
        return item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        while True:  # drop what was sampled, and wake a consumer still waiting with the end
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put_nowait(self._END)


@dataclass
class _Failed:
    error: BaseException


#: Compiled steps by settings and table shapes (see :func:`_concrete_step`), newest last.
_STEPS: OrderedDict[tuple, Any] = OrderedDict()
_STEPS_KEPT = 16
_STEPS_LOCK = threading.Lock()


def _concrete_step(
    tables: tuple[tf.Variable, ...],
    accumulators: tuple[tf.Variable, ...],
    *,
    mode: str,
    negatives: int,
    dense: bool,
) -> Callable:
    """The step graph for tables of these shapes, traced once and kept (the last
    :data:`_STEPS_KEPT` shapes and settings).

    ``tables`` is ``(E, b)`` or ``(E, E_out, b)``; ``accumulators`` are Adagrad's (empty
    for SGD). The graph takes them as arguments, so any variables of the same shapes can be
    trained with it. Tracing and graph optimisation cost 0.1-0.3 s per new function,
    about 5% of a 10-epoch fit on Online Retail.
    """
    key = (
        mode, negatives, dense, LOSS_UNITS, len(tables),
        tuple(tuple(v.shape) for v in tables + accumulators),
    )  # fmt: skip
    with _STEPS_LOCK:
        if key in _STEPS:
            _STEPS.move_to_end(key)
            return _STEPS[key]
    fn = _step_function(mode, dense)
    concrete = fn.get_concrete_function(
        tables,
        accumulators,
        tf.TensorSpec([None, None, None], tf.int32),  # contexts (G, U, C)
        tf.TensorSpec([None, None], tf.int32),  # targets (G, U)
        tf.TensorSpec([None, None, negatives], tf.int32),  # negatives (G, U, K)
        tf.TensorSpec([None], tf.float32),  # learning rate of each batch (G,)
    )
    with _STEPS_LOCK:
        _STEPS[key] = concrete
        while len(_STEPS) > _STEPS_KEPT:
            _STEPS.popitem(last=False)
    return concrete


def _step_function(mode: str, dense: bool) -> Any:
    """The ``tf.function`` behind :func:`_concrete_step`: SGD (plain, with the learning
    rate in the logit gradient) or row-wise Adagrad when accumulators are given."""

    def sgd(view, contexts, targets, negatives, lr):
        loss, grads = unit_loss_and_grads(
            view, contexts, targets, negatives, lr, loss_units=LOSS_UNITS
        )
        sums: dict[int, tuple[tf.Variable, tf.Tensor]] = {}
        for var, g in grads:
            n = var.shape[0]
            if var is view.b and n <= DENSE_BIAS_ROWS:
                # one scalar per row: a weighted bincount beats a row-wise scatter
                counts = tf.math.bincount(
                    g.indices, weights=g.values[:, 0], minlength=n, maxlength=n
                )
                upd = counts[:, None]
            elif dense:
                upd = tf.math.unsorted_segment_sum(g.values, g.indices, n)
            else:
                var.scatter_nd_sub(g.indices[:, None], g.values)
                continue
            # the shared table gets two entries (contexts, candidates): subtract once
            prev = sums.get(id(var))
            sums[id(var)] = (var, upd if prev is None else prev[1] + upd)
        for var, upd in sums.values():
            var.assign_sub(upd)
        return loss

    def adagrad(view, accs, contexts, targets, negatives, lr):
        loss, grads = unit_loss_and_grads(view, contexts, targets, negatives, loss_units=LOSS_UNITS)
        for var, acc in zip(view.variables, accs):  # row-wise Adagrad on deduplicated rows
            parts = [g for v, g in grads if v is var]
            rows, pos = tf.unique(tf.concat([g.indices for g in parts], 0))
            values = tf.concat([g.values for g in parts], 0)
            vals = tf.math.unsorted_segment_sum(values, pos, tf.shape(rows)[0])
            acc.scatter_add(
                tf.IndexedSlices(tf.reduce_mean(tf.square(vals), 1, keepdims=True), rows)
            )
            scale = lr / tf.sqrt(tf.gather(acc, rows))
            var.scatter_sub(tf.IndexedSlices(vals * scale, rows, tf.shape(var)))
        return loss

    # an explicit while_loop, not autograph: tracing must not depend on reading this
    # file's source (autograph falls back to plain Python when it cannot)
    @tf.function(autograph=False)
    def step(tables, accs, contexts, targets, negatives, lr):
        view = _Tables(tables, mode)

        def body(i, loss):
            args = (contexts[i], targets[i], negatives[i], lr[i])
            return i + 1, loss + (adagrad(view, accs, *args) if accs else sgd(view, *args))

        n = tf.shape(contexts)[0]
        _, loss = tf.while_loop(lambda i, _: i < n, body, (tf.constant(0), tf.constant(0.0)))
        real = tf.cast(contexts >= 0, tf.int32)
        return loss, tf.reduce_sum(real[:, :LOSS_UNITS]), tf.reduce_sum(real)

    return step


class _Tables:
    """The attributes of :class:`~item2vec.model.Item2VecModel` that
    :func:`~item2vec.model.unit_loss_and_grads` reads, over the step's table arguments."""

    def __init__(self, tables: tuple[tf.Variable, ...], mode: str) -> None:
        self.variables = tables
        self.E, self.b = tables[0], tables[-1]
        self.E_out = tables[1] if len(tables) == 3 else tables[0]
        self.mode = mode


def _width_groups(
    batches: Iterator[Any], window: int | str, batch_size: int, group: int
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Re-cut a stream of unit batches so that each batch is only as wide as its units need.

    With ``shrink_window`` a target's effective window ``r`` is uniform on ``1..W``, so a
    third of a padded ``(U, 2W)`` context block is padding that would still be gathered,
    multiplied and scattered. Each unit goes to a width class: ``r`` for an integer window
    (columns ``W - r .. W + r - 1``, where its contexts lie), the next power of two of its
    context count for ``window="session"`` (contexts fill the first columns). Each class
    fills its own batches of ``batch_size`` units in stream order, and full batches of a
    class are stacked into groups of 1, 2, 4, ... up to ``group`` batches (small groups first,
    so that the steps can start early). Units move at most a few batches from
    their place in the stream; the leftovers of each class end the epoch as short batches.
    """
    pending: dict[int, list] = {}  # width class -> pieces (contexts, targets, negatives)
    count: dict[int, int] = {}  # width class -> units pending
    limit = 1  # groups grow 1, 2, 4, ... batches: the first one is ready early
    w = 0 if window == "session" else int(window)
    reach = np.concatenate([np.arange(w, 0, -1), np.arange(1, w + 1)])

    def take(k: int, n_batches: int, size: int) -> tuple[np.ndarray, ...]:
        """The first ``n_batches * size`` pending units of class ``k``, as a group."""
        whole = [np.concatenate(p) for p in zip(*pending[k])]
        n = n_batches * size
        pending[k] = [tuple(a[n:] for a in whole)]
        count[k] -= n
        return tuple(a[:n].reshape(n_batches, size, *a.shape[1:]) for a in whole)

    for u in batches:
        ctx = u.contexts
        real = ctx >= 0
        if w:
            cls = np.where(real, reach, 0).max(axis=1)
        else:
            n = real.sum(axis=1)
            cls = np.minimum(1 << np.ceil(np.log2(np.maximum(n, 1))).astype(np.int64), ctx.shape[1])
        for k in np.flatnonzero(np.bincount(cls)).tolist():
            sel = np.flatnonzero(cls == k)
            cols = slice(w - k, w + k) if w else slice(0, k)
            pending.setdefault(k, []).append((ctx[sel, cols], u.targets[sel], u.negatives[sel]))
            count[k] = count.get(k, 0) + len(sel)
            if count[k] >= limit * batch_size:
                yield take(k, limit, batch_size)
                limit = min(2 * limit, group)
    for k in sorted(count):
        if count[k] >= batch_size:
            yield take(k, count[k] // batch_size, batch_size)
        if count[k]:
            yield take(k, 1, count[k])


class Checkpointer:
    """Writes the trainer's full state every ``every`` steps, atomically, and restores it.

    A checkpoint is an ordinary model directory (:func:`item2vec.io.save_model`, so it can be
    loaded and queried) plus the optimizer accumulators, the separate output table if any,
    the history so far and the :class:`TrainState` in ``meta.json``. The sampler needs no
    saved RNG state: an epoch's stream is a pure function of ``(seed, epoch)`` and resuming
    skips the batches already done. With several workers a batch that was still running
    when the checkpoint was taken is redone or skipped: at most ``workers - 1`` batches.
    """

    def __init__(self, trainer: Trainer, directory: str, every: int) -> None:
        self.trainer = trainer
        self.directory = directory
        self.every = every
        self._done = 0  # checkpoints due so far (steps advance a group of batches at a time)

    def on_step(self, state: TrainState) -> None:
        if state.global_step // self.every > self._done:
            self._done = state.global_step // self.every
            self.save()

    def save(self) -> None:
        from .io import save_model

        t = self.trainer
        extras = {f"accumulator_{i}": a.numpy() for i, a in enumerate(t._accumulators)}
        if t.model.output_embedding is not None:
            extras["output_vectors"] = t.model.E_out.numpy()
        save_model(
            self.directory,
            vectors=t.model.E.numpy(),
            biases=t.model.b.numpy()[:, 0],
            vocabulary=t.sessions.vocabulary,
            config=t.config.to_dict(),
            history=[h.as_dict() for h in t.history],
            extra_arrays=extras,
            state=dataclasses.asdict(t.state),
        )

    def restore(self) -> TrainState:
        """Load the checkpoint into the trainer; returns the state to resume from."""
        from .io import load_model

        t = self.trainer
        ck = load_model(self.directory)
        saved = dict(ck.config)
        ours = t.config.to_dict()
        differ = sorted(k for k in ours if k != "epochs" and saved.get(k) != ours[k])
        if differ:
            raise TrainingError(
                f"checkpoint {self.directory} was written with different settings "
                f"({', '.join(f'{k}={saved.get(k)!r} vs {ours[k]!r}' for k in differ)}); "
                "resume with the same settings or remove the checkpoint"
            )
        if not np.array_equal(ck.vocabulary.ids, t.sessions.vocabulary.ids):
            raise TrainingError(
                f"checkpoint {self.directory} was trained on a different vocabulary; "
                "resume on the same data or remove the checkpoint"
            )
        if ck.meta.get("state") is None:
            raise TrainingError(f"{self.directory} is a model, not a training checkpoint")
        t.model.E.assign(ck.vectors)
        t.model.b.assign(ck.biases[:, None])
        if t.model.output_embedding is not None:
            t.model.E_out.assign(ck.extra_arrays["output_vectors"])
        for i, a in enumerate(t._accumulators):
            a.assign(ck.extra_arrays[f"accumulator_{i}"])
        t.history = [_stats_from_dict(h) for h in ck.history or []]
        state = TrainState(**ck.meta["state"])
        self._done = state.global_step // self.every
        return state


class NeighbourMonitor:
    """Every ``every`` steps, print the current nearest neighbours of a few items.

    All queries are answered by one matrix product of the normalised query rows with the
    normalised table, inside TensorFlow; no model call per item. ``descriptions`` (a
    mapping from item id to text) makes the lines readable.
    """

    def __init__(
        self,
        model: Item2VecModel,
        vocabulary: Vocabulary,
        items: list,
        *,
        every: int = 500,
        k: int = 5,
        descriptions: Any = None,
        write: Callable[[str], None] | None = None,
    ) -> None:
        self.model = model
        self.vocabulary = vocabulary
        self.rows = vocabulary.encode(items)
        self.every = every
        self.k = min(k, len(vocabulary) - 1)
        self.descriptions = descriptions
        self.write = write or _write
        self._done = 0  # prints due so far (steps advance a group of batches at a time)

    def neighbours(self) -> np.ndarray:
        """Rows of the ``k`` nearest neighbours of each monitored item, (m, k)."""
        table = tf.math.l2_normalize(self.model.E, axis=1)  # (n, D)
        sims = tf.matmul(tf.gather(table, self.rows), table, transpose_b=True)  # (m, n)
        sims += tf.one_hot(self.rows, len(self.vocabulary), on_value=-3.0, off_value=0.0)
        return tf.math.top_k(sims, k=self.k).indices.numpy()

    def label(self, row: int) -> str:
        item = self.vocabulary.ids[row]
        if self.descriptions is None:
            return str(item)
        return f"{item} {str(self.descriptions.get(item, '')).strip()}".strip()

    def __call__(self, state: TrainState) -> None:
        if state.global_step // self.every <= self._done:
            return
        self._done = state.global_step // self.every
        lines = [f"step {state.global_step} (epoch {state.epoch + 1}) nearest neighbours:"]
        for row, nb in zip(self.rows, self.neighbours(), strict=True):
            lines.append(f"  {self.label(row)}: " + " | ".join(self.label(r) for r in nb))
        self.write("\n".join(lines))


def _write(text: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(text)


def _stats_from_dict(d: dict[str, Any]) -> EpochStats:
    base = ("epoch", "loss", "couples", "seconds", "learning_rate")
    metrics = {k: v for k, v in d.items() if k not in base and k != "couples_per_second"}
    return EpochStats(**{k: d[k] for k in base}, metrics=metrics)


def _progress(enabled: bool, total: int):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="batch", leave=False, disable=None)
