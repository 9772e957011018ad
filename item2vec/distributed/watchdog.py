"""Noticing a lost worker in multi-worker training, in bounded time.

Two mechanisms, see ``docs/scaling.md`` ("Checkpoints and failures"):

- A worker that dies or becomes unreachable stops sending heartbeats to TensorFlow's
  coordination service (run by the chief); the service aborts the collectives of the
  others, about 10 s later (TensorFlow's default heartbeat timeout; 11 s measured on
  loopback). A dead chief's connections reset, which aborts the others at once.
- A worker that is alive but stuck (a hung read, a deadlock) still sends heartbeats. The
  :class:`CollectiveWatchdog` of every worker bounds how long it waits in one collective:
  past the deadline it aborts this process's collectives
  (``context.abort_collective_ops``, what TensorFlow's own health check does), and if the
  blocked call still has not returned after a grace period (it was stuck in its own input,
  not in a collective) it ends the process with :data:`EXIT_WORKER_LOST`.

One watchdog thread per process. TensorFlow's per-collective ``timeout_seconds`` option was
not used: it starts a sleeping thread for every collective (documented as "only for
debugging"), and on the 2-core VM it cost about 1 ms per collective, several per step.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..exceptions import TrainingError
from .cluster import ClusterSpec

__all__ = [
    "DEFAULT_COLLECTIVE_TIMEOUT",
    "EXIT_WORKER_LOST",
    "CollectiveWatchdog",
    "Progress",
    "WorkerLostError",
    "describe_failure",
    "is_collective_failure",
    "lost_worker_error",
    "named_tasks",
    "unreachable_peers",
]

#: Exit code of a worker that stopped because another worker was lost (or it was stuck
#: itself): ``EX_TEMPFAIL`` of sysexits.h, "try again". The launcher restarts on it.
EXIT_WORKER_LOST = 75
#: Seconds a worker waits in one collective for the others before it gives up. Dead workers
#: are noticed by heartbeats in about 10 s; this bounds a worker that is alive but stuck, and
#: must exceed the longest legitimate wait inside a step (one worker sampling a new chunk,
#: tracing the step at the start, a pause of the machine). Waits that follow long work of one
#: worker (the data pass, skipping to a resume position, the chief writing a checkpoint or
#: the model) get that work's duration on top.
DEFAULT_COLLECTIVE_TIMEOUT = 120.0
_TASK = re.compile(r"/job:worker/(?:replica:\d+/)?task:(\d+)")


class WorkerLostError(TrainingError):
    """Training stopped because a worker was lost; restart every worker to resume.

    ``lost``: the indices of the workers named as lost (empty when unknown); ``checkpoint``:
    the checkpoint a restart resumes from (``None``: it starts over)."""

    def __init__(self, message: str, lost: list[int], checkpoint: str | None) -> None:
        super().__init__(message)
        self.lost = lost
        self.checkpoint = checkpoint


def named_tasks(message: str, own: int) -> list[int]:
    """The worker indices other than ``own`` that a TensorFlow error message names."""
    return sorted({int(m) for m in _TASK.findall(message)} - {own})


class CollectiveWatchdog:
    """Bounds the time this process spends blocked in one collective (see the module).

    ``with dog.waiting(seconds, "step 12"):`` around each call that runs collectives; a
    deadline of ``seconds`` from entry. ``fired`` tells whether it aborted the collectives,
    ``what`` and ``limit`` what it was waiting for."""

    def __init__(self, task_index: int, grace: float, poll: float = 1.0) -> None:
        self.task_index = task_index
        self.grace = grace
        self.poll = poll
        self.fired = False
        self.what = ""
        self.limit = 0.0
        self._deadline: float | None = None
        self._armed = 0  # counts the calls to waiting(): a new call is a new deadline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="item2vec-watchdog",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    @contextmanager
    def waiting(self, seconds: float, what: str) -> Iterator[None]:
        # plain attribute writes (atomic under the GIL): this runs once per training step
        self.what, self.limit = what, seconds
        self._armed += 1
        self._deadline = time.monotonic() + seconds
        try:
            yield
        finally:
            self._deadline = None

    def close(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        aborted: tuple[int, float] | None = None  # (which call, when)
        while not self._stop.wait(self.poll):
            deadline, armed, now = self._deadline, self._armed, time.monotonic()
            if deadline is None or (aborted is not None and aborted[0] != armed):
                aborted = None
            if deadline is None:
                continue
            if aborted is None and now >= deadline:
                self.fired = True
                aborted = (armed, now)
                self._abort()
            elif aborted is not None and now >= aborted[1] + self.grace:
                print(f"item2vec: error: worker {self.task_index} made no progress for "
                      f"{self.limit + self.grace:.0f} s in {self.what} (its own input or a "
                      "collective is stuck) and stops; restart every worker with the same "
                      "arguments to resume from the last checkpoint",
                      file=sys.stderr, flush=True)  # fmt: skip
                sys.stdout.flush()
                os._exit(EXIT_WORKER_LOST)  # the blocked call cannot be interrupted

    def _abort(self) -> None:
        from tensorflow.python.eager import context
        from tensorflow.python.framework import errors

        context.context().abort_collective_ops(
            errors.DEADLINE_EXCEEDED,
            f"item2vec watchdog: no answer from the other workers within {self.limit:.0f} s "
            f"in {self.what}",
        )


def unreachable_peers(n_workers: int, own: int, timeout_s: float = 5.0) -> list[int]:
    """Workers other than ``own`` that do not answer a collective health check."""
    from tensorflow.python.eager import context

    down = []
    for i in range(n_workers):
        if i == own:
            continue
        try:
            context.context().check_collective_ops_peer_health(
                f"/job:worker/replica:0/task:{i}", timeout_in_ms=int(timeout_s * 1000)
            )
        except Exception:  # noqa: BLE001 - any failure means it does not answer
            down.append(i)
    return down


def describe_failure(e: Any, dog: CollectiveWatchdog, own: int, n_workers: int) -> tuple[
        list[int], str]:  # fmt: skip
    """``(lost workers, why)`` for a collective that failed with the TensorFlow error ``e``."""
    text = str(getattr(e, "message", "") or e)
    named = named_tasks(text, own)
    others = [i for i in range(n_workers) if i != own]
    if dog.fired:
        down = unreachable_peers(n_workers, own)
        if down:
            return down, f"it did not answer within {dog.limit:.0f} s and is unreachable"
        they = "it is" if len(others) == 1 else "they are (one of them did not answer)"
        return others, f"no answer within {dog.limit:.0f} s although {they} reachable (stuck?)"
    if "item2vec watchdog" in text:  # another worker's watchdog gave up first
        return named or others, f"it gave up waiting ({_reason(text)})"
    if "heartbeat" in text.lower():
        return named, "it stopped sending heartbeats (dead, killed or unreachable)"
    if named:
        return named, "its connection failed (" + _reason(text) + ")"
    return [], _reason(text)


def _reason(text: str) -> str:
    m = re.search(r"aborted by: (.*)", text)
    line = (m.group(1) if m else text.strip().splitlines()[0] if text.strip() else "").strip()
    return line[:200]


class Progress:
    """Where this worker is, for the message when a worker is lost."""

    def __init__(self, cluster: ClusterSpec, checkpoints: Any) -> None:
        self.cluster, self.checkpoints = cluster, checkpoints
        self.where = "start-up"
        self.last: tuple[str, str] | None = None  # (path, position) of the last checkpoint

    def resume_hint(self) -> tuple[str, str | None]:
        n = self.cluster.n_workers
        if self.checkpoints is None:
            return "Checkpoints are off (--checkpoint-every 0): a restart starts over.", None
        if self.last is None:
            return (f"No checkpoint in {self.checkpoints.directory} yet: a restart of all {n} "
                    "workers with the same arguments starts over."), None  # fmt: skip
        path, pos = self.last
        on = "" if self.cluster.is_chief else " (on the chief's storage)"
        return (f"Restart all {n} workers with the same arguments to resume from the last "
                f"checkpoint, {path}{on} ({pos})."), path  # fmt: skip


def is_collective_failure(e: BaseException, dog: CollectiveWatchdog) -> bool:
    import tensorflow as tf

    kinds = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
             tf.errors.AbortedError, tf.errors.CancelledError)  # fmt: skip
    return dog.fired or isinstance(e, kinds) or "ollective" in str(e)


def lost_worker_error(
    e: BaseException, dog: CollectiveWatchdog, progress: Progress
) -> WorkerLostError:
    """The error every surviving worker raises: who was lost, why, and how to resume."""
    c = progress.cluster
    lost, why = describe_failure(e, dog, c.task_index, c.n_workers)
    who = ", ".join(f"worker {i}" for i in lost) or "contact with the other workers"
    hint, path = progress.resume_hint()
    return WorkerLostError(
        f"worker {c.task_index} of {c.n_workers} stopped in {progress.where}: lost {who}: "
        f"{why}. {hint}", lost, path,
    )  # fmt: skip
