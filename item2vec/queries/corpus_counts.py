"""The blend's neighbour counts of a streamed corpus, counted chunk by chunk.

A :class:`~item2vec.sampling.corpus.ParquetCorpus` (or one worker's shard of it) gives its
sessions in file order with their places in the corpus
(:meth:`~item2vec.sampling.corpus.ParquetCorpus.keyed_sessions`); a
:class:`~item2vec.queries.pair_counts.PairCounter` sums their pair counts per chunk (exact:
the counts are sums over sessions) and keeps the tails of a sample of
:data:`~item2vec.queries.counts.LOO_CASES` sessions, on which
:func:`~item2vec.queries.counts.counts_from_counter` chooses the window and the backward
weight by the in-memory rules. The corpus is read by duck typing (``vocabulary`` and
``keyed_sessions()``): this stage sits above the sampler's but needs nothing else of it.
"""

from __future__ import annotations

from typing import Any

from .counts import COUNT_WINDOWS, LOO_CASES, MAX_NEIGHBOURS, NextCounts, counts_from_counter
from .pair_counts import PairCounter

__all__ = ["corpus_counter", "corpus_counts"]


def corpus_counter(corpus: Any, window: int | None = None) -> PairCounter:
    """A :class:`~item2vec.queries.pair_counts.PairCounter` of a streamed corpus (a
    :class:`~item2vec.sampling.corpus.ParquetCorpus` or a shard of one), counted chunk by
    chunk from its ``keyed_sessions()`` in file order, with a sample of the tails of
    :data:`LOO_CASES` sessions; memory: the distinct pairs, never the log."""
    counter = PairCounter(
        len(corpus.vocabulary), max(COUNT_WINDOWS) if window is None else window, LOO_CASES
    )
    for items, lengths, places in corpus.keyed_sessions():
        counter.add(items, lengths, places)
    return counter


def corpus_counts(
    corpus: Any, window: int | None = None, max_neighbours: int | None = MAX_NEIGHBOURS
) -> NextCounts:
    """:func:`next_counts` of a streamed corpus (:func:`corpus_counter`): the same counts as
    in memory; the same window and ``beta`` when it has at most :data:`LOO_CASES` sessions
    (else judged on a sample of that many)."""
    return counts_from_counter(corpus_counter(corpus, window), window, max_neighbours)
