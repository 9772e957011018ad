"""Hyperparameters: one typed dataclass, validated in one place."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from .checks import DEVICES, DIRECTIONS, MODES, OPTIMIZERS, check_choice, check_int, check_real
from .exceptions import ParameterError

__all__ = ["AUTO_EVENTS", "AUTO_MAX_EPOCHS", "AUTO_MIN_EPOCHS", "AUTO_NEGATIVE_BLOCK", "DEVICES",
           "MODES", "OPTIMIZERS", "RUN_SETTINGS", "Config", "auto_epochs"]  # fmt: skip

AUTO_EVENTS = 4_000_000
"""Events of training ``epochs=None`` aims at: enough passes that a small log is trained too."""
AUTO_MIN_EPOCHS, AUTO_MAX_EPOCHS = 10, 100
"""Bounds of the automatic number of epochs."""
RUN_SETTINGS = ("workers", "device", "chunk_events")
"""Fields that say how a run executes, not what it trains: ``Item2Vec.update`` takes them
from the estimator's current parameters and every other field from the model's ``config_``."""
AUTO_NEGATIVE_BLOCK = 8
"""Targets trained as one block when ``negative_block=None`` (skip-gram, integer window; see
:meth:`Config.block`)."""


def auto_epochs(n_events: int) -> int:
    """Epochs for a corpus of ``n_events`` when the user does not set them.

    ``ceil(AUTO_EVENTS / n_events)`` clipped to ``[AUTO_MIN_EPOCHS, AUTO_MAX_EPOCHS]``: about
    4 M events of training (10 epochs from 400 k events up, 100 epochs below 40 k events).
    Measured on subsamples of Online Retail (300 and 1,000 customers, 2,000 baskets), 10
    epochs left the model near popularity while 40-100 trained it; on the whole log 10-20
    epochs are enough (benchmarks/README.md). The cost stays about that of 4 M events.
    """
    check_int("n_events", n_events, 0)
    return min(AUTO_MAX_EPOCHS, max(AUTO_MIN_EPOCHS, math.ceil(AUTO_EVENTS / max(n_events, 1))))


@dataclass
class Config:
    """Everything that defines a training run (see :class:`item2vec.Item2Vec` for meanings).

    ``epochs=None`` means "from the corpus size" (:func:`auto_epochs`); the trainers run on
    :meth:`for_corpus`, which fixes it. ``device`` is the one asked for (``"auto"``,
    ``"cpu"``, ``"gpu"``); the trainer resolves it (:func:`item2vec.training.train.resolve_device`).
    """

    dim: int = 64
    window: int | str = 3
    negatives: int = 5
    ns_exponent: float = 0.75
    sample: float = 1e-3
    epochs: int | None = None
    mode: str = "skipgram"
    min_count: int = 1
    batch_size: int = 2048
    negative_block: int | None = None
    learning_rate: float = 0.025
    min_learning_rate: float = 1e-4
    optimizer: str = "sgd"
    shrink_window: bool = True
    direction: str = "both"
    max_contexts: int | None = None
    separate_output: bool = False
    workers: int = 2
    device: str = "auto"
    chunk_events: int = 250_000
    seed: int = 0

    def validate(self) -> Config:
        """Raise :class:`ParameterError` naming the first invalid field; return self."""
        check_int("dim", self.dim, 1)
        if self.window != "session":
            check_int("window", self.window, 1, extra=" or 'session'")
        check_int("negatives", self.negatives, 0)
        check_real("ns_exponent", self.ns_exponent)
        check_real("sample", self.sample, 0.0)
        if self.epochs is not None:
            check_int("epochs", self.epochs, 1, extra=" or None (automatic)")
        check_choice("mode", self.mode, MODES)
        check_int("min_count", self.min_count, 1)
        check_int("batch_size", self.batch_size, 1)
        if self.negative_block is not None:
            check_int("negative_block", self.negative_block, 1, extra=" or None (automatic)")
            if self.batch_size % self.negative_block:
                raise ParameterError(
                    f"negative_block must divide batch_size ({self.batch_size}), "
                    f"got {self.negative_block!r}"
                )
        check_real("learning_rate", self.learning_rate, 0.0, strict=True)
        check_real("min_learning_rate", self.min_learning_rate, 0.0)
        if self.min_learning_rate > self.learning_rate:
            raise ParameterError(
                f"min_learning_rate must be <= learning_rate ({self.learning_rate}), "
                f"got {self.min_learning_rate!r}"
            )
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("direction", self.direction, DIRECTIONS)
        if self.max_contexts is not None:
            check_int("max_contexts", self.max_contexts, 1)
            if self.window != "session":
                raise ParameterError(
                    f"max_contexts applies only to window='session', got "
                    f"max_contexts={self.max_contexts!r} with window={self.window!r}"
                )
        check_int("workers", self.workers, 1)
        check_choice("device", self.device, DEVICES)
        check_int("chunk_events", self.chunk_events, 1)
        check_int("seed", self.seed, 0)
        return self

    def for_corpus(self, n_events: int) -> Config:
        """This config with ``epochs`` set: as given, or :func:`auto_epochs` of the corpus."""
        if self.epochs is not None:
            return self
        return dataclasses.replace(self, epochs=auto_epochs(n_events))

    def block(self) -> int:
        """Targets per block in the single-process trainer: ``negative_block``, or when it
        is ``None`` :data:`AUTO_NEGATIVE_BLOCK` for skip-gram with an integer window and 1
        otherwise (a session window's contexts outnumber the negatives: no gain), or when
        it does not divide ``batch_size``. On in-memory sessions a block is consecutive
        targets of a session (:func:`~item2vec.sampling.feed.uses_spans`: 0.72-0.94x of the fit
        time of random blocks of units on Online Retail, HR@10 +0.000 to +0.006), on a
        streamed corpus random units sharing one draw of negatives."""
        if self.negative_block is not None:
            return self.negative_block
        if self.mode != "skipgram" or self.window == "session":
            return 1
        return AUTO_NEGATIVE_BLOCK if self.batch_size % AUTO_NEGATIVE_BLOCK == 0 else 1

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def stream_kwargs(self, epoch: int, block: int = 1) -> dict[str, Any]:
        """Keyword arguments of ``stream_units`` (in-memory or Parquet) for one epoch; for
        units that share negatives in blocks of ``block``, ``ceil(negatives / block)``
        negatives per unit (a block's units carry its draws, see
        :func:`~item2vec.sampling.feed.width_groups`)."""
        return dict(
            batch_size=self.batch_size,
            window=self.window,
            negatives=-(-self.negatives // block),
            ns_exponent=self.ns_exponent,
            sample=self.sample,
            shrink_window=self.shrink_window,
            max_contexts=self.max_contexts,
            direction=self.direction,
            seed=self.seed,
            epoch=epoch,
            chunk_events=self.chunk_events,
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Config:
        """Build from a saved dict; unknown keys are an error (naming them)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ParameterError(f"unknown config keys: {', '.join(unknown)}")
        return cls(**d).validate()
