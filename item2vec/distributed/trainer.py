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
noticed by TensorFlow's heartbeats or by the :mod:`~item2vec.distributed.watchdog` and named
by every other worker, which then exits (``docs/scaling.md``, "Checkpoints and failures").

This module is the entry point (:func:`train_distributed`: checks, the strategy, the
watchdog); one worker's run is :class:`~item2vec.distributed.worker.WorkerRun`, the compiled
step :class:`~item2vec.distributed.step.DistributedStep`.

The update rules and the learning-rate schedule are :mod:`item2vec.training.updates`, shared
with the single-process trainer. Run one process per worker with ``TF_CONFIG`` set, or locally
(the launcher is :mod:`item2vec.distributed.launch`, the command line
:mod:`item2vec.distributed.cli`)::

    python -m item2vec.distributed launch --workers 2 -- DATA --session-col s \\
        --item-col i --out model_dir
"""

from __future__ import annotations

import os
from typing import Any

from ..checks import SHARD_MODES, check_choice, check_int, check_real
from ..config import Config
from ..exceptions import ParameterError, TrainingError
from .checkpoint import CheckpointDir
from .cluster import ClusterSpec, cluster_from_env
from .launch import WorkerExit, free_ports, launch_local
from .step import AGGREGATIONS, DENSE_MAX_VALUES, choose_aggregation
from .watchdog import (
    DEFAULT_COLLECTIVE_TIMEOUT,
    EXIT_WORKER_LOST,
    CollectiveWatchdog,
    Progress,
    WorkerLostError,
    is_collective_failure,
    lost_worker_error,
)
from .worker import DistributedResult, WorkerRun

__all__ = [
    "AGGREGATIONS",
    "DENSE_MAX_VALUES",
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
        stops (:class:`~item2vec.distributed.watchdog.CollectiveWatchdog`); a dead worker is
        noticed by TensorFlow's heartbeats in about 10 s whatever this is.

    A lost worker makes every other worker raise
    :class:`~item2vec.distributed.watchdog.WorkerLostError` naming it and the checkpoint to
    resume from. A worker stuck in its own input for ``collective_timeout`` plus a grace
    (``min(collective_timeout, 60)`` s) ends its process with exit code
    :data:`~item2vec.distributed.watchdog.EXIT_WORKER_LOST` (the blocked call cannot be
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
        run = WorkerRun(strategy, cluster, dog, where, config=config, timeout=timeout,
                        ckpts=ckpts, every=checkpoint_every)  # fmt: skip
        return run.train(
            data_path, session=session, item=item, time=time, out=out, min_length=min_length,
            collapse_repeats=collapse_repeats, batch_rows=batch_rows, shard=shard,
            aggregation=aggregation, dump_dir=dump_dir, progress=progress,
        )  # fmt: skip
    except tf.errors.OpError as e:
        if not is_collective_failure(e, dog):
            raise
        raise lost_worker_error(e, dog, where) from None
    finally:
        dog.close()
