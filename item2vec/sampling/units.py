"""The training examples the sampler yields, and their batching.

:class:`Units` (one row per target: its contexts and shared negatives) is what the trainers
consume; :class:`Couples` (flat ``(context, target, label)`` triples) is the classic word2vec
form. :func:`rebatch` cuts a stream of per-chunk results into fixed-size batches.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

__all__ = ["Couples", "SeedLike", "Spans", "Units", "rebatch"]

SeedLike = int | np.random.Generator | np.random.SeedSequence | None
"""What ``np.random.default_rng`` accepts as a seed."""
_T = TypeVar("_T", "Units", "Spans", "Couples")


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Couples:
    """Flat ``(context, target, label)`` couples.

    Attributes
    ----------
    targets : ndarray of int32, shape (n,)
    contexts : ndarray of int32, shape (n,)
    labels : ndarray of float32, shape (n,)
        1 for positive couples, 0 for negative ones.
    """

    targets: np.ndarray
    contexts: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.targets)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(targets, contexts, labels)``, e.g. for ``tf.data.Dataset.from_generator``."""
        return self.targets, self.contexts, self.labels


@dataclass(frozen=True)
class Units:
    """One training unit per target event: its contexts and shared negatives.

    Attributes
    ----------
    targets : ndarray of int32, shape (U,)
    contexts : ndarray of int32, shape (U, C)
        Context items, -1 where padded (``mask = contexts >= 0``; every row has at least one).
        ``C = 2 * window``: slot ``window - d`` holds offset ``-d``, slot ``window + d - 1``
        offset ``+d`` (all -1 with ``direction="forward"``); in session mode
        ``C = max_contexts``, filled from the left.
    negatives : ndarray of int32, shape (U, K)
        Shared by all contexts of the row; none equals the row's target.
    events : ndarray of int64, shape (U,), or None
        With ``trace=True``: index of each target event in ``sessions.items``.
    windows : ndarray of int32, shape (U,), or None
        With ``trace=True`` and a numeric window: the effective window of each target.
    """

    targets: np.ndarray
    contexts: np.ndarray
    negatives: np.ndarray
    events: np.ndarray | None = None
    windows: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.targets)

    @property
    def n_positive(self) -> int:
        """Number of positive couples (non-padded contexts)."""
        return int(np.count_nonzero(self.contexts >= 0))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(targets, contexts, negatives)``, e.g. for ``tf.data.Dataset.from_generator``."""
        return self.targets, self.contexts, self.negatives

    def to_couples(self) -> Couples:
        """Expand to flat couples (positives first, then each positive with the row's negatives)."""
        rows, cols = np.nonzero(self.contexts >= 0)
        ctx, tgt = self.contexts[rows, cols], self.targets[rows]
        k = self.negatives.shape[1]
        return Couples(
            np.concatenate([tgt, self.negatives[rows].ravel()]),
            np.concatenate([ctx, np.repeat(ctx, k)]),
            np.concatenate([np.ones(len(ctx), np.float32), np.zeros(len(ctx) * k, np.float32)]),
        )


@dataclass(frozen=True)
class Spans:
    """Window units in blocks of ``M`` consecutive targets of a session (see
    :func:`~item2vec.sampling.windows.chunk_spans`).

    Block ``b`` holds the events ``e_0 - W .. e_0 + M - 1 + W`` of one session around its
    ``M`` targets ``e_0 .. e_0 + M - 1`` (``W`` the window): slot ``W + m`` is target ``m``.
    A context of target ``m`` is a slot ``s`` with ``1 <= |s - (W + m)| <= radii[b, m]``
    and ``spans[b, s] >= 0``: the couples of :class:`Units` with the same effective windows,
    the events they share gathered once.

    Attributes
    ----------
    spans : ndarray of int32, shape (B, M + 2W)
        The events, -1 outside the session (or beyond its kept events).
    targets : ndarray of int32, shape (B, M)
        ``spans[:, W : W + M]`` where the target has at least one context, else -1.
    radii : ndarray of int32, shape (B, M)
        Each target's effective window (0 where ``targets`` is -1).
    negatives : ndarray of int32, shape (B, P)
        The block's pool: ``P`` independent draws from ``count ** ns_exponent``; each
        target meets ``K`` of them that differ from it (:func:`pool_order`).
    """

    spans: np.ndarray
    targets: np.ndarray
    radii: np.ndarray
    negatives: np.ndarray

    def __len__(self) -> int:
        return len(self.spans)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(spans, targets, radii, negatives)``."""
        return self.spans, self.targets, self.radii, self.negatives


def pool_size(negatives: int, block: int) -> int:
    """Negatives drawn per block of ``block`` targets that each meet ``negatives`` of them:
    ``max(negatives, block)`` (0 without negatives)."""
    return max(negatives, block) if negatives else 0


def pool_order(negatives: int, block: int) -> np.ndarray:
    """The order in which each of a block's targets reads its pool of :func:`pool_size`
    negatives: ``(block, P)`` int32, target ``m`` from entry ``m * negatives`` on, cyclically
    (neighbouring targets share contexts, so they start at different draws). A target meets
    the first ``negatives`` entries in its order that differ from it (see
    :func:`~item2vec.training.model.span_loss_and_grads`)."""
    p = pool_size(negatives, block)
    start = (np.arange(block) * negatives)[:, None]
    return ((start + np.arange(p)) % max(p, 1)).astype(np.int32)


def _take(obj: _T, idx: Any) -> _T:
    def get(a: np.ndarray | None) -> np.ndarray | None:
        if a is None:
            return None
        return a[idx] if isinstance(idx, slice) else np.take(a, idx, axis=0)

    return dataclasses.replace(
        obj, **{f.name: get(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    )


def _concat(a: _T, b: _T) -> _T:
    return dataclasses.replace(
        a, **{f.name: None if (x := getattr(a, f.name)) is None else np.concatenate(
            [x, getattr(b, f.name)]) for f in dataclasses.fields(a)}
    )  # fmt: skip


# --------------------------------------------------------------------------- batching
def rebatch(chunks: Iterable[_T], batch_size: int) -> Iterator[_T]:
    """Fixed-size batches from chunks; a chunk's leftover opens the next chunk's first batch.

    Parameters
    ----------
    chunks : iterable of Units or of Couples
        Pieces of one epoch, each already shuffled (one type throughout).
    batch_size : int >= 1

    Yields
    ------
    Units or Couples
        ``batch_size`` rows each (the last one fewer): the rows of ``chunks`` in order,
        copied or sliced, so that a chunk can be freed once its rows are out.
    """
    rest = None
    for new in chunks:
        start = 0
        if rest is not None:
            start = min(batch_size - len(rest), len(new))
            head = _concat(rest, _take(new, slice(0, start)))
            if len(head) < batch_size:
                rest = head
                continue
            yield head
        full = start + (len(new) - start) // batch_size * batch_size
        for i in range(start, full, batch_size):
            yield _take(new, slice(i, i + batch_size))
        rest = _take(new, np.arange(full, len(new)))  # a copy: the chunk can be freed
    if rest is not None and len(rest):
        yield rest
