"""Watching a run: nearest neighbours of a few items every few steps
(:class:`NeighbourMonitor`), and the progress bar."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from ..data.sessions import Vocabulary
from .model import Item2VecModel
from .state import TrainState


class NeighbourMonitor:
    """Every ``every`` steps, print the current nearest neighbours of a few items.

    All queries are answered by one matrix product of the normalised query rows with the
    normalised table, inside TensorFlow; no model call per item. ``descriptions`` (a
    mapping from item id to text) makes the lines readable.
    """

    def __init__(
        self,
        model: Item2VecModel,
        vocabulary: Vocabulary,
        items: list,
        *,
        every: int = 500,
        k: int = 5,
        descriptions: Any = None,
        write: Callable[[str], None] | None = None,
    ) -> None:
        self.model = model
        self.vocabulary = vocabulary
        self.rows = vocabulary.encode(items)
        self.every = every
        self.k = min(k, len(vocabulary) - 1)
        self.descriptions = descriptions
        self.write = write or _write
        self._done = 0  # prints due so far (steps advance a group of batches at a time)

    def neighbours(self) -> np.ndarray:
        """Rows of the ``k`` nearest neighbours of each monitored item, (m, k)."""
        table = tf.math.l2_normalize(self.model.E, axis=1)  # (n, D)
        sims = tf.matmul(tf.gather(table, self.rows), table, transpose_b=True)  # (m, n)
        sims += tf.one_hot(self.rows, len(self.vocabulary), on_value=-3.0, off_value=0.0)
        return tf.math.top_k(sims, k=self.k).indices.numpy()

    def label(self, row: int) -> str:
        item = self.vocabulary.ids[row]
        if self.descriptions is None:
            return str(item)
        return f"{item} {str(self.descriptions.get(item, '')).strip()}".strip()

    def __call__(self, state: TrainState) -> None:
        if state.global_step // self.every <= self._done:
            return
        self._done = state.global_step // self.every
        lines = [f"step {state.global_step} (epoch {state.epoch + 1}) nearest neighbours:"]
        for row, nb in zip(self.rows, self.neighbours(), strict=True):
            lines.append(f"  {self.label(row)}: " + " | ".join(self.label(r) for r in nb))
        self.write("\n".join(lines))


def _write(text: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(text)


def progress_bar(enabled: bool, total: int, **options: Any) -> Any:
    """A tqdm bar over ``total`` batches (``None`` when not ``enabled``); it shows itself
    only on a terminal (``options`` go to tqdm, e.g. ``file``, ``disable``, or ``unit``: the
    trainer counts window units).

    The trainer names the epoch in the bar's description when it starts (``"epoch 1/5"``)
    and again at the end of every epoch (the next one, or the last one again): each of those
    later calls leaves the finished epoch's line above the bar (its postfix: loss, couples/s,
    learning rate; and the time so far), so a terminal keeps one line per epoch while the
    bar itself goes away.
    """
    if not enabled:
        return None
    from tqdm.auto import tqdm

    class EpochBar(tqdm):  # type: ignore[misc, valid-type]
        _epoch: str | None = None  # the epoch running, as the description names it

        def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
            if self._epoch is not None and not self.disable:  # the end of an epoch
                elapsed = self.format_interval(self.format_dict["elapsed"])
                postfix = str(self.postfix or "").replace("couples_s=", "couples/s=")
                done = ", ".join(p for p in (postfix, f"{elapsed} elapsed") if p)
                self.write(f"{self._epoch} done: {done}", file=self.fp)
            self._epoch = desc
            super().set_description(desc, refresh)

    options = {"unit": "batch", "leave": False, "disable": None, **options}
    return EpochBar(total=total, **options)
