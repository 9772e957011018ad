"""What :meth:`~item2vec.estimator.core.Item2Vec.fit` checks before it trains
(:func:`check_fit`), its warning of a fit far too short (:func:`warn_if_short`) and its
per-epoch validation (:func:`validator`)."""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np

from ..checks import check_int
from ..config import AUTO_EVENTS, Config, auto_epochs
from ..data.sessions import Sessions
from ..data.split import NextEventSplit
from ..evaluation.metrics import rank_metrics
from ..exceptions import ParameterError
from ..io import check_writable
from ..queries.scoring import score_recommender
from ..sampling.corpus import ParquetCorpus
from .persistence import model_bytes

__all__ = ["FitInputs", "check_fit", "validator", "warn_if_short"]


class FitInputs(NamedTuple):
    """The checked inputs of a fit: ``raw`` the sessions as given, ``sessions`` those
    trained on (``min_count`` applied), ``config`` with its epochs resolved, and whether
    the corpus is ``streamed`` from Parquet."""

    raw: Any
    sessions: Any
    config: Config
    streamed: bool


def check_fit(
    sessions: Any,
    config: Config,
    *,
    validation: NextEventSplit | None,
    resume: bool,
    checkpoint_dir: Any,
    checkpoint_every: Any,
) -> FitInputs:
    """Every check of a fit's inputs, before any work; raises :class:`ParameterError`
    naming the first problem. Applies ``min_count`` and resolves ``epochs``."""
    streamed = isinstance(sessions, ParquetCorpus)
    if not isinstance(sessions, Sessions) and not streamed:
        raise ParameterError(
            f"sessions must be an item2vec.Sessions, got {type(sessions).__name__}; "
            "build one with Sessions.from_frame / from_lists (or stream a Parquet log "
            "larger than memory with item2vec.sampling.corpus.ParquetCorpus)"
        )
    if streamed and config.min_count > 1:
        raise ParameterError(
            "min_count applies when the ParquetCorpus is built: "
            "ParquetCorpus(path, ..., min_count=...)"
        )
    check_int("checkpoint_every", checkpoint_every, 1)
    if resume and checkpoint_dir is None:
        raise ParameterError("resume=True needs checkpoint_dir to be set")
    if checkpoint_dir is not None:
        check_writable(checkpoint_dir, model_bytes(len(sessions.vocabulary), config))
    raw = sessions
    if config.min_count > 1:
        if validation is not None:
            raise ParameterError(
                "min_count > 1 renumbers the vocabulary and would break the validation "
                "split: apply it to the sessions before splitting"
            )
        sessions = sessions.restrict(min_count=config.min_count)
    config = config.for_corpus(sessions.n_events)
    warn_if_short(config.epochs, sessions.n_events, stacklevel=4)
    if config.negatives > 0 and len(sessions.vocabulary) < 2:
        raise ParameterError(
            f"negatives={config.negatives} needs at least 2 items, the vocabulary has "
            f"{len(sessions.vocabulary)}"
        )
    if validation is not None and validation.train.vocabulary is not sessions.vocabulary:
        raise ParameterError("validation must be a split of the sessions being fitted")
    return FitInputs(raw, sessions, config, streamed)


def warn_if_short(epochs: int, n_events: int, *, stacklevel: int = 3) -> None:
    """Say so when ``epochs`` over ``n_events`` is far less training than the automatic rule
    gives (under a quarter of :data:`~item2vec.config.AUTO_EVENTS` and of its epochs)."""
    auto = auto_epochs(n_events)
    if epochs * n_events < AUTO_EVENTS / 4 and epochs < auto / 2:
        warnings.warn(
            f"epochs={epochs} over a log of {n_events:,} events is {epochs * n_events:,} events "
            f"of training, likely too short for the vectors to learn (epochs=None would use "
            f"{auto}); next-item scores that lean on them (log_prob, blend on sparse logs) "
            "will trail the counts",
            UserWarning,
            stacklevel=stacklevel,
        )


def validator(model: Any, split: NextEventSplit, config: Config) -> Any:
    """Next-event HR@10 / NDCG@10 after each epoch, ranked as ``recommend(...,
    score="log_prob")`` ranks (the default of ``evaluate`` and ``tune``)."""
    from ..sampling import log_prior

    counts = split.train.vocabulary.counts
    known = counts > 0  # items seen in training
    prior = log_prior(counts, config.ns_exponent, config.sample)

    def on_epoch_end(stats: Any) -> None:
        rec = score_recommender(model.E.numpy(), model.b.numpy()[:, 0], prior, known=known)
        ranked = np.asarray(rec(split.queries, 10))  # as evaluation.protocols.evaluate does
        res = rank_metrics(ranked, split.answers, (10,), split.queries, len(counts))
        stats.metrics.update({k: float(v) for k, v in res.items() if k in ("HR@10", "NDCG@10")})

    return on_epoch_end
