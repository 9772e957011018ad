"""The trainer's loop: ``workers`` threads pull groups of batches from the feed and run
the step on the shared tables (Hogwild!), ending epochs in order (:func:`run_epochs`).

The workers live for the whole run, like gensim's job queue: one that reads the end of an
epoch goes on with the next epoch's groups while the others finish theirs, so no core idles
at an epoch boundary. An epoch ends when all of its groups are done: its stats are recorded,
the run checked for divergence (:mod:`item2vec.training.divergence`, also after every group)
and ``on_epoch_end`` called, in epoch order, by the worker that finished it (holding the
lock, so the others pause at their next group). With one worker this is the plain
sequential loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import tensorflow as tf

from ..config import Config
from .divergence import DivergenceGuard
from .monitor import progress_bar
from .state import EpochStats, TrainState

__all__ = ["LoopOwner", "run_epochs"]


class LoopOwner(Protocol):
    """What :func:`run_epochs` reads and updates: the public side of
    :class:`~item2vec.training.train.Trainer`."""

    config: Config
    state: TrainState
    history: list[EpochStats]
    device: str
    progress: bool
    total_units: float
    guard: DivergenceGuard
    on_epoch_end: Callable[[EpochStats], None] | None
    on_step: list[Callable[[TrainState], None]]

    def learning_rate(self, units_done: int) -> float: ...

    def units(self, targets: tf.Tensor) -> np.ndarray: ...

    def run_group(
        self, group: Sequence[tf.Tensor], rates: list[float]
    ) -> tuple[float, int, int]: ...

    def variables(self) -> list[tf.Variable]: ...


@dataclass
class _EpochRun:
    """An epoch in progress in :func:`run_epochs`: its groups in flight and its totals."""

    epoch: int
    done: int = 0  # batches done
    pending: int = 0  # groups read and not yet done
    closed: bool = False  # all of its groups have been read
    loss: float = 0.0
    scored: int = 0
    couples: int = 0
    lr: float = 0.0


def run_epochs(trainer: LoopOwner, feed: Iterator) -> None:
    """Run ``trainer``'s remaining epochs from ``feed``
    (:meth:`~item2vec.training.train.Trainer.feed`) on ``config.workers`` threads; raises the
    first error of any of them (a :class:`~item2vec.exceptions.TrainingError` when the run
    diverges), the others stopped.

    ``state.epoch`` is the oldest unfinished epoch and ``state.batch_in_epoch`` its batches
    done, which is what a checkpoint resumes from.
    """
    c = trainer.config
    lock = threading.Lock()
    errors: list[BaseException] = []
    open_: list[_EpochRun] = []  # unfinished epochs, oldest first
    reading = trainer.state.epoch  # the epoch whose groups the feed yields
    # the bar counts window units (targets), as the schedule does: a batch of spans
    # holds fewer than batch_size of them
    left = round(trainer.total_units * (c.epochs - reading) / c.epochs)
    bar = progress_bar(trainer.progress, left, unit=" targets", unit_scale=True)
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
                metrics={"device": trainer.device},
            )
            started = now
            trainer.state.epoch = run.epoch + 1
            trainer.state.batch_in_epoch = open_[0].done if open_ else 0
            problem = trainer.guard.epoch(stats.loss, trainer.variables(), epoch=stats.epoch,
                                          step=trainer.state.global_step)  # fmt: skip
            if problem is not None:
                raise problem
            trainer.history.append(stats)
            if bar is not None:
                bar.set_description(f"epoch {min(run.epoch + 2, c.epochs)}/{c.epochs}")
            if trainer.on_epoch_end is not None:
                trainer.on_epoch_end(stats)

    def worker() -> None:
        nonlocal reading
        while True:
            with lock:
                if errors or reading >= c.epochs:
                    return
                group = next(feed)
                tgt = group[1]
                if not open_ or open_[-1].epoch != reading:
                    done = trainer.state.batch_in_epoch if reading == trainer.state.epoch else 0
                    lr = trainer.learning_rate(trainer.state.units_done)
                    open_.append(_EpochRun(reading, done=done, lr=lr))
                run = open_[-1]
                if tgt.shape[0] == 0:  # the end of the epoch's groups
                    run.closed = True
                    reading += 1
                    finish()
                    continue
                run.pending += 1
                first = trainer.state.global_step
                n = int(tgt.shape[0])
                units = trainer.units(tgt)
                seen = trainer.state.units_done + np.concatenate([[0], np.cumsum(units)[:-1]])
                rates = [trainer.learning_rate(int(u)) for u in seen]
                trainer.state.global_step += n
                done_units = int(units.sum())
                trainer.state.units_done += done_units
                run.lr = rates[-1]
            loss, scored, couples = trainer.run_group(group, rates)
            with lock:
                run.pending -= 1
                problem = trainer.guard.group(loss, scored, epoch=run.epoch + 1, step=first + n,
                                              lr=rates[-1])  # fmt: skip
                if problem is not None:
                    errors.append(problem)
                    return
                run.loss += loss
                run.scored += scored
                run.couples += couples
                run.done += n
                if run is open_[0]:
                    trainer.state.batch_in_epoch = run.done
                if bar is not None:
                    bar.update(done_units)
                    el = time.perf_counter() - started
                    bar.set_postfix(
                        loss=f"{run.loss / max(run.scored, 1):.4f}",
                        couples_s=f"{run.couples / max(el, 1e-9):.3g}",
                        lr=f"{rates[-1]:.2g}",
                        refresh=False,
                    )
                for callback in trainer.on_step:
                    callback(trainer.state)
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
