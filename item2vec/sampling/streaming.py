"""One epoch of training examples from in-memory sessions, streamed in fixed-size batches.

:func:`stream_units` (and :func:`stream_couples`) cut the corpus into chunks of about
``chunk_events`` events, visited in a seeded random order; each chunk is sampled by
:func:`~item2vec.sampling.windows.chunk_units` and the results are cut into batches by
:func:`~item2vec.sampling.units.rebatch`. :func:`stream_spans` does the same with
:func:`~item2vec.sampling.windows.chunk_spans`: blocks of consecutive targets, for the
single-process trainer. Epochs are a pure function of ``(seed, epoch)``.
:func:`epoch_units` gives one epoch of any corpus: in-memory
:class:`~item2vec.data.sessions.Sessions` or a :class:`UnitSource` such as
:class:`~item2vec.sampling.corpus.ParquetCorpus`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..checks import check_int
from ..data.sessions import Sessions
from ..exceptions import DataError, ParameterError
from .units import Couples, Spans, Units, rebatch
from .windows import WindowPlan, chunk_couples, chunk_spans, chunk_units

__all__ = [
    "UnitSource",
    "check_stream",
    "epoch_units",
    "stream_couples",
    "stream_spans",
    "stream_units",
]


def _chunks(
    sessions: Sessions, chunk_events: int, rng: np.random.Generator, trace: bool
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """Chunks (see :func:`stream_units`): items, local offsets, global event index (trace)."""
    off = sessions.offsets
    n_s, n_e = len(sessions), sessions.n_events
    per_block = max(1, (n_s * max(1, chunk_events // 64)) // max(n_e, 1))
    starts = np.arange(0, n_s, per_block)
    ends = np.minimum(starts + per_block, n_s)
    order = rng.permutation(len(starts))
    size = off[ends[order]] - off[starts[order]]
    # the first chunk is 1/16 of the others, so that its first batch is out early (a
    # trainer waits for it; sampling a full chunk of 250k events takes about 0.07 s)
    first = max(1, chunk_events // 16)
    pos = np.cumsum(size) - size
    chunk_of = np.where(pos < first, 0, 1 + (pos - first) // chunk_events)
    for group in np.split(order, np.flatnonzero(np.diff(chunk_of)) + 1):
        pieces, offs, src, base = [], [np.zeros(1, np.int64)], [], 0
        for s, e in zip(starts[group].tolist(), ends[group].tolist(), strict=True):
            pieces.append(sessions.items[off[s] : off[e]])
            offs.append(off[s + 1 : e + 1] - off[s] + base)
            base += int(off[e] - off[s])
            if trace:
                src.append(np.arange(off[s], off[e]))
        yield np.concatenate(pieces), np.concatenate(offs), np.concatenate(src) if trace else None


def _stream(
    make: Callable[..., Any], sessions: Sessions, batch_size: int, seed: int, epoch: int,
    chunk_events: int, trace: bool,
) -> Iterator:  # fmt: skip
    """Batches of ``batch_size`` units from the corpus in shuffled chunks (see :func:`rebatch`)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, epoch]))

    def shuffled_chunks() -> Iterator:
        for items, offsets, src in _chunks(sessions, chunk_events, rng, trace):
            new = make(items, offsets, rng, trace)  # already shuffled
            if src is not None:  # chunk-local event index -> index in sessions.items
                new = dataclasses.replace(new, events=src[new.events])
            yield new

    return rebatch(shuffled_chunks(), batch_size)


def check_stream(
    batch_size: Any, seed: Any, epoch: Any, chunk_events: Any
) -> tuple[int, int, int, int]:
    """The streaming arguments of every ``stream_units`` as ints, checked in this order.

    Returns
    -------
    batch_size, seed, epoch, chunk_events : int
        ``>= 1``, ``>= 0``, ``>= 0``, ``>= 1``; a :class:`ParameterError` names the first
        that is not an integer in its range.
    """
    return (
        check_int("batch_size", batch_size, 1),
        check_int("seed", seed, 0),
        check_int("epoch", epoch, 0),
        check_int("chunk_events", chunk_events, 1),
    )


def stream_units(
    sessions: Sessions, *, batch_size: int, window: int | str, negatives: int,
    ns_exponent: float = 0.75, sample: float = 1e-3, shrink_window: bool = True,
    max_contexts: int | None = None, seed: int = 0, epoch: int = 0,
    chunk_events: int = 1_000_000, trace: bool = False, direction: str = "both",
) -> Iterator[Units]:  # fmt: skip
    """Stream one epoch of :class:`Units` in batches of exactly ``batch_size`` (last smaller).

    Sessions are cut into blocks of consecutive sessions (about ``chunk_events / 64`` events
    each; one session per block on small corpora), blocks are visited in a seeded random
    order and grouped into chunks of about ``chunk_events`` events (the first one about a
    sixteenth of that, so that the first batch comes early; more only if one session
    is longer). Each chunk's units are built and shuffled; the leftover (< ``batch_size``)
    opens the next chunk's first batch, so batches mix chunks. Peak extra memory follows
    ``chunk_events`` (about 150 MB per million events at window 5, 5 negatives), and the
    bookkeeping is O(n_events / chunk_events), not O(n_sessions).

    ``(seed, epoch)`` seed ``np.random.SeedSequence([seed, epoch])``: every epoch re-draws
    subsampling, windows, session subsets and negatives, reproducibly. Other parameters as
    in :func:`~item2vec.sampling.windows.window_units`; they are checked on call, not on the first
    ``next``. Yields plain numpy arrays (``Units.arrays()`` suits
    ``tf.data.Dataset.from_generator``).
    """
    plan = WindowPlan.from_sessions(
        sessions, window=window, negatives=negatives, ns_exponent=ns_exponent, sample=sample,
        shrink_window=shrink_window, max_contexts=max_contexts, direction=direction,
    )  # fmt: skip
    check_stream(batch_size, seed, epoch, chunk_events)
    return _stream(
        lambda i, o, r, t: chunk_units(plan, i, o, r, t), sessions, batch_size, seed, epoch,
        chunk_events, trace,
    )  # fmt: skip


def stream_spans(
    sessions: Sessions, *, batch_size: int, block: int, window: int, negatives: int,
    ns_exponent: float = 0.75, sample: float = 1e-3, shrink_window: bool = True,
    max_contexts: int | None = None, seed: int = 0, epoch: int = 0,
    chunk_events: int = 1_000_000, direction: str = "both",
) -> Iterator[Spans]:  # fmt: skip
    """Stream one epoch of :class:`~item2vec.sampling.units.Spans` of ``block`` targets each, in
    batches of exactly ``batch_size`` blocks (last smaller): the chunks of
    :func:`stream_units` (same seeds), sampled by :func:`~item2vec.sampling.windows.chunk_spans`.
    ``negatives`` is the negatives each target meets; ``max_contexts`` must be None (an
    integer window only)."""
    plan = WindowPlan.from_sessions(
        sessions, window=window, negatives=negatives, ns_exponent=ns_exponent, sample=sample,
        shrink_window=shrink_window, max_contexts=max_contexts, direction=direction,
    )  # fmt: skip
    check_stream(batch_size, seed, epoch, chunk_events)
    check_int("block", block, 1)
    if plan.window is None:
        raise ParameterError("stream_spans needs an integer window, not window='session'")
    if plan.forward:
        raise ParameterError("stream_spans needs direction='both' (forward windows are units)")
    return _stream(
        lambda i, o, r, t: chunk_spans(plan, i, o, r, block), sessions, batch_size, seed,
        epoch, chunk_events, False,
    )  # fmt: skip


@runtime_checkable
class UnitSource(Protocol):
    """A corpus that streams its own epochs of :class:`Units` (a Parquet corpus, a shard).

    The trainers accept a :class:`~item2vec.data.sessions.Sessions` or any object with a
    vocabulary and this method, taking the keyword arguments of :func:`stream_units`
    (without ``sessions``).
    """

    vocabulary: Any

    def stream_units(self, **kwargs: Any) -> Iterator[Units]: ...


def epoch_units(corpus: Sessions | UnitSource, **kwargs: Any) -> Iterator[Units]:
    """One epoch of units from ``corpus``: :func:`stream_units` for in-memory sessions, the
    corpus' own ``stream_units`` for a :class:`UnitSource`. ``kwargs`` as in :func:`stream_units`
    (``Config.stream_kwargs(epoch)`` gives them)."""
    if isinstance(corpus, Sessions):
        return stream_units(corpus, **kwargs)
    if isinstance(corpus, UnitSource):
        return corpus.stream_units(**kwargs)
    raise DataError(
        f"corpus must be Sessions or have a stream_units method, got {type(corpus).__name__}"
    )


def stream_couples(
    sessions: Sessions, *, batch_size: int, window: int | str, negatives: int,
    ns_exponent: float = 0.75, sample: float = 1e-3, shrink_window: bool = True,
    max_contexts: int | None = None, seed: int = 0, epoch: int = 0,
    chunk_events: int = 1_000_000, direction: str = "both",
) -> Iterator[Couples]:  # fmt: skip
    """Stream one epoch of :func:`skipgram_couples` in batches, like :func:`stream_units`."""
    plan = WindowPlan.from_sessions(
        sessions, window=window, negatives=negatives, ns_exponent=ns_exponent, sample=sample,
        shrink_window=shrink_window, max_contexts=max_contexts, direction=direction,
    )  # fmt: skip
    check_stream(batch_size, seed, epoch, chunk_events)
    return _stream(
        lambda i, o, r, t: chunk_couples(plan, i, o, r), sessions, batch_size, seed, epoch,
        chunk_events, False,
    )  # fmt: skip
