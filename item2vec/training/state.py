"""Records of a training run: where it is (:class:`TrainState`) and what each epoch did
(:class:`EpochStats`). Shared by the trainers, the checkpointer and the monitor."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_STATS_FIELDS = ("epoch", "loss", "couples", "seconds", "learning_rate")


@dataclass
class EpochStats:
    """What one epoch did; ``metrics`` holds optional validation figures (e.g. ``HR@10``).

    ``loss`` is the mean sigmoid cross-entropy per positive couple (with its negatives),
    measured on the first :data:`~item2vec.training.step.LOSS_UNITS` units of every batch;
    ``couples`` counts all positive couples trained on.
    """

    epoch: int
    loss: float
    couples: int
    seconds: float
    learning_rate: float
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def couples_per_second(self) -> float:
        return self.couples / self.seconds if self.seconds > 0 else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "loss": self.loss,
            "couples": self.couples,
            "seconds": self.seconds,
            "couples_per_second": self.couples_per_second,
            "learning_rate": self.learning_rate,
            **self.metrics,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EpochStats:
        """The inverse of :meth:`as_dict` (other keys than the fields become ``metrics``)."""
        metrics = {
            k: v for k, v in d.items() if k not in _STATS_FIELDS and k != "couples_per_second"
        }
        return cls(**{k: d[k] for k in _STATS_FIELDS}, metrics=metrics)


@dataclass
class TrainState:
    """Position in the run, enough to resume: the sampler stream of an epoch is a pure
    function of ``(seed, epoch)``, so skipping ``batch_in_epoch`` batches restores it."""

    epoch: int = 0
    batch_in_epoch: int = 0
    global_step: int = 0
    units_done: int = 0  # window units trained on so far: drives the learning-rate decay
