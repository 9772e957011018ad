"""Collectives of multi-worker training outside the training step, under the watchdog.

:class:`Sync` runs the small exchanges of :func:`~item2vec.distributed.train_distributed`:
the vocabulary and table checks, barriers, the chief's decision on resuming (a JSON
broadcast) and the chief's tables to every worker. Each call names how long this worker may
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
