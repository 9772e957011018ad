"""This process's place in a multi-worker cluster, read from ``TF_CONFIG``.

``TF_CONFIG`` is the JSON that ``tf.distribute.MultiWorkerMirroredStrategy`` reads:
``{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": i}}``.
:func:`~item2vec.distributed.launch.launch_local` writes it for local workers;
:func:`cluster_from_env` parses and checks it for
:func:`~item2vec.distributed.train_distributed`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from ..exceptions import ParameterError

__all__ = ["ClusterSpec", "cluster_from_env", "tf_config"]


def tf_config(workers: list[str], index: int) -> str:
    """The ``TF_CONFIG`` of worker ``index`` of ``workers`` (``"host:port"`` each)."""
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})


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
