"""Feeding the single-process trainer: an epoch's sampled units re-cut into groups of
batches of one context width (:func:`width_groups`, :func:`epoch_groups`), or its spans
stacked into groups (:func:`span_groups`), sampled ahead on a background thread
(:class:`Prefetcher`).

A group of units is ``(contexts (G, U, C), targets (G, U), negatives (G, U / M, K))``
int32: ``G`` batches of ``U`` units, ``C`` context columns (``-1`` pads), ``K`` negatives
shared by each block of ``M`` consecutive units (``M = 1``: every unit its own; see
:func:`~item2vec.training.model.unit_loss_and_grads`). A group of spans is ``(spans (G, B, M + 2W),
targets (G, B, M), radii (G, B, M), negatives (G, B, P))``: ``B`` blocks of ``M``
consecutive targets of a session per batch (:class:`~item2vec.sampling.units.Spans`,
:func:`~item2vec.training.model.span_loss_and_grads`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import Config
from ..data.sessions import Sessions
from . import UnitSource, epoch_units
from .streaming import stream_spans
from .units import Spans

#: Most window units per compiled call (one element of the feed): a group holds this many
#: units' worth of batches (16 of 2,048). 32k measured best on Online Retail; since epochs
#: overlap (:meth:`~item2vec.training.train.Trainer.fit`), 64k and 128k measured the same.
GROUP_UNITS = 1 << 15
#: Groups the sampler thread works ahead of the steps
#: (:meth:`~item2vec.training.train.Trainer.feed`).
PREFETCH = 8

Group = tuple[np.ndarray, ...]
"""Units ``(contexts (G, U, C), targets (G, U), negatives (G, U / M, K))`` or spans
``(spans (G, B, S), targets (G, B, M), radii (G, B, M), negatives (G, B, P))``, int32."""


def uses_spans(corpus: Sessions | UnitSource, config: Config) -> bool:
    """Whether the single-process trainer feeds ``corpus`` as spans (:func:`span_groups`):
    in-memory sessions, skip-gram with an integer window on both sides and blocks of more
    than one target (:meth:`~item2vec.config.Config.block`). Otherwise units
    (:func:`epoch_groups`): a streamed corpus samples units itself, and a span's context
    mask is symmetric (``|s - centre| <= radius``), so ``direction="forward"`` windows are
    units (random blocks of units sharing negatives)."""
    return (
        isinstance(corpus, Sessions)
        and config.mode == "skipgram"
        and config.window != "session"
        and config.direction == "both"
        and config.block() > 1
    )


def epoch_groups(
    corpus: Sessions | UnitSource, config: Config, epoch: int, skip: int = 0
) -> Iterator[Group]:
    """The epoch's batches as groups of up to :data:`GROUP_UNITS` units of one context
    width, minus the first ``skip`` batches (resuming), negatives shared by blocks of
    ``config.block()`` units (:func:`width_groups`). A pure function of ``(config, epoch)``.

    ``corpus`` is in-memory :class:`~item2vec.data.sessions.Sessions` or a
    :class:`~item2vec.sampling.UnitSource` (a Parquet corpus streams itself from disk).
    """
    block = config.block()
    stream = epoch_units(corpus, **config.stream_kwargs(epoch, block))
    per_group = max(1, GROUP_UNITS // config.batch_size)
    cut = (config.window, config.batch_size, per_group, block, config.negatives)
    forward = config.direction == "forward"
    yield from _skip_batches(width_groups(stream, *cut, forward=forward), skip)


def _skip_batches(groups: Iterator[Group], skip: int) -> Iterator[Group]:
    """``groups`` minus their first ``skip`` batches (a group may be cut: resuming)."""
    for group in groups:
        n = len(group[1])
        if skip >= n:
            skip -= n
            continue
        yield tuple(a[skip:] for a in group) if skip else group
        skip = 0


def span_groups(sessions: Sessions, config: Config, epoch: int, skip: int = 0) -> Iterator[Group]:
    """The epoch's :class:`~item2vec.sampling.units.Spans` of ``config.block()`` targets in batches
    of ``batch_size / block`` blocks (``batch_size`` targets' worth), stacked into groups of
    up to :data:`GROUP_UNITS` targets' worth, minus the first ``skip`` batches (resuming).
    Groups grow 1, 2, 4, ... batches (the first is ready early); the epoch's last, short
    batch is a group of its own. A pure function of ``(config, epoch)``."""
    block = config.block()
    kwargs = config.stream_kwargs(epoch)
    kwargs["batch_size"] = config.batch_size // block
    per_group = max(1, GROUP_UNITS // config.batch_size)
    batches = stream_spans(sessions, block=block, **kwargs)
    yield from _skip_batches(_stacked(batches, per_group), skip)


def _stacked(batches: Iterator[Spans], per_group: int) -> Iterator[Group]:
    """Batches of spans stacked into groups of 1, 2, 4, ... up to ``per_group`` batches;
    a batch of another size (the short last one) starts a group of its own."""
    pending: list = []
    limit = 1

    def stack() -> Group:
        return tuple(np.stack(a) for a in zip(*pending))

    for batch in batches:
        if pending and len(batch) != len(pending[0][0]):  # the short last batch
            yield stack()
            pending, limit = [], per_group
        pending.append(batch.arrays())
        if len(pending) >= limit:
            yield stack()
            pending, limit = [], min(2 * limit, per_group)
    if pending:
        yield stack()


def width_groups(
    batches: Iterator[Any],
    window: int | str,
    batch_size: int,
    group: int,
    block: int = 1,
    negatives: int | None = None,
    forward: bool = False,
) -> Iterator[Group]:
    """Re-cut a stream of unit batches so that each batch is only as wide as its units need.

    With ``shrink_window`` a target's effective window ``r`` is uniform on ``1..W``, so a
    third of a padded ``(U, 2W)`` context block is padding that would still be gathered,
    multiplied and scattered. Each unit goes to a width class: ``r`` for an integer window
    (columns ``W - r .. W + r - 1``, where its contexts lie), the next power of two of its
    context count for ``window="session"`` (contexts fill the first columns). Each class
    fills its own batches of ``batch_size`` units in stream order, and full batches of a
    class are stacked into groups of 1, 2, 4, ... up to ``group`` batches (small groups first,
    so that the steps can start early). Units move at most a few batches from
    their place in the stream; the leftovers of each class end the epoch as short batches.
    With ``forward`` (``direction="forward"``: no context after a target) an integer
    window's class ``r`` keeps only columns ``W - r .. W - 1``.

    With ``block > 1`` (a divisor of ``batch_size``) each block of ``block`` consecutive
    units of a batch shares ``negatives`` negatives (default: as many as a unit of the
    stream carries; see :func:`~item2vec.training.model.unit_loss_and_grads`): the first ones its
    units carry, in order (the sampler draws ``ceil(negatives / block)`` per unit, see
    :meth:`~item2vec.config.Config.stream_kwargs`). A short batch is padded to a multiple
    of ``block`` with units that have no context and target ``-1``; where its last block's
    units carry too few draws, it goes on with those of the batch's first units.
    """
    if batch_size % block:
        raise ValueError(f"block ({block}) must divide batch_size ({batch_size})")
    pending: dict[int, list] = {}  # width class -> pieces (contexts, targets, negatives)
    count: dict[int, int] = {}  # width class -> units pending
    limit = 1  # groups grow 1, 2, 4, ... batches: the first one is ready early
    w = 0 if window == "session" else int(window)
    reach = np.concatenate([np.arange(w, 0, -1), np.arange(1, w + 1)])

    def take(k: int, n_batches: int, size: int) -> Group:
        """The first ``n_batches * size`` pending units of class ``k``, as a group."""
        whole = [np.concatenate(p) for p in zip(*pending[k])]
        n = n_batches * size
        pending[k] = [tuple(a[n:] for a in whole)]
        count[k] -= n
        ctx, tgt, neg = (a[:n] for a in whole)
        if block > 1:
            neg = shared(neg)
        pad = -size % block  # only a short batch (n_batches 1) is ever padded
        if pad:
            ctx = np.concatenate([ctx, np.full((pad, ctx.shape[1]), -1, ctx.dtype)])
            tgt = np.concatenate([tgt, np.full(pad, -1, tgt.dtype)])
            size += pad
        return (
            ctx.reshape(n_batches, size, -1),
            tgt.reshape(n_batches, size),
            neg.reshape(n_batches, size // block, -1),
        )

    def shared(neg: np.ndarray) -> np.ndarray:
        """``(ceil(n / block), k)`` block negatives from ``n`` units' draws ``(n, per)``:
        block ``b`` takes draws ``b * block * per ..`` of the flattened array."""
        n, per = neg.shape
        k = per if negatives is None else negatives
        if k == 0:
            return np.empty((-(-n // block), 0), neg.dtype)
        first = np.arange(0, n * per, block * per)
        return neg.reshape(-1)[(first[:, None] + np.arange(k)) % (n * per)]

    for u in batches:
        ctx = u.contexts
        real = ctx >= 0
        if w:
            cls = np.where(real, reach, 0).max(axis=1)
        else:
            n = real.sum(axis=1)
            cls = np.minimum(1 << np.ceil(np.log2(np.maximum(n, 1))).astype(np.int64), ctx.shape[1])
        for k in np.flatnonzero(np.bincount(cls)).tolist():
            sel = np.flatnonzero(cls == k)
            cols = slice(w - k, w if forward else w + k) if w else slice(0, k)
            pending.setdefault(k, []).append((ctx[sel, cols], u.targets[sel], u.negatives[sel]))
            count[k] = count.get(k, 0) + len(sel)
            if count[k] >= limit * batch_size:
                yield take(k, limit, batch_size)
                limit = min(2 * limit, group)
    for k in sorted(count):
        if count[k] >= batch_size:
            yield take(k, count[k] // batch_size, batch_size)
        if count[k]:
            yield take(k, 1, count[k])


def update_orders(group: Group) -> tuple[np.ndarray, ...]:
    """What the dense update's sorted sums need (:func:`~item2vec.training.updates.apply_sgd`): for
    each batch of ``group``, the order of its context rows and of its candidate rows (each
    block's targets then its negatives, as :func:`~item2vec.training.model.unit_loss_and_grads`
    flattens them).

    Returns ``(ctx_perm, ctx_rows, cand_perm, cand_rows)``, int32 of shapes ``(G, U * C)``
    and ``(G, U + B * K)`` (``B`` blocks of negatives per batch): ``rows[g, perm[g]]`` is
    ascending (ties in their order) and ``*_rows`` is that sorted sequence. A sum of row
    gradients over sorted rows costs about half of an unsorted one in TensorFlow; the sort
    is done here, on the sampler's thread, by numpy on packed keys (row, position).
    """
    contexts, targets, negatives = group
    g, blocks = negatives.shape[:2]
    rows_ctx = np.maximum(contexts, 0).reshape(g, -1)
    own = np.maximum(targets, 0).reshape(g, blocks, -1)  # padding units (-1) read row 0
    rows_cand = np.concatenate([own, negatives], axis=2).reshape(g, -1)
    return (*_sorted_rows(rows_ctx), *_sorted_rows(rows_cand))


def _sorted_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(perm, sorted)`` of each row of ``rows`` (G, R) int: a stable sort by value, as one
    sort of keys ``value << bits | position`` (uint32 when they fit, else uint64)."""
    r = rows.shape[1]
    bits = max(1, (r - 1).bit_length())
    top = int(rows.max(initial=0)).bit_length()
    dtype = np.uint32 if top + bits <= 32 else np.uint64
    keys = (rows.astype(dtype) << dtype(bits)) | np.arange(r, dtype=dtype)
    keys.sort(axis=1)
    perm = (keys & dtype((1 << bits) - 1)).astype(np.int32)
    return perm, (keys >> dtype(bits)).astype(np.int32)


class Prefetcher:
    """Runs an iterator on a daemon thread, up to ``depth`` items ahead of the consumer.

    An exception in the iterator is raised by the consumer's next ``next()`` (and every
    later one); ``close()`` stops the thread (it drops what it had sampled), waits for it,
    and ends the iteration for any consumer still waiting.
    """

    _END = object()

    def __init__(self, source: Iterator, depth: int) -> None:
        self._queue: queue.Queue = queue.Queue(depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._fill, args=(source,), name="item2vec-sampler", daemon=True
        )
        self._thread.start()

    def _fill(self, source: Iterator) -> None:
        try:
            for item in source:
                if not self._put(item):
                    return
            self._put(self._END)
        except BaseException as e:  # handed to the consumer
            self._put(_Failed(e))

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Prefetcher:
        return self

    def __next__(self) -> Any:
        item = self._queue.get()
        if item is self._END or isinstance(item, _Failed):
            self._queue.put(item)  # later calls see it too
            if item is self._END:
                raise StopIteration
            raise item.error
        return item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        while True:  # drop what was sampled, and wake a consumer still waiting with the end
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put_nowait(self._END)


@dataclass
class _Failed:
    error: BaseException
