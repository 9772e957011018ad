"""Collectives of multi-worker training outside the training step, under the watchdog.

:class:`Sync` runs the small exchanges of :func:`~item2vec.distributed.train_distributed`:
the vocabulary and table checks, barriers, the chief's decision on resuming (a JSON
broadcast), the chief's tables to every worker and the workers' neighbour counts to the
chief (:meth:`Sync.gather_arrays`). Each call names how long this worker may
wait for the others (:class:`~item2vec.distributed.watchdog.CollectiveWatchdog`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from .cluster import ClusterSpec
from .watchdog import CollectiveWatchdog

__all__ = ["Sync", "fingerprint", "write_allowance"]

#: Float64 values each worker sends per all-reduce of :meth:`Sync.gather_arrays` (2 MiB).
GATHER_CHUNK = 1 << 18

#: Bytes per second assumed when allowing for a checkpoint or model write (a slow network
#: disk): the others wait ``timeout + bytes / WRITE_BYTES_PER_SECOND`` for the chief.
WRITE_BYTES_PER_SECOND = 20e6


class Sync:
    """Small collectives outside the training step, each under the watchdog.

    ``seconds`` is how long a worker may wait for the others in that collective."""

    def __init__(self, strategy: Any, cluster: ClusterSpec, dog: CollectiveWatchdog) -> None:
        import tensorflow as tf

        self.strategy, self.cluster, self.dog = strategy, cluster, dog
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

    def _local(self, out: Any) -> Any:
        return self.strategy.experimental_local_results(out)[0]

    def gather(self, numbers: Sequence[float], seconds: float, what: str) -> np.ndarray:
        """Every worker's two numbers, ``(n_workers, 2)`` float64, in worker order."""
        import tensorflow as tf

        with self.dog.waiting(seconds, what):
            out = self._gather(tf.constant(list(numbers), tf.float64))
            return self._local(out).numpy()

    def all_equal(self, numbers: Sequence[float], seconds: float, what: str) -> bool:
        """True if every worker passed the same two numbers (one all-gather)."""
        every = self.gather(numbers, seconds, what)
        return bool((every == every[:1]).all())

    def gather_arrays(
        self, values: np.ndarray, seconds: float, what: str, chunk: int = GATHER_CHUNK
    ) -> list[np.ndarray]:
        """Every worker's 1-D float64 ``values`` (any length, each its own), in worker order.

        The lengths first (:meth:`gather`), then rounds of ``chunk`` values: each worker
        writes its part into its own row of a ``(n_workers, chunk)`` tensor that the others
        fill with zeros, and the engine's all-reduce SUM of those is every part, exactly
        (``x + 0 == x``). ``seconds`` is allowed for each round."""
        import tensorflow as tf

        values = np.ascontiguousarray(values, np.float64).ravel()
        sizes = self.gather([float(len(values)), 0.0], seconds, what)[:, 0].astype(np.int64)
        out = [np.empty(int(n)) for n in sizes]
        rows = self._rows_fn(chunk)
        for start in range(0, int(sizes.max(initial=0)), chunk):
            part = np.zeros(chunk)
            mine = values[start : start + chunk]
            part[: len(mine)] = mine
            with self.dog.waiting(seconds, what):
                every = self._local(rows(tf.constant(part))).numpy()
            for w, n in enumerate(sizes.tolist()):
                take = max(0, min(chunk, n - start))
                out[w][start : start + take] = every[w, :take]
        return out

    def _rows_fn(self, chunk: int) -> Any:
        """The compiled all-gather of one ``chunk``-long row per worker (kept per size)."""
        import tensorflow as tf

        cache = self.__dict__.setdefault("_rows", {})
        if chunk not in cache:
            where, shape = [[self.cluster.task_index]], [self.cluster.n_workers, chunk]
            strategy = self.strategy

            @tf.function(input_signature=[tf.TensorSpec([chunk], tf.float64)])
            def rows(x):
                def replica(v):
                    rc = tf.distribute.get_replica_context()
                    return rc.all_reduce(
                        tf.distribute.ReduceOp.SUM, tf.scatter_nd(where, [v], shape)
                    )

                return strategy.run(replica, args=(x,))

            cache[chunk] = rows
        return cache[chunk]

    def broadcast_json(self, obj: Any, seconds: float, what: str) -> Any:
        """The chief's ``obj`` (JSON-able; ignored elsewhere) on every worker."""
        import tensorflow as tf

        chief = self.cluster.is_chief
        data = json.dumps(obj).encode() if chief else b""
        n = int(self.gather([len(data), 0.0], seconds, what)[0, 0])
        mine = np.frombuffer(data, np.uint8) if chief else np.zeros(n, np.uint8)

        @tf.function
        def bcast(x):
            def replica(v):  # all-reduce a tensor made here (not the argument itself)
                rc = tf.distribute.get_replica_context()
                return rc.all_reduce(tf.distribute.ReduceOp.SUM, tf.identity(v))

            return self.strategy.run(replica, args=(x,))

        with self.dog.waiting(seconds, what):
            out = self._local(bcast(tf.constant(mine.astype(np.float32)))).numpy()
        return json.loads(out.astype(np.uint8).tobytes().decode())

    def load_from_chief(
        self, variables: list[Any], arrays: list[np.ndarray] | None, seconds: float, what: str
    ) -> None:
        """Give every worker the chief's ``arrays`` (one per variable; ignored elsewhere) as
        the values of ``variables``: an all-reduce in which the others add zeros (exact)."""
        import tensorflow as tf

        if not self.cluster.is_chief or arrays is None:
            arrays = [np.zeros(v.shape, v.dtype.as_numpy_dtype) for v in variables]

        @tf.function
        def load(*xs):
            def replica(*vs):
                rc = tf.distribute.get_replica_context()
                for v, x in zip(variables, vs):
                    v.assign(rc.all_reduce(tf.distribute.ReduceOp.SUM, tf.identity(x)))

            self.strategy.run(replica, args=xs)

        with self.dog.waiting(seconds, what):
            load(*[tf.constant(np.asarray(a, v.dtype.as_numpy_dtype))
                   for v, a in zip(variables, arrays)])  # fmt: skip


def fingerprint(*arrays: np.ndarray) -> list[float]:
    """Two 48-bit numbers from a sha256 of the arrays (exact in float64)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.asarray(a)
        h.update(str(a.dtype).encode())
        h.update(a.tobytes() if a.dtype != object else "\x00".join(map(str, a.tolist())).encode())
    d = h.digest()
    return [float(int.from_bytes(d[:6], "big")), float(int.from_bytes(d[6:12], "big"))]


def write_allowance(variables: list[Any]) -> float:
    """Seconds to allow for writing (or reading) ``variables`` at
    :data:`WRITE_BYTES_PER_SECOND`."""
    return sum(int(np.prod(v.shape)) * v.dtype.size for v in variables) / WRITE_BYTES_PER_SECOND
