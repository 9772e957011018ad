"""Checkpoints of a single-process training run: written atomically every few steps,
restored exactly (:class:`Checkpointer`)."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np

from ..config import Config
from ..exceptions import TrainingError
from .model import Item2VecModel
from .state import EpochStats, TrainState


class Checkpointable(Protocol):
    """What :class:`Checkpointer` reads and restores: the public side of
    :class:`~item2vec.training.train.Trainer`."""

    model: Item2VecModel
    sessions: Any  # Sessions or a UnitSource: anything with a ``vocabulary``
    config: Config
    history: list[EpochStats]
    state: TrainState

    def optimizer_state(self) -> dict[str, np.ndarray]:
        """The optimizer's arrays by name (empty for SGD)."""
        ...

    def restore_optimizer_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Load :meth:`optimizer_state`'s arrays back."""
        ...


class Checkpointer:
    """Writes the trainer's full state every ``every`` steps, atomically, and restores it.

    A checkpoint is an ordinary model directory (:func:`item2vec.io.save_model`, so it can be
    loaded and queried) plus the optimizer state (``trainer.optimizer_state()``), the separate
    output table if any, the history so far and the :class:`TrainState` in ``meta.json``. The
    sampler needs no saved RNG state: an epoch's stream is a pure function of ``(seed,
    epoch)`` and resuming skips the batches already done. With several workers a batch that
    was still running when the checkpoint was taken is redone or skipped: at most
    ``workers - 1`` batches.
    """

    def __init__(self, trainer: Checkpointable, directory: str | os.PathLike, every: int) -> None:
        self.trainer = trainer
        self.directory = directory
        self.every = every
        self._done = 0  # checkpoints due so far (steps advance a group of batches at a time)

    def on_step(self, state: TrainState) -> None:
        if state.global_step // self.every > self._done:
            self._done = state.global_step // self.every
            self.save()

    def save(self) -> None:
        from ..io import save_model

        t = self.trainer
        extras = dict(t.optimizer_state())
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
        from ..io import load_model

        t = self.trainer
        ck = load_model(self.directory)
        saved = dict(ck.config)
        ours = t.config.to_dict()
        # the device is where, not what: a run may resume on another (or from a checkpoint
        # written before devices could be chosen)
        differ = sorted(
            k for k in ours if k not in ("epochs", "device") and saved.get(k) != ours[k]
        )
        if differ:
            raise TrainingError(
                f"checkpoint {self.directory} was written with different settings "
                f"({', '.join(f'{k}={saved.get(k)!r} vs {ours[k]!r}' for k in differ)}); "
                "resume with the same settings or remove the checkpoint"
            )
        if ck.vocabulary != t.sessions.vocabulary:  # ids and counts: the same log
            raise TrainingError(
                f"checkpoint {self.directory} was trained on a different vocabulary (other "
                "item ids or counts: another log, or a fit's checkpoint met by an update); "
                "resume on the same data or remove the checkpoint"
            )
        if ck.meta.get("state") is None:
            raise TrainingError(f"{self.directory} is a model, not a training checkpoint")
        t.model.E.assign(ck.vectors)
        t.model.b.assign(ck.biases[:, None])
        if t.model.output_embedding is not None:
            t.model.E_out.assign(ck.extra_arrays["output_vectors"])
        t.restore_optimizer_state(ck.extra_arrays)
        t.history = [EpochStats.from_dict(h) for h in ck.history or []]
        state = TrainState(**ck.meta["state"])
        self._done = state.global_step // self.every
        return state


def run_with_checkpoints(
    trainer: Any,
    owner: Any,
    vocabulary: Any,
    *,
    resume: bool,
    on_epoch: Callable[[EpochStats], None] | None = None,
    interrupted: str,
) -> None:
    """``trainer.fit`` with the estimator ``owner``'s neighbour monitor (``owner.monitor``)
    and checkpoints (``owner.checkpoint_dir``, every ``owner.checkpoint_every`` steps and
    after every epoch), resuming from the last one when ``resume``; ``on_epoch`` runs first
    at each epoch's end. On Ctrl-C a checkpoint is written and ``interrupted`` (what was
    interrupted and how to resume, with ``{epoch}``, ``{step}`` and ``{directory}``) printed.
    Shared by ``Item2Vec.fit`` and ``Item2Vec.update``."""
    from .monitor import NeighbourMonitor

    if owner.monitor:
        trainer.on_step.append(
            NeighbourMonitor(
                trainer.model,
                vocabulary,
                list(owner.monitor),
                every=owner.monitor_every,
                descriptions=owner.descriptions,
            )  # fmt: skip
        )
    checkpointer, state = None, None
    if owner.checkpoint_dir is not None:
        checkpointer = Checkpointer(
            trainer, os.fspath(owner.checkpoint_dir), owner.checkpoint_every
        )
        trainer.on_step.append(checkpointer.on_step)
        if resume and os.path.exists(os.path.join(checkpointer.directory, "meta.json")):
            state = checkpointer.restore()

    def on_epoch_end(stats: EpochStats) -> None:
        if on_epoch is not None:
            on_epoch(stats)
        if checkpointer is not None:
            checkpointer.save()

    trainer.on_epoch_end = on_epoch_end
    try:
        trainer.fit(state)
    except KeyboardInterrupt:
        if checkpointer is not None:
            checkpointer.save()
            st = trainer.state
            text = interrupted.format(
                epoch=st.epoch + 1, step=st.global_step, directory=checkpointer.directory
            )
            print(f"item2vec: {text}", file=sys.stderr)
        raise
