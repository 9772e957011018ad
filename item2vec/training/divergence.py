"""Telling a diverging run from a training one, and stopping it (:class:`DivergenceGuard`).

A learning rate far too high does not always give a NaN: with ``learning_rate=1e9`` on a
300-session log the epochs' losses were 4.16, 4.16 and 7.5e17 and the vectors' norms 1e9
after the first epoch, all finite, and the fit used to return that as a model. The trainer
stops a run, with a :class:`~item2vec.exceptions.TrainingError` saying what to lower, when:

- a group's loss is not finite (NaN or inf), at once;
- a group's mean loss per positive couple exceeds :data:`GROUP_LOSS_GROWTH` times the
  reference below, at once (a group holds up to 32k targets, whose loss is estimated on up
  to 512 of each batch's: a noisy but large sample);
- an epoch's mean loss exceeds :data:`EPOCH_LOSS_GROWTH` times the reference, at its end;
- a table holds a non-finite value or a row longer than :data:`MAX_ROW_NORM` (an item
  vector, an output vector, or a bias in absolute value), at the end of each epoch.

The reference is the loss of untrained vectors, ``(1 + negatives) * ln 2`` per positive
couple (every logit 0): where a fit's first epoch starts (4.16 with 5 negatives, the first
epoch's loss of the case above), and a loss that training lowers. Ten times it is a model
whose average term gives its couples a probability of about 0.001 of their true label,
which no run that learns reaches; a norm of 1e3 makes logits of 1e6, where healthy models
stay below ~10 (0.2 on that log after 10 epochs, 10 with Adagrad at ``learning_rate=1``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from ..config import Config
from ..exceptions import TrainingError

__all__ = ["EPOCH_LOSS_GROWTH", "GROUP_LOSS_GROWTH", "MAX_ROW_NORM", "DivergenceGuard",
           "untrained_loss"]  # fmt: skip

#: An epoch whose mean loss is more than this many times :func:`untrained_loss` diverged.
EPOCH_LOSS_GROWTH = 10.0
#: A group of batches whose mean loss is more than this many times :func:`untrained_loss`
#: diverged (larger than the epoch's factor: one group is a smaller sample).
GROUP_LOSS_GROWTH = 100.0
#: A table row (item vector, output vector, absolute bias) longer than this diverged.
MAX_ROW_NORM = 1e3


def untrained_loss(negatives: int) -> float:
    """The loss per positive couple of untrained vectors (every logit 0): one positive and
    ``negatives`` negative terms of ``ln 2`` each."""
    return (1 + negatives) * math.log(2)


class DivergenceGuard:
    """The checks of the module docstring for one run of ``config`` (``counts``: the
    vocabulary's, which tell whether ``batch_size`` is worth lowering too). Each check
    returns None, or the :class:`TrainingError` to raise."""

    def __init__(self, config: Config, counts: np.ndarray) -> None:
        self.config = config
        self.reference = untrained_loss(config.negatives)
        total = float(np.sum(counts))
        #: how often a batch holds the most frequent item: above 1 its couples' gradients
        #: add up in one update, and a smaller batch takes smaller steps on it
        self.per_batch = config.batch_size * float(np.max(counts, initial=0)) / max(total, 1.0)

    def group(
        self, loss: float, scored: int, *, epoch: int, step: int, lr: float
    ) -> TrainingError | None:
        """After a group of batches: its summed ``loss`` over ``scored`` couples, ``step``
        the global step it reached, ``lr`` its last learning rate."""
        where = f"at epoch {epoch}, by step {step} (learning rate {lr:.3g})"
        if not math.isfinite(loss):
            return self.error(f"loss is {loss} {where}")
        mean = loss / scored if scored else 0.0
        if mean > GROUP_LOSS_GROWTH * self.reference:
            return self.error(
                f"loss is {mean:.3g} {where}, over {GROUP_LOSS_GROWTH:g}x that of untrained "
                f"vectors ({self.reference:.3g})"
            )
        return None

    def epoch(
        self, loss: float, tables: Sequence[tf.Variable], *, epoch: int, step: int
    ) -> TrainingError | None:
        """At the end of an epoch: its mean ``loss``, the trained ``tables``."""
        where = f"after epoch {epoch} (step {step})"
        if loss > EPOCH_LOSS_GROWTH * self.reference:
            return self.error(
                f"the epoch's loss is {loss:.3g} {where}, over {EPOCH_LOSS_GROWTH:g}x that of "
                f"untrained vectors ({self.reference:.3g})"
            )
        for v in tables:
            if not bool(tf.reduce_all(tf.math.is_finite(v))):
                return self.error(f"non-finite values in {v.name} {where}")
            norm = float(tf.reduce_max(tf.norm(v, axis=-1)))
            if norm > MAX_ROW_NORM:
                return self.error(
                    f"a row of {v.name} has norm {norm:.3g} {where}, over {MAX_ROW_NORM:g}"
                )
        return None

    def error(self, what: str) -> TrainingError:
        """``what`` happened, and what to lower."""
        c = self.config
        advice = f"lower learning_rate (it is {c.learning_rate:g})"
        if self.per_batch > 1:
            advice += (
                f", or batch_size ({c.batch_size}: its most frequent item is in about "
                f"{self.per_batch:.0f} targets of a batch, whose gradients add up)"
            )
        return TrainingError(f"training diverged: {what}; {advice}")
