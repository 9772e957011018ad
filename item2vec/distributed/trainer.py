"""Multi-worker data-parallel training with ``tf.distribute.MultiWorkerMirroredStrategy``.

Every worker holds the whole model (the tables are ``MirroredVariable``s, initialised
from the chief's values) and trains on its own shard of a Parquet log
(:class:`~item2vec.sampling.corpus.ParquetCorpus`). One step, in a ``tf.function`` around
``strategy.run``:

1. each worker computes :func:`~item2vec.training.model.unit_loss_and_grads` on its batch;
2. the sparse gradients of all tables are packed into one ``IndexedSlices`` over a
   virtual table ``[E; E_out]`` of width ``dim + 1`` (the last column is the target bias,
   which shares the target rows) and deduplicated locally (``tf.unique`` +
   ``unsorted_segment_sum``): a step sends each touched row once;
3. the rows are summed across workers with ``ReplicaContext`` collectives (ring). Default
   (``aggregation="sparse"``): an all-gather of the rows each worker touched (their
   counts first, then values and indices padded to the longest); ``"dense"`` instead
   scatters them into a ``(rows, dim + 1)`` tensor and all-reduces it, which only pays
   for small tables (measured in ``docs/scaling.md``);
4. every worker deduplicates the gathered rows in the same order and applies the same
   SGD / row-wise Adagrad update to its copy, so the copies stay bit-identical (a scatter
   with duplicate indices is not deterministic on CPU; after deduplication it is). Each
   epoch ends with a check that the tables' fingerprints agree.

Gradients are summed, not averaged: a step applies the couples of ``n_workers`` batches,
as ``n_workers`` Hogwild threads of :class:`~item2vec.training.train.Trainer` would, so
``learning_rate`` keeps its per-couple meaning and ``batch_size`` is per worker.

Step agreement: workers must run the same number of collective steps or they deadlock.
Batches come from ``strategy.distribute_datasets_from_function``, whose iterator in
multi-worker mode all-reduces "how many workers still have data" at every
``get_next_as_optional()`` (tf.distribute's partial-batch handling): a worker whose shard
is exhausted receives an empty batch (0 units, an empty gradient) until every shard is
done, and the epoch ends for all at once. No pre-count, no dropped data; unbalanced shards
leave a worker idle, so shards are balanced by events (see :meth:`ParquetCorpus.shard`).

Vocabulary: every worker builds it with the same deterministic pass over the log (no
shared file system needed) and the workers check that their fingerprints agree. The chief
(task 0) writes the model with :func:`item2vec.io.save_model`; the others do not.

Failures: the chief checkpoints the tables, the optimizer state and every worker's shard
position (:mod:`item2vec.distributed.checkpoint`); a restarted job resumes from the newest
readable checkpoint and ends with the same tables as an uninterrupted run. A lost worker is
noticed by TensorFlow's heartbeats or by the :mod:`~item2vec.distributed.watchdog` and named by every
other worker, which then exits (``docs/scaling.md``, "Checkpoints and failures").

The update rules and the learning-rate schedule are :mod:`item2vec.training.updates`, shared with
the single-process trainer. Run one process per worker with ``TF_CONFIG`` set, or locally
(the launcher is :mod:`item2vec.distributed.launch`, the command line :mod:`item2vec.distributed.cli`)::

    python -m item2vec.distributed launch --workers 2 -- DATA --session-col s \\
        --item-col i --out model_dir
"""

from __future__ import annotations

import math
import os
import sys
import time as _time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..checks import SHARD_MODES, check_choice, check_int, check_real
from ..config import Config
from ..exceptions import ParameterError, TrainingError
from .checkpoint import (
    CheckpointDir,
    ClusterCheckpointer,
    RunPosition,
    vocabulary_sha256,
)
from .cluster import ClusterSpec, cluster_from_env
from .collectives import Sync, fingerprint, write_allowance
from .launch import WorkerExit, free_ports, launch_local
from .watchdog import (
    DEFAULT_COLLECTIVE_TIMEOUT,
    EXIT_WORKER_LOST,
    CollectiveWatchdog,
    Progress,
    WorkerLostError,
    is_collective_failure,
    lost_worker_error,
)

__all__ = [
    "AGGREGATIONS",
    "DEFAULT_COLLECTIVE_TIMEOUT",
    "EXIT_WORKER_LOST",
    "ClusterSpec",
    "DistributedResult",
    "WorkerExit",
    "WorkerLostError",
    "choose_aggregation",
    "cluster_from_env",
    "free_ports",
    "launch_local",
    "train_distributed",
]

AGGREGATIONS = ("auto", "sparse", "dense")
"""How the workers sum their row gradients (see :func:`choose_aggregation`)."""
#: ``aggregation="auto"`` densifies tables of at most this many values (rows * (dim + 1)):
#: on 2 workers dense was 1.1-1.9x faster at 1k items x 64 dims, 1.2x at 10k, 1.4-2x slower at
#: 89k (docs/scaling.md).
DENSE_MAX_VALUES = 1 << 20


@dataclass
class DistributedResult:
    """What :func:`train_distributed` returns on every worker."""

    cluster: ClusterSpec
    history: list[dict[str, Any]]
    vectors: np.ndarray  # float32 (n_items, dim), identical on every worker
    biases: np.ndarray  # float32 (n_items,)
    vocabulary: Any
    aggregation: str
    saved: str | None = None  # the model directory (chief only)
    shard_events: int = 0
    seconds: float = 0.0
    resumed_from: str | None = None  # the checkpoint this run continued, if any


# --------------------------------------------------------------------------- training
def _strategy(threads: int | None) -> Any:
    import tensorflow as tf

    if threads:  # before any op: a fresh context picks them up
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(max(2, threads))
    ring = tf.distribute.experimental.CommunicationImplementation.RING
    options = tf.distribute.experimental.CommunicationOptions(implementation=ring)
    try:
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    except RuntimeError as e:
        raise TrainingError(
            f"cannot start MultiWorkerMirroredStrategy: {e}. Create it before any other "
            "TensorFlow op: call train_distributed at the start of the process"
        ) from e


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


class _Step:
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
        :meth:`item2vec.training.train.Trainer.learning_rate` (:class:`~item2vec.training.updates.LinearDecay`)."""
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
            rows, vals = dedupe_rows(*_all_gather_rows(rc, vals, rows))
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


def _all_gather_rows(rc: Any, values: Any, indices: Any) -> tuple[Any, Any]:
    """Every worker's rows, in worker order: lengths first, then values and indices padded
    to the longest (an all-gather needs one shape everywhere), padding dropped after."""
    import tensorflow as tf

    lengths = rc.all_gather(tf.shape(indices)[:1], axis=0)  # (n_workers,)
    pad = tf.reduce_max(lengths) - tf.shape(indices)[0]
    values = rc.all_gather(tf.pad(values, [[0, pad], [0, 0]]), axis=0)
    indices = rc.all_gather(tf.pad(indices, [[0, pad]], constant_values=-1), axis=0)
    real = indices >= 0
    return tf.boolean_mask(values, real), tf.boolean_mask(indices, real)


def train_distributed(
    data_path: str | os.PathLike,
    *,
    session: str,
    item: str,
    time: str | None = None,
    config: Config,
    out: str | os.PathLike | None,
    min_length: int = 2,
    collapse_repeats: bool = False,
    batch_rows: int = 65_536,
    shard: str = "auto",
    aggregation: str = "auto",
    dump_dir: str | os.PathLike | None = None,
    threads: int | None = None,
    progress: bool = False,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 1000,
    checkpoint_keep: int = 2,
    collective_timeout: float = DEFAULT_COLLECTIVE_TIMEOUT,
) -> DistributedResult:
    """Train on a Parquet log as one worker of the cluster described by ``TF_CONFIG``.

    Call it at the start of the process (MultiWorkerMirroredStrategy must exist before any
    other TensorFlow op). Every worker must pass the same arguments. ``config.workers``
    (Hogwild threads) is ignored: a worker runs one collective step at a time.

    Parameters
    ----------
    data_path, session, item, time : the log and its columns (see :class:`ParquetCorpus`;
        sessions must be contiguous in the data). ``config.min_count`` applies.
    config : hyperparameters; ``batch_size`` is per worker, ``seed`` seeds the initial
        tables (the chief's are broadcast) and, with the worker index, each sampler.
    out : model directory the chief writes (``None``: write nothing).
    min_length, collapse_repeats, batch_rows : as in :class:`ParquetCorpus`.
    shard : ``"auto"``, ``"row_groups"`` or ``"hash"`` (see :meth:`ParquetCorpus.shard`).
    aggregation : ``"sparse"`` (all-gather of touched rows), ``"dense"`` (all-reduce of
        the whole table) or ``"auto"`` (dense for tables up to ``DENSE_MAX_VALUES`` values).
    dump_dir : if set, every worker writes its final tables to ``worker-<index>.npz``.
    threads : TensorFlow intra-op threads of this process (default: TensorFlow's choice).
    progress : print a line per epoch (chief only).
    checkpoint_dir : where the chief writes a checkpoint every ``checkpoint_every`` global
        steps and at the end of every epoch (``None`` or ``checkpoint_every=0``: none),
        keeping the newest ``checkpoint_keep``. When it holds a checkpoint at the start,
        the run resumes from the newest readable one (an unreadable one is set aside with a
        warning): the settings, the vocabulary and the number of workers must match, or
        every worker stops with a :class:`TrainingError` naming the differences. Only the
        chief reads it; the others get its tables through collectives. Removed by the
        chief once the model is saved and every worker is done. Layout and guarantees:
        :mod:`item2vec.distributed.checkpoint`.
    collective_timeout : seconds a worker waits for the others in one collective before it
        stops (:class:`~item2vec.distributed.watchdog.CollectiveWatchdog`); a dead worker is noticed by
        TensorFlow's heartbeats in about 10 s whatever this is.

    A lost worker makes every other worker raise :class:`~item2vec.distributed.watchdog.WorkerLostError`
    naming it and the checkpoint to resume from. A worker stuck in its own input for
    ``collective_timeout`` plus a grace (``min(collective_timeout, 60)`` s) ends its process
    with exit code :data:`~item2vec.distributed.watchdog.EXIT_WORKER_LOST` (the blocked call cannot be
    interrupted).
    """
    if config.device == "gpu":  # before the strategy starts TensorFlow
        raise ParameterError(
            "device='gpu' applies to training in one process: the distributed trainer leaves "
            "placement to TensorFlow; use device='auto' or 'cpu'"
        )
    if config.negative_block not in (None, 1):
        raise ParameterError(
            "negative_block applies to training in one process: the distributed trainer "
            f"draws negatives per unit; leave negative_block unset or use negative_block=1, got "
            f"{config.negative_block!r}"
        )
    cluster = cluster_from_env()
    strategy = _strategy(threads)  # first: collective ops are configured at startup
    import tensorflow as tf

    config = config.validate()
    check_choice("shard", shard, SHARD_MODES)
    check_int("checkpoint_every", checkpoint_every, 0)
    check_int("checkpoint_keep", checkpoint_keep, 1)
    check_real("collective_timeout", collective_timeout, 0.0, strict=True)
    timeout = float(collective_timeout)
    ckpts = None
    if checkpoint_dir is not None and checkpoint_every > 0:
        ckpts = CheckpointDir(checkpoint_dir, checkpoint_keep)
    dog = CollectiveWatchdog(cluster.task_index, grace=min(timeout, 60.0))
    where = Progress(cluster, ckpts)
    try:
        return _train(
            strategy, cluster, dog, where, data_path, session=session, item=item, time=time,
            config=config, out=out, min_length=min_length, collapse_repeats=collapse_repeats,
            batch_rows=batch_rows, shard=shard, aggregation=aggregation, dump_dir=dump_dir,
            progress=progress, ckpts=ckpts, every=checkpoint_every, timeout=timeout,
        )  # fmt: skip
    except tf.errors.OpError as e:
        if not is_collective_failure(e, dog):
            raise
        raise lost_worker_error(e, dog, where) from None
    finally:
        dog.close()


def _train(
    strategy: Any, cluster: ClusterSpec, dog: CollectiveWatchdog, where: Progress,
    data_path: str | os.PathLike, *, session: str, item: str, time: str | None, config: Config,
    out: str | os.PathLike | None, min_length: int, collapse_repeats: bool, batch_rows: int,
    shard: str, aggregation: str, dump_dir: str | os.PathLike | None, progress: bool,
    ckpts: CheckpointDir | None, every: int, timeout: float,
) -> DistributedResult:  # fmt: skip
    import tensorflow as tf

    from ..sampling import epoch_units
    from ..sampling.corpus import ParquetCorpus
    from ..training.model import Item2VecModel
    from ..training.state import EpochStats

    t_start = _now()
    corpus = ParquetCorpus(
        data_path, session=session, item=item, time=time, min_count=config.min_count,
        min_length=min_length, collapse_repeats=collapse_repeats, batch_rows=batch_rows,
    )  # fmt: skip
    vocab = corpus.vocabulary
    sync = Sync(strategy, cluster, dog)
    where.where = "the vocabulary check"  # the others may still be reading: allow as long
    if not sync.all_equal(fingerprint(vocab.ids, vocab.counts), timeout + _now() - t_start,
                          where.where):  # fmt: skip
        raise TrainingError(
            f"worker {cluster.task_index} built a different vocabulary from {data_path} than "
            "the others: every worker must read the same data with the same options"
        )
    if config.negatives > 0 and len(vocab) < 2:
        raise ParameterError(f"negatives={config.negatives} needs at least 2 items")
    mode = choose_aggregation(aggregation, len(vocab), config.dim, config.separate_output)
    mine = corpus.shard(cluster.task_index, cluster.n_workers, by=shard)
    where.where = "creating the tables"
    with dog.waiting(timeout, where.where), strategy.scope():
        model = Item2VecModel(
            len(vocab), config.dim, mode=config.mode, separate_output=config.separate_output,
            seed=config.seed,
        )  # fmt: skip
    n_ctx = 2 * config.window if config.window != "session" else None
    spec = (
        tf.TensorSpec([None, n_ctx], tf.int32),
        tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([None, config.negatives], tf.int32),
    )
    config = config.for_corpus(corpus.n_events)  # whole corpus: every worker the same epochs
    per_epoch = corpus.expected_units(config.sample)  # whole corpus: a global step count
    total_steps = max(
        1, math.ceil(per_epoch / (config.batch_size * cluster.n_workers)) * config.epochs
    )
    with dog.waiting(timeout, where.where):
        step = _Step(strategy, model, config, mode, total_steps)
    state_vars = step.tables + step.accumulators
    allowance = write_allowance(state_vars)
    run = {
        "n_workers": cluster.n_workers,
        "vocabulary": {"items": len(vocab), "sha256": vocabulary_sha256(vocab)},
        "data": {"session": session, "item": item, "time": time, "min_length": min_length,
                 "collapse_repeats": collapse_repeats, "batch_rows": batch_rows,
                 "events": corpus.n_events, "sessions": corpus.n_sessions,
                 "row_groups": corpus.n_row_groups},
        "options": {"shard": mine.shard_by, "aggregation": mode},
    }  # fmt: skip
    names = ["vectors"] + (["output_vectors"] if config.separate_output else []) + ["biases"]
    names += [f"accumulator_{i}" for i in range(len(step.accumulators))]
    pos, history, resumed_from = RunPosition(), [], None
    keeper = None
    if ckpts is not None:
        keeper = ClusterCheckpointer(
            ckpts, sync=sync, progress=where, run=run, config=config.to_dict(),
            vocabulary=vocab, names=names, timeout=timeout, allowance=allowance,
        )  # fmt: skip
        where.where = "the resume check"
        pos, history, resumed_from, arrays = keeper.resume()
        if resumed_from is not None:
            sync.load_from_chief(state_vars, arrays, timeout + allowance, where.where)

    def save_checkpoint(p: RunPosition, tables: list[np.ndarray] | None = None) -> None:
        if not all(bool(tf.reduce_all(tf.math.is_finite(v))) for v in step.tables):
            raise TrainingError(
                f"training diverged: non-finite weights at global step {p.global_step}; "
                "lower learning_rate or batch_size"
            )
        where.where = f"the checkpoint at global step {p.global_step}"

        def snapshot() -> dict[str, np.ndarray]:
            values = tables if tables is not None else [v.numpy() for v in step.tables]
            values = values + [a.numpy() for a in step.accumulators]
            return dict(zip(names, values))

        keeper.save(p, snapshot, history)

    def dataset_for(units: Any) -> Any:
        def fn(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
            if ctx.input_pipeline_id != cluster.task_index:  # one pipeline per worker
                raise TrainingError("unexpected input pipeline layout")

            def gen():
                for u in units:
                    yield u.contexts, u.targets, u.negatives

            return tf.data.Dataset.from_generator(gen, output_signature=spec).prefetch(4)

        return strategy.distribute_datasets_from_function(fn)

    global_step = pos.global_step
    last_saved = pos.global_step if resumed_from else -1
    for epoch in range(pos.epoch, config.epochs):
        resuming = epoch == pos.epoch and pos.step_in_epoch > 0
        p = pos if resuming else RunPosition(epoch, 0, global_step)
        skip = p.shards[cluster.task_index][1] if resuming else 0
        units = iter(epoch_units(mine, **config.stream_kwargs(epoch)))
        if resuming:  # the same stream, minus the batches already trained on
            t0 = _now()
            for _ in range(skip):
                next(units, None)
            where.where = f"skipping to the resume position (epoch {epoch + 1})"
            sync.gather([0.0, 0.0], timeout + _now() - t0, where.where)
        t0 = _now() - p.seconds
        totals = np.array([p.loss_sum, p.couples])
        steps, batches = p.step_in_epoch, skip
        where.where = f"epoch {epoch + 1}"
        with dog.waiting(timeout, where.where):
            iterator = iter(dataset_for(units))
        while True:
            where.where = f"global step {global_step + 1} (epoch {epoch + 1})"
            with dog.waiting(timeout, where.where):
                sums, done, local = step.run(iterator, tf.constant(global_step, tf.int64))
                if not int(done):
                    break
                totals += sums.numpy()
            steps += 1
            global_step += 1
            batches += int(int(local) > 0)
            if ckpts is not None and global_step % every == 0:
                save_checkpoint(RunPosition(epoch, steps, global_step, *totals.tolist(),
                                            _now() - t0, [[epoch, batches]]))  # fmt: skip
                last_saved = global_step
        loss, couples = totals.tolist()
        lr = float(step.learning_rate(max(global_step - 1, 0)))
        tables = [v.numpy() for v in step.tables]
        if not all(np.isfinite(t).all() for t in tables):
            raise TrainingError(
                f"training diverged: non-finite weights after epoch {epoch + 1} (step "
                f"{global_step}); lower learning_rate or batch_size"
            )
        where.where = f"the check at the end of epoch {epoch + 1}"
        if not sync.all_equal(fingerprint(*tables), timeout, where.where):  # never expected
            print(f"item2vec: worker {cluster.task_index}: tables differ between workers after "
                  f"epoch {epoch + 1}; copying the chief's", file=sys.stderr)  # fmt: skip
            sync.load_from_chief(state_vars, [v.numpy() for v in state_vars],
                                 timeout + allowance, where.where)  # fmt: skip
            tables = [v.numpy() for v in step.tables]
        stats = EpochStats(epoch + 1, loss / max(couples, 1.0), int(couples), _now() - t0, lr)
        stats.metrics["steps"] = float(steps)
        history.append(stats.as_dict())
        if ckpts is not None and last_saved != global_step:
            save_checkpoint(RunPosition(epoch + 1, 0, global_step, shards=[[epoch + 1, 0]]),
                            tables)  # fmt: skip
            last_saved = global_step  # (a checkpoint at this step already resumes here)
        if progress and cluster.is_chief:
            print(
                f"epoch {epoch + 1}/{config.epochs}: loss {stats.loss:.4f}, {steps} steps, "
                f"{stats.couples_per_second:,.0f} couples/s on {cluster.n_workers} workers",
                file=sys.stderr,
                flush=True,
            )
    vectors = model.E.numpy()
    biases = model.b.numpy()[:, 0]
    if dump_dir is not None:
        os.makedirs(dump_dir, exist_ok=True)
        extra = {"output_vectors": model.E_out.numpy()} if config.separate_output else {}
        np.savez(os.path.join(dump_dir, f"worker-{cluster.task_index}.npz"), vectors=vectors,
                 biases=biases, **extra)  # fmt: skip
    saved = None
    if out is not None and cluster.is_chief:
        from ..io import save_model

        extra = {"output_vectors": model.E_out.numpy()} if config.separate_output else None
        saved = os.fspath(
            save_model(
                out, vectors=vectors, biases=biases, vocabulary=vocab,
                config=config.to_dict(), history=history, extra_arrays=extra,
            )
        )  # fmt: skip
    where.where = "the final barrier"  # nobody leaves while the chief still saves
    sync.gather([0.0, 0.0], timeout + allowance, where.where)
    if ckpts is not None and cluster.is_chief:
        ckpts.remove()  # every worker is done: nothing left to resume
    return DistributedResult(
        cluster=cluster, history=history, vectors=vectors, biases=biases, vocabulary=vocab,
        aggregation=mode, saved=saved, shard_events=mine.shard_events,
        seconds=_now() - t_start, resumed_from=resumed_from,
    )  # fmt: skip


def _now() -> float:
    return _time.perf_counter()
