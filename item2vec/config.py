"""Hyperparameters: one typed dataclass, validated in one place."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .checks import MODES, OPTIMIZERS, check_choice, check_int, check_real
from .exceptions import ParameterError

__all__ = ["MODES", "OPTIMIZERS", "Config"]


@dataclass
class Config:
    """Everything that defines a training run (see :class:`item2vec.Item2Vec` for meanings)."""

    dim: int = 64
    window: int | str = 3
    negatives: int = 5
    ns_exponent: float = 0.75
    sample: float = 1e-3
    epochs: int = 10
    mode: str = "skipgram"
    min_count: int = 1
    batch_size: int = 2048
    learning_rate: float = 0.025
    min_learning_rate: float = 1e-4
    optimizer: str = "sgd"
    shrink_window: bool = True
    max_contexts: int | None = None
    separate_output: bool = False
    workers: int = 2
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
        check_int("epochs", self.epochs, 1)
        check_choice("mode", self.mode, MODES)
        check_int("min_count", self.min_count, 1)
        check_int("batch_size", self.batch_size, 1)
        check_real("learning_rate", self.learning_rate, 0.0, strict=True)
        check_real("min_learning_rate", self.min_learning_rate, 0.0)
        if self.min_learning_rate > self.learning_rate:
            raise ParameterError(
                f"min_learning_rate must be <= learning_rate ({self.learning_rate}), "
                f"got {self.min_learning_rate!r}"
            )
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        if self.max_contexts is not None:
            check_int("max_contexts", self.max_contexts, 1)
            if self.window != "session":
                raise ParameterError(
                    f"max_contexts applies only to window='session', got "
                    f"max_contexts={self.max_contexts!r} with window={self.window!r}"
                )
        check_int("workers", self.workers, 1)
        check_int("chunk_events", self.chunk_events, 1)
        check_int("seed", self.seed, 0)
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def stream_kwargs(self, epoch: int) -> dict[str, Any]:
        """Keyword arguments of ``stream_units`` (in-memory or Parquet) for one epoch."""
        return dict(
            batch_size=self.batch_size,
            window=self.window,
            negatives=self.negatives,
            ns_exponent=self.ns_exponent,
            sample=self.sample,
            shrink_window=self.shrink_window,
            max_contexts=self.max_contexts,
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
