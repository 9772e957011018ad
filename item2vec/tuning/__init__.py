"""The tuning stage: hyperparameter search for :class:`~item2vec.Item2Vec`.

:func:`tune` trains candidates on a next-event split, judges them by successive halving
and confirms the winner against the baselines on a split it never saw.

May import: the estimator and everything below it (evaluation, queries, training,
sampling, data, the top-level helpers).
"""

from .search import TuneResult, tune

__all__ = ["TuneResult", "tune"]
