"""The trials of :func:`~item2vec.tuning.search.tune`: a trainer fits one configuration.

A trainer is ``trainer(train, *, epochs, seed, **params) -> recommender``
(:data:`TrialTrainer`): :func:`item2vec_trainer` fits :class:`~item2vec.Item2Vec` (the
default), :func:`gensim_trainer` gensim's ``Word2Vec``, for a comparison tuned the same way.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from ..data.sessions import Sessions
from ..evaluation.recommenders import gensim_recommender, model_recommender, renamed_score
from ..queries.scoring import Recommender, check_score

__all__ = ["TrialTrainer", "gensim_trainer", "item2vec_trainer"]

TrialTrainer = Callable[..., Recommender]
"""``trainer(train, *, epochs, seed, **params) -> recommender``: one trial of :func:`tune`
(not :class:`item2vec.training.train.Trainer`, the training loop)."""


def item2vec_trainer(
    train: Sessions,
    *,
    epochs: int | None,
    seed: int,
    score: str | None = None,
    ranking: str | None = None,
    **params: Any,
) -> Recommender:
    """Fit :class:`~item2vec.Item2Vec` on ``train``; recommend by ``score`` (see
    :func:`~item2vec.evaluation.recommenders.model_recommender`: ``"blend"``, the default,
    ``"log_prob"``, ``"logit"`` or ``"cosine"``; ``ranking`` is its deprecated former name).
    ``epochs=None``: the estimator's automatic number.

    Rows of ``train``'s vocabulary that the model does not know (``min_count``) get no
    candidates and are never recommended. The returned recommender carries ``model`` (the
    fitted estimator) and ``train_seconds`` (time spent in epochs, without set-up), which
    :func:`tune` uses to plan the budget.
    """
    from ..estimator import Item2Vec

    score = check_score(renamed_score(score, ranking, "blend"))  # before the training
    with warnings.catch_warnings():  # a halving rung is short on purpose: no under-training note
        warnings.filterwarnings(
            "ignore", message=r"epochs=.*likely too short", category=UserWarning
        )
        model = Item2Vec(**params, epochs=epochs, seed=seed, progress=False).fit(train)
    rec = model_recommender(model, train, score)
    rec.model = model  # type: ignore[attr-defined]
    rec.train_seconds = float(sum(h["seconds"] for h in model.history_))  # type: ignore[attr-defined]
    return rec


def gensim_trainer(
    train: Sessions,
    *,
    epochs: int = 5,
    seed: int,
    dim: int = 64,
    window: int = 5,
    negatives: int = 5,
    ns_exponent: float = 0.75,
    sample: float = 1e-3,
    sg: int = 1,
    workers: int = 2,
    score: str | None = None,
    ranking: str | None = None,
) -> Recommender:
    """gensim ``Word2Vec`` as a :func:`tune` trainer (needs ``pip install 'item2vec[bench]'``).

    Same recommender as :func:`~item2vec.evaluation.recommenders.gensim_recommender` (cosine
    neighbours, or ``score="log_prob"``, the scores of
    :data:`~item2vec.evaluation.recommenders.GENSIM_SCORES`; popularity backfill); ``sg=1`` is
    skip-gram, ``sg=0`` CBOW. Fix ``score`` (``ranking``: its deprecated former name) with
    ``functools.partial``, not in the space. ``epochs`` defaults to gensim's 5: the epochs
    of the defaults :func:`tune`'s guard compares the winner with.
    """
    score = renamed_score(score, ranking, "cosine")
    rec, _ = gensim_recommender(
        train, dim=dim, window=window, negatives=negatives, ns_exponent=ns_exponent,
        sample=sample, epochs=epochs, workers=workers, seed=seed, sg=sg, score=score,
    )  # fmt: skip
    return rec
