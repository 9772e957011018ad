"""The evaluation stage: next-event prediction against baselines.

Rank metrics and intervals (:mod:`item2vec.evaluation.metrics`), the count and
neighbourhood baselines (popularity, transitions, co-occurrence, SKNN), recommenders
that wrap a fitted model or gensim (:mod:`item2vec.evaluation.recommenders`), the
protocols (:func:`evaluate`, :func:`evaluate_seeds`, :func:`compare`) and successive
halving for the tuner (:mod:`item2vec.evaluation.halving`).

May import: the data, sampling and queries stages and the top-level helpers. Not the
estimator: a model reaches this stage as a recommender.
"""

from .protocols import compare, evaluate, evaluate_seeds

__all__ = ["compare", "evaluate", "evaluate_seeds"]
