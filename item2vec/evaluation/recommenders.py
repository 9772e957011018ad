"""Trained models as recommenders: item2vec's :class:`~item2vec.Item2Vec` and gensim's peer.

Each adapter turns a model into a :data:`~item2vec.queries.scoring.Recommender` over the rows
of a training corpus, ranking by one of the scores of :mod:`item2vec.queries.scoring`; the
``score`` argument names it, as in ``Item2Vec.recommend(..., score=...)`` (``ranking``, its
former name, is a deprecated alias: :func:`renamed_score`).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..checks import check_int
from ..data.sessions import Sessions
from ..exceptions import DataError, ParameterError
from ..queries.scoring import (
    MIXTURES,
    Recommender,
    check_score,
    score_biases,
    vector_recommender,
)
from ..sampling import log_prior
from .baselines import popular_order

__all__ = [
    "GENSIM_SCORES",
    "renamed_score",
    "model_recommender",
    "gensim_recommender",
    "gensim_model_recommender",
]

GENSIM_SCORES = ("cosine", "log_prob")
"""The scores of :data:`~item2vec.checks.SCORES` a gensim model can rank by (no biases)."""


def renamed_score(
    score: str | None, ranking: str | None, default: str | None, *, stacklevel: int = 3
) -> str | None:
    """The score asked for with ``score=`` or with ``ranking=``, its deprecated former name.

    ``ranking`` warns (:class:`DeprecationWarning`, ``stacklevel`` as for
    :func:`warnings.warn`, counted from the caller of this function's caller); giving both
    is a :class:`ParameterError` naming both; neither gives ``default``.
    """
    if ranking is None:
        return default if score is None else score
    if score is not None:
        raise ParameterError(
            f"give score= only: ranking= is its deprecated former name, got both "
            f"score={score!r} and ranking={ranking!r}"
        )
    warnings.warn(
        "ranking= is deprecated: use score= (the same values, as in "
        "Item2Vec.recommend(..., score=...))",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
    return ranking


def model_recommender(
    model: Any, train: Sessions, score: str | None = None, *, ranking: str | None = None
) -> Recommender:
    """A fitted :class:`~item2vec.Item2Vec` as a recommender over ``train``'s rows.

    ``score`` (default ``"blend"``): ``"cosine"`` (what :meth:`~item2vec.Item2Vec.similar` returns),
    ``"logit"`` (``E[q] . E[t] + b[t]``, the trained score), ``"log_prob"`` (the logit
    plus :func:`item2vec.sampling.log_prior`, an estimate of ``log P(t | q)``) or ``"blend"``
    (the model's neighbour counts smoothed by that distribution); as
    ``Item2Vec.recommend(..., score=...)`` ranks. Queries may be histories (``(n, N)``, see
    :mod:`item2vec.queries.scoring`). Rows the model does not know (unseen in ``train``, or
    dropped by ``min_count``) get no candidates and are never recommended. ``ranking`` is
    the deprecated former name of ``score``.
    """
    score = check_score(renamed_score(score, ranking, "blend"))
    n = len(train.vocabulary)
    vectors = model.item_vectors_
    biases = score_biases(model.item_biases_, model.item_log_prior_, score)
    counts = model.neighbour_counts_ if score == "blend" else None
    if score == "blend" and counts is None:
        raise ParameterError("score='blend' needs a model fitted on Sessions (neighbour counts)")
    if model.vocabulary_ is not train.vocabulary:  # min_count, or a model saved elsewhere
        rows = train.vocabulary.encode(model.vocabulary_.ids.tolist(), missing="ignore")
        mine = rows >= 0
        vectors = _scatter(vectors[mine], rows[mine], n)
        biases = None if biases is None else _scatter(biases[mine], rows[mine], n)
        if counts is not None:  # the same rows, in train's numbering: S C S^T
            pick = sp.csr_matrix(
                (np.ones(mine.sum()), (rows[mine], np.flatnonzero(mine))),
                shape=(n, len(mine)),
            )
            counts = (pick @ counts @ pick.T).tocsr()
    known = train.vocabulary.counts > 0  # rows left at zero are unknown too
    # histories: a mixture of distributions for log_prob / blend, the recency-weighted sum of
    # the items' scores for logit / cosine: as Item2Vec.recommend ranks them
    mixture = score in MIXTURES
    return vector_recommender(vectors, biases=biases, known=known, counts=counts, mixture=mixture)


def _scatter(values: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """``values`` placed at ``rows`` of an ``n``-row array of zeros."""
    out = np.zeros((n, *values.shape[1:]), values.dtype)
    out[rows] = values
    return out


def gensim_recommender(
    train: Sessions,
    *,
    dim: int = 64,
    window: int = 5,
    negatives: int = 5,
    ns_exponent: float = 0.75,
    sample: float = 1e-3,
    epochs: int = 5,
    min_count: int = 1,
    workers: int = 2,
    seed: int = 0,
    sg: int = 1,
    score: str | None = None,
    ranking: str | None = None,
) -> tuple[Recommender, Any]:
    """Train gensim ``Word2Vec(sg=1, hs=0, ...)`` on ``train``; recommend cosine neighbours.

    Items are the strings of their row numbers. Items gensim dropped (``min_count``) are
    never returned; short lists (and queries gensim does not know) are backfilled with
    popularity over the known items. ``score="log_prob"`` ranks by gensim's own trained
    score, ``wv[q] . syn1neg[t]``, plus :func:`item2vec.sampling.log_prior` (the ranking
    item2vec's ``"log_prob"`` uses, with gensim's separate output table and no bias);
    default ``"cosine"``. ``ranking`` is the deprecated former name of ``score``.
    Returns ``(recommender, model)``.
    """
    score = check_score(renamed_score(score, ranking, "cosine"), GENSIM_SCORES)
    try:
        from gensim.models import Word2Vec
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("gensim is not installed: pip install 'item2vec[bench]'") from e
    sizes = dict(dim=dim, window=window, epochs=epochs, min_count=min_count, workers=workers)
    for name, val in sizes.items():
        check_int(name, val, 1)
    check_int("negatives", negatives, 0)
    words = train.items.astype(str).tolist()
    o = train.offsets.tolist()
    sentences = [words[o[i] : o[i + 1]] for i in range(len(train)) if o[i + 1] > o[i]]
    if not sentences:
        raise DataError("the training corpus is empty: no sessions to train gensim on")
    model = Word2Vec(
        sentences=sentences,
        vector_size=dim,
        window=window,
        negative=negatives,
        hs=0,
        ns_exponent=ns_exponent,
        sample=sample,
        epochs=epochs,
        min_count=min_count,
        workers=workers,
        seed=seed,
        sg=sg,
    )
    return gensim_model_recommender(model, train, score), model


def gensim_model_recommender(
    model: Any, train: Sessions, score: str | None = None, *, ranking: str | None = None
) -> Recommender:
    """A gensim ``Word2Vec`` trained on ``train`` (items named by their row numbers, as
    :func:`gensim_recommender` does) as a recommender; ``score`` (and ``ranking``, its
    deprecated former name) as there."""
    score = check_score(renamed_score(score, ranking, "cosine"), GENSIM_SCORES)
    rows = np.asarray([int(w) for w in model.wv.index_to_key], dtype=np.int64)
    vectors = np.zeros((len(train.vocabulary), model.wv.vector_size), np.float32)
    vectors[rows] = model.wv.vectors
    known = np.zeros(len(vectors), dtype=bool)
    known[rows] = True
    pop = popular_order(train)
    if score == "cosine":
        return vector_recommender(vectors, known=known, fallback=pop[known[pop]])
    out = np.zeros_like(vectors)
    out[rows] = model.syn1neg
    prior = log_prior(train.vocabulary.counts, model.ns_exponent, model.sample)
    return vector_recommender(vectors, biases=prior, targets=out, known=known,
                              fallback=pop[known[pop]])  # fmt: skip
