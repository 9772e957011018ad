"""The distributed stage: data-parallel training over several processes or machines.

:func:`train_distributed` runs one worker of a ``tf.distribute`` cluster
(``TF_CONFIG``; :mod:`item2vec.distributed.cluster`), exchanges row gradients through the
collectives, checkpoints the cluster's position (:mod:`item2vec.distributed.checkpoint`),
notices a lost worker (:mod:`item2vec.distributed.watchdog`) and starts local clusters
(:mod:`item2vec.distributed.launch`). Its command line is
``python -m item2vec.distributed {launch,train}`` (:mod:`item2vec.distributed.cli`).

May import: the training, sampling and data stages and the top-level helpers
(``exceptions``, ``checks``, ``config``, ``io``, ``flags``).
"""

from .trainer import (
    AGGREGATIONS,
    DEFAULT_COLLECTIVE_TIMEOUT,
    EXIT_WORKER_LOST,
    ClusterSpec,
    DistributedResult,
    WorkerExit,
    WorkerLostError,
    choose_aggregation,
    cluster_from_env,
    free_ports,
    launch_local,
    train_distributed,
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
