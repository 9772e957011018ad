"""Multi-worker data-parallel training with ``tf.distribute.MultiWorkerMirroredStrategy``.

Every worker holds the whole model (the tables are ``MirroredVariable``s, initialised
from the chief's values) and trains on its own shard of a Parquet log
(:class:`~item2vec.corpus.ParquetCorpus`). One step, in a ``tf.function`` around
``strategy.run``:

1. each worker computes :func:`~item2vec.model.unit_loss_and_grads` on its batch;
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
as ``n_workers`` Hogwild threads of :class:`~item2vec.train.Trainer` would, so
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

Run one process per worker with ``TF_CONFIG`` set, or locally::

    python -m item2vec.distributed launch --workers 2 -- DATA --session-col s \\
        --item-col i --out model_dir
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .config import Config
from .exceptions import Item2VecError, ParameterError, TrainingError

__all__ = [
    "AGGREGATIONS",
    "ClusterSpec",
    "DistributedResult",
    "WorkerExit",
    "add_distributed_options",
    "cluster_from_env",
    "launch_local",
    "run_worker",
    "train_distributed",
]

AGGREGATIONS = ("auto", "sparse", "dense")
#: ``aggregation="auto"`` densifies tables of at most this many values (rows * (dim + 1)):
#: on 2 workers dense was 1.1-1.9x faster at 1k items x 64 dims, 1.2x at 10k, 1.4-2x slower at
#: 89k (docs/scaling.md).
DENSE_MAX_VALUES = 1 << 20


@dataclass(frozen=True)
class ClusterSpec:
    """This process's place in the cluster, from ``TF_CONFIG``."""

    task_index: int
    n_workers: int
    workers: tuple[str, ...] = ()

    @property
    def is_chief(self) -> bool:
        return self.task_index == 0


def cluster_from_env(env: dict[str, str] | None = None) -> ClusterSpec:
    """Parse ``TF_CONFIG`` (``{"cluster": {"worker": [...]}, "task": {...}}``).

    No ``TF_CONFIG`` means a single local worker. Only ``worker`` tasks are supported (the
    chief is worker 0, as MultiWorkerMirroredStrategy does without a ``chief`` job).
    """
    raw = (os.environ if env is None else env).get("TF_CONFIG", "")
    if not raw.strip():
        return ClusterSpec(0, 1)
    try:
        cfg = json.loads(raw)
        workers = tuple(cfg["cluster"]["worker"])
        task = cfg["task"]
        kind, index = task["type"], int(task["index"])
    except (ValueError, KeyError, TypeError) as e:
        raise ParameterError(
            f'TF_CONFIG must look like {{"cluster": {{"worker": ["host:port", ...]}}, '
            f'"task": {{"type": "worker", "index": 0}}}}, got {raw!r} ({e})'
        ) from None
    other = sorted(set(cfg["cluster"]) - {"worker"})
    if other or kind != "worker":
        raise ParameterError(
            f"TF_CONFIG may only have 'worker' tasks (worker 0 is the chief), got jobs "
            f"{sorted(cfg['cluster'])} and task type {kind!r}"
        )
    if not workers or not 0 <= index < len(workers):
        raise ParameterError(f"TF_CONFIG task index {index} is not in 0..{len(workers) - 1}")
    return ClusterSpec(index, len(workers), workers)


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

        self.strategy, self.model, self.config = strategy, model, config
        self.aggregation = aggregation
        self.total_steps = total_steps
        n = model.n_items
        sep = model.output_embedding is not None
        self.tables = [model.E, model.E_out, model.b] if sep else [model.E, model.b]
        self.n_rows = n * (2 if sep else 1)  # rows of the packed virtual table
        self.accumulators: list[Any] = []
        if config.optimizer == "adagrad":
            with strategy.scope():
                self.accumulators = [
                    tf.Variable(tf.fill([t.shape[0], 1], 0.1), trainable=False) for t in self.tables
                ]
        self.run = tf.function(self._run)

    def learning_rate(self, step: Any) -> Any:
        """Linear decay to the floor over the run, as :meth:`Trainer.learning_rate`."""
        import tensorflow as tf

        c = self.config
        frac = tf.minimum(1.0, tf.cast(step, tf.float32) / float(self.total_steps))
        return tf.maximum(c.min_learning_rate, c.learning_rate * (1.0 - frac))

    def _run(self, iterator: Any, step: Any) -> tuple[Any, Any]:
        """One step: summed ``[loss, couples]`` of all workers and 1, or zeros and 0 at the
        end of the epoch.

        ``get_next_as_optional`` agrees across workers (an all-reduce of who has data), so
        every worker sees the end at the same step. One step per call, not a ``tf.range``
        loop: inside a while loop a collective keeps the shapes of its first iteration,
        and the gathered rows change size every step."""
        import tensorflow as tf

        totals, done = tf.zeros([2], tf.float32), tf.constant(0, tf.int64)
        batch = iterator.get_next_as_optional()
        if batch.has_value():
            out = self.strategy.run(
                self._replica, args=(*batch.get_value(), self.learning_rate(step))
            )
            totals, done = self.strategy.experimental_local_results(out)[0], done + 1
        return totals, done

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

        from .model import unit_loss_and_grads

        rc = tf.distribute.get_replica_context()
        scale = lr if not self.accumulators else 1.0  # SGD: lr folded into the gradients
        loss, grads = unit_loss_and_grads(self.model, contexts, targets, negatives, scale)
        values, indices = self._pack(grads)
        if self.aggregation == "dense":
            local = tf.math.unsorted_segment_sum(values, indices, self.n_rows)
            total = rc.all_reduce(tf.distribute.ReduceOp.SUM, local)
            rows = tf.cast(tf.where(tf.reduce_any(total != 0, axis=1))[:, 0], tf.int32)
            vals = tf.gather(total, rows)
        else:
            rows, vals = _dedupe(values, indices)
            rows, vals = _dedupe(*_all_gather_rows(rc, vals, rows))
        self._apply(rows, vals, lr)
        couples = tf.reduce_sum(tf.cast(contexts >= 0, tf.float32))
        return rc.all_reduce(tf.distribute.ReduceOp.SUM, tf.stack([loss, couples]))

    def _apply(self, rows: Any, vals: Any, lr: Any) -> None:
        """Update each table from the packed, deduplicated rows (the same on every worker)."""
        import tensorflow as tf

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
            table = self.tables[k]
            if self.accumulators:  # row-wise Adagrad, as in Trainer
                acc = self.accumulators[k]
                acc.scatter_add(tf.IndexedSlices(tf.reduce_mean(v * v, 1, keepdims=True), r))
                v = v * (lr / tf.sqrt(tf.gather(acc, r)))
            table.scatter_sub(tf.IndexedSlices(v, r, tf.shape(table, out_type=tf.int32)))


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


def _dedupe(values: Any, indices: Any) -> tuple[Any, Any]:
    import tensorflow as tf

    rows, pos = tf.unique(indices)
    return rows, tf.math.unsorted_segment_sum(values, pos, tf.shape(rows)[0])


class _Sync:
    """Small collectives outside the training step, each traced once."""

    def __init__(self, strategy: Any, cluster: ClusterSpec) -> None:
        import tensorflow as tf

        self.strategy = strategy
        spec = [tf.TensorSpec([2], tf.float64)]
        where = [[cluster.task_index]]
        shape = [cluster.n_workers, 2]

        @tf.function(input_signature=spec)
        def gather(x):  # an all-gather as the SUM of one row per worker (exact)
            def replica(v):
                rc = tf.distribute.get_replica_context()
                return rc.all_reduce(tf.distribute.ReduceOp.SUM, tf.scatter_nd(where, [v], shape))

            return strategy.run(replica, args=(x,))

        self._gather = gather

    def all_equal(self, numbers: Sequence[float]) -> bool:
        """True if every worker passed the same two numbers (one all-gather)."""
        import tensorflow as tf

        out = self._gather(tf.constant(list(numbers), tf.float64))
        every = self.strategy.experimental_local_results(out)[0].numpy()  # (n_workers, k)
        return bool((every == every[:1]).all())

    def copy_from_chief(self, variables: list[Any], chief: bool) -> None:
        """Give every worker the chief's values (an all-reduce of the chief's tables)."""
        import tensorflow as tf

        @tf.function
        def sync():
            def replica():
                rc = tf.distribute.get_replica_context()
                for v in variables:
                    mine = v.read_value() if chief else tf.zeros_like(v)
                    v.assign(rc.all_reduce(tf.distribute.ReduceOp.SUM, mine))

            self.strategy.run(replica)

        sync()


def _fingerprint(*arrays: np.ndarray) -> list[float]:
    """Two 48-bit numbers from a sha256 of the arrays (exact in float64)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.asarray(a)
        h.update(str(a.dtype).encode())
        h.update(a.tobytes() if a.dtype != object else "\x00".join(map(str, a.tolist())).encode())
    d = h.digest()
    return [float(int.from_bytes(d[:6], "big")), float(int.from_bytes(d[6:12], "big"))]


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
    """
    cluster = cluster_from_env()
    strategy = _strategy(threads)  # first: collective ops are configured at startup
    import tensorflow as tf

    from .corpus import ParquetCorpus
    from .model import Item2VecModel
    from .train import EpochStats

    config = config.validate()
    if shard not in ("auto", "row_groups", "hash"):
        raise ParameterError(f"shard must be 'auto', 'row_groups' or 'hash', got {shard!r}")
    t_start = _now()
    corpus = ParquetCorpus(
        data_path, session=session, item=item, time=time, min_count=config.min_count,
        min_length=min_length, collapse_repeats=collapse_repeats, batch_rows=batch_rows,
    )  # fmt: skip
    vocab = corpus.vocabulary
    sync = _Sync(strategy, cluster)
    if not sync.all_equal(_fingerprint(vocab.ids, vocab.counts)):
        raise TrainingError(
            f"worker {cluster.task_index} built a different vocabulary from {data_path} than "
            "the others: every worker must read the same data with the same options"
        )
    if config.negatives > 0 and len(vocab) < 2:
        raise ParameterError(f"negatives={config.negatives} needs at least 2 items")
    mode = choose_aggregation(aggregation, len(vocab), config.dim, config.separate_output)
    mine = corpus.shard(cluster.task_index, cluster.n_workers, by=shard)
    with strategy.scope():
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
    per_epoch = corpus.expected_units(config.sample)  # whole corpus: a global step count
    total_steps = max(
        1, math.ceil(per_epoch / (config.batch_size * cluster.n_workers)) * config.epochs
    )
    step = _Step(strategy, model, config, mode, total_steps)

    def dataset_for(epoch: int):
        def fn(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
            part = corpus.shard(ctx.input_pipeline_id, ctx.num_input_pipelines, by=shard)

            def gen():
                for u in part.stream_units(**config.stream_kwargs(epoch)):
                    yield u.contexts, u.targets, u.negatives

            return tf.data.Dataset.from_generator(gen, output_signature=spec).prefetch(4)

        return strategy.distribute_datasets_from_function(fn)

    history: list[dict[str, Any]] = []
    global_step = 0
    for epoch in range(config.epochs):
        t0 = _now()
        totals = np.zeros(2)
        steps = 0
        iterator = iter(dataset_for(epoch))
        while True:
            sums, done = step.run(iterator, tf.constant(global_step, tf.int64))
            if not int(done):
                break
            totals += sums.numpy()
            steps += 1
            global_step += 1
        loss, couples = totals.tolist()
        lr = float(step.learning_rate(max(global_step - 1, 0)))
        tables = [v.numpy() for v in step.tables]
        if not all(np.isfinite(t).all() for t in tables):
            raise TrainingError(
                f"training diverged: non-finite weights after epoch {epoch + 1} (step "
                f"{global_step}); lower learning_rate or batch_size"
            )
        if not sync.all_equal(_fingerprint(*tables)):  # never expected: say so, repair
            print(f"item2vec: worker {cluster.task_index}: tables differ between workers after "
                  f"epoch {epoch + 1}; copying the chief's", file=sys.stderr)  # fmt: skip
            sync.copy_from_chief(step.tables + step.accumulators, cluster.is_chief)
        stats = EpochStats(epoch + 1, loss / max(couples, 1.0), int(couples), _now() - t0, lr)
        stats.metrics["steps"] = float(steps)
        history.append(stats.as_dict())
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
        from .io import save_model

        extra = {"output_vectors": model.E_out.numpy()} if config.separate_output else None
        saved = os.fspath(
            save_model(
                out, vectors=vectors, biases=biases, vocabulary=vocab,
                config=config.to_dict(), history=history, extra_arrays=extra,
            )
        )  # fmt: skip
    sync.all_equal([0.0, 0.0])  # barrier: nobody leaves while the chief still saves
    return DistributedResult(
        cluster=cluster, history=history, vectors=vectors, biases=biases, vocabulary=vocab,
        aggregation=mode, saved=saved, shard_events=mine.shard_events,
        seconds=_now() - t_start,
    )  # fmt: skip


def _now() -> float:
    return time.perf_counter()


# --------------------------------------------------------------------------- launcher
@dataclass
class WorkerExit:
    """How one launched worker ended."""

    index: int
    returncode: int | None  # None: still running when killed after a timeout
    timed_out: bool = False
    log: str | None = None  # its output file (None: it wrote to this terminal)
    killed: bool = False  # stopped because another worker failed
    tail: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct ports that were free a moment ago (bound to port 0, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def launch_local(
    n_workers: int,
    train_args: Sequence[str],
    *,
    timeout: float = 3600.0,
    grace: float = 30.0,
    log_dir: str | os.PathLike | None = None,
    threads: int | None = None,
    env: dict[str, str] | None = None,
) -> list[WorkerExit]:
    """Run ``python -m item2vec.distributed train <train_args>`` as ``n_workers`` local
    processes on free 127.0.0.1 ports, each with its ``TF_CONFIG``, and wait for them.

    All workers are killed after ``timeout`` seconds; when one fails the others get
    ``grace`` seconds to notice (collectives then abort) before they are killed. Output
    goes to ``log_dir/worker-<i>.log`` (default: the chief writes to this terminal, the
    others to files in a new temporary folder). ``threads`` sets each worker's intra-op
    threads (default: the cores divided by the workers). Returns one :class:`WorkerExit`
    per worker, in index order.
    """
    if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
        raise ParameterError(f"n_workers must be an integer >= 1, got {n_workers!r}")
    if not timeout > 0:
        raise ParameterError(f"timeout must be > 0 seconds, got {timeout!r}")
    ports = free_ports(n_workers)
    hosts = [f"127.0.0.1:{p}" for p in ports]
    if threads is None:
        threads = max(1, (os.cpu_count() or 1) // n_workers)
    to_files = log_dir is not None
    log_dir = os.fspath(log_dir) if to_files else tempfile.mkdtemp(prefix="item2vec-workers-")
    os.makedirs(log_dir, exist_ok=True)
    procs: list[subprocess.Popen] = []
    logs: list[str | None] = []
    try:
        for i in range(n_workers):
            wenv = dict(os.environ if env is None else env)
            wenv["TF_CONFIG"] = json.dumps(
                {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}}
            )
            wenv.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
            cmd = [sys.executable, "-m", "item2vec.distributed", "train",
                   "--threads", str(threads), *train_args]  # fmt: skip
            if i == 0 and not to_files:
                logs.append(None)
                procs.append(subprocess.Popen(cmd, env=wenv, start_new_session=True))
            else:
                path = os.path.join(log_dir, f"worker-{i}.log")
                logs.append(path)
                with open(path, "wb") as f:
                    procs.append(subprocess.Popen(cmd, env=wenv, stdout=f,
                                                  stderr=subprocess.STDOUT,
                                                  start_new_session=True))  # fmt: skip
        exits = _wait(procs, timeout, grace)
    finally:
        for p in procs:  # never leave a worker behind
            if p.poll() is None:
                _kill(p)
    results = []
    for i, (code, timed_out, killed) in enumerate(exits):
        tail = _tail(logs[i]) if code != 0 and logs[i] else []
        results.append(WorkerExit(i, code, timed_out, logs[i], killed, tail))
    return results


def _wait(procs: list[subprocess.Popen], timeout: float, grace: float) -> list[tuple]:
    deadline = time.monotonic() + timeout
    failed_at: float | None = None
    while True:
        codes = [p.poll() for p in procs]
        if all(c is not None for c in codes):
            return [(c, False, False) for c in codes]
        now = time.monotonic()
        if failed_at is None and any(c not in (None, 0) for c in codes):
            failed_at = now
        if now > deadline or (failed_at is not None and now > failed_at + grace):
            out = []
            for p, c in zip(procs, codes):
                if c is None:
                    _kill(p)
                    out.append((None, now > deadline, now <= deadline))
                else:
                    out.append((c, False, False))
            return out
        time.sleep(0.1)


def _kill(p: subprocess.Popen) -> None:
    try:
        os.killpg(p.pid, signal.SIGKILL)  # its own session: the worker and nothing else
    except (ProcessLookupError, PermissionError):
        p.kill()
    p.wait()


def _tail(path: str, n: int = 15) -> list[str]:
    try:
        with open(path, errors="replace") as f:
            return f.read().splitlines()[-n:]
    except OSError:
        return []


# --------------------------------------------------------------------------- command line
def add_distributed_options(parser: argparse.ArgumentParser) -> None:
    """The options a worker needs beyond ``item2vec train``'s (for wiring the main CLI)."""
    g = parser.add_argument_group("distributed")
    g.add_argument("--chunk-events", type=int, default=Config().chunk_events)
    g.add_argument("--batch-rows", type=int, default=65_536, help="Parquet rows per read")
    g.add_argument("--shard", choices=("auto", "row_groups", "hash"), default="auto")
    g.add_argument("--aggregation", choices=AGGREGATIONS, default="auto")
    g.add_argument("--dump-dir", help="every worker writes its final tables here")
    g.add_argument("--threads", type=int, help="TensorFlow intra-op threads")


def run_worker(args: argparse.Namespace) -> int:
    """Train as one worker from parsed ``item2vec train`` options plus
    :func:`add_distributed_options`; prints one summary line."""
    from .cli import _hyperparameters

    if getattr(args, "user_col", None) or getattr(args, "gap", None):
        raise ParameterError("distributed training needs --session-col (no --user-col/--gap)")
    params = _hyperparameters(args)
    params.pop("workers", None)  # Hogwild threads: one collective step at a time here
    config = Config(
        **params, min_count=args.min_count, chunk_events=args.chunk_events,
        separate_output=bool(getattr(args, "separate_output", False)),
    )  # fmt: skip
    result = train_distributed(
        args.data, session=args.session_col, item=args.item_col, time=args.time_col,
        config=config, out=args.out, min_length=args.min_length,
        collapse_repeats=bool(getattr(args, "collapse_repeats", False)),
        batch_rows=args.batch_rows, shard=args.shard, aggregation=args.aggregation,
        dump_dir=args.dump_dir, threads=args.threads, progress=not args.quiet,
    )  # fmt: skip
    c = result.cluster
    last = result.history[-1]
    print(
        f"worker {c.task_index}/{c.n_workers}: {result.shard_events:,} events in its shard, "
        f"{result.aggregation} aggregation, last epoch loss {last['loss']:.4f}, "
        f"{last['couples_per_second']:,.0f} couples/s, {result.seconds:.1f} s"
        + (f"; saved {result.saved}" if result.saved else ""),
        flush=True,
    )
    return 0


def _train_parser() -> argparse.ArgumentParser:
    from .cli import _add_hyperparameters

    p = argparse.ArgumentParser(
        prog="python -m item2vec.distributed train",
        description="One worker of a multi-worker training run (reads TF_CONFIG).",
    )
    p.add_argument("data", metavar="DATA", help="Parquet file or dataset directory")
    p.add_argument("--session-col", required=True, help="session / basket id column")
    p.add_argument("--item-col", required=True, help="item id column")
    p.add_argument("--time-col", help="column to order the events of a session by")
    p.add_argument("--min-count", type=int, default=1, help="drop items seen fewer times")
    p.add_argument("--min-length", type=int, default=2, help="drop shorter sessions")
    p.add_argument("--collapse-repeats", action="store_true", help="merge consecutive repeats")
    p.add_argument("--out", required=True, help="model directory (written by the chief)")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    p.add_argument("--separate-output", action="store_true", help="word2vec's output table")
    _add_hyperparameters(p)
    add_distributed_options(p)
    return p


def _run_launch(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m item2vec.distributed launch",
        description="Start N local workers on free 127.0.0.1 ports and wait for them.",
        epilog="Everything after -- is passed to every worker (see the 'train' command).",
    )
    p.add_argument("--workers", type=int, required=True, help="number of worker processes")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds before all are killed")
    p.add_argument("--log-dir", help="write every worker's output to LOG_DIR/worker-<i>.log")
    p.add_argument("--threads", type=int, help="intra-op threads per worker")
    argv = list(argv)
    split = argv.index("--") if "--" in argv else len(argv)
    args = p.parse_args(argv[:split])
    exits = launch_local(
        args.workers, argv[split + 1 :], timeout=args.timeout, log_dir=args.log_dir,
        threads=args.threads,
    )  # fmt: skip
    for e in exits:
        how = "timed out" if e.timed_out else "killed after another worker failed" if e.killed \
            else f"exit code {e.returncode}"  # fmt: skip
        where = f" (log {e.log})" if e.log else ""
        print(f"worker {e.index}: {how}{where}", file=sys.stderr)
        for line in e.tail:
            print(f"  | {line}", file=sys.stderr)
    return 0 if all(e.ok for e in exits) else 1


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    usage = "usage: python -m item2vec.distributed {launch,train} ..."
    if not argv or argv[0] not in ("launch", "train"):
        print(usage, file=sys.stderr)
        return 2
    try:
        if argv[0] == "launch":
            return _run_launch(argv[1:])
        return run_worker(_train_parser().parse_args(argv[1:]))
    except Item2VecError as e:
        print(f"item2vec: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
