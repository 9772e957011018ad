"""Training examples from sessions: the sampler's public names, in one place.

The sampler is split by job; this module re-exports its public names, so that
``item2vec.sampling.X`` keeps working for users and for the rest of the package:

* :mod:`item2vec.sampling.units`: the results, :class:`Units` (one row per target: contexts padded
  with -1, shared negatives), :class:`Spans` (blocks of consecutive targets of a session,
  the events around them and a pool of negatives) and :class:`Couples` (flat ``(context,
  target, label)``), and :func:`rebatch`, which cuts per-chunk results into fixed-size
  batches.
* :mod:`item2vec.sampling.negatives`: :class:`NegativeSampler` (``count ** ns_exponent``, never the
  target, Walker :func:`alias_table`), :func:`keep_probability` (word2vec subsampling),
  :func:`expected_units` and :func:`log_prior`.
* :mod:`item2vec.sampling.windows`: the window semantics (see there), :class:`WindowPlan` (checked
  settings bound to a vocabulary), :func:`chunk_units` / :func:`chunk_spans` /
  :func:`chunk_couples` (one chunk of sessions into shuffled examples: the seam every
  corpus streams through), and the whole corpus at once: :func:`window_units`,
  :func:`skipgram_couples`.
* :mod:`item2vec.sampling.streaming`: one epoch in batches with memory bounded by ``chunk_events``:
  :func:`stream_units`, :func:`stream_spans`, :func:`stream_couples`, :func:`epoch_units`
  (sessions or any :class:`UnitSource`), :func:`check_stream`.
* :mod:`item2vec.sampling.keras_skipgrams`: :func:`skipgrams`, a vectorised stand-in for
  ``keras.preprocessing.sequence.skipgrams``.
"""

from __future__ import annotations

from .keras_skipgrams import skipgrams
from .negatives import NegativeSampler, alias_table, expected_units, keep_probability, log_prior
from .streaming import (
    UnitSource,
    check_stream,
    epoch_units,
    stream_couples,
    stream_spans,
    stream_units,
)
from .units import Couples, SeedLike, Spans, Units, rebatch
from .windows import (
    DEFAULT_MAX_CONTEXTS,
    WindowPlan,
    chunk_couples,
    chunk_spans,
    chunk_units,
    permutation,
    skipgram_couples,
    window_units,
)

__all__ = [
    "DEFAULT_MAX_CONTEXTS",
    "Couples",
    "NegativeSampler",
    "SeedLike",
    "Spans",
    "UnitSource",
    "Units",
    "WindowPlan",
    "alias_table",
    "check_stream",
    "chunk_couples",
    "chunk_spans",
    "chunk_units",
    "epoch_units",
    "expected_units",
    "keep_probability",
    "log_prior",
    "permutation",
    "rebatch",
    "skipgram_couples",
    "skipgrams",
    "stream_couples",
    "stream_spans",
    "stream_units",
    "window_units",
]
