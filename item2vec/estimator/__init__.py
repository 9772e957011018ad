"""The estimator stage: :class:`Item2Vec`, what users fit, query, save and load.

- :mod:`.core`: the class, its parameters (scikit-learn conventions), ``fit`` and ``update``;
- :mod:`.fitting`: the checks of a fit's inputs, its warning of a fit too short, the
  per-epoch validation;
- :mod:`.queries`: ``similar``, ``recommend``, ``recommend_batch`` and their indexes, thin
  wrappers around :class:`~item2vec.queries.recommend.QueryEngine`;
- :mod:`.persistence`: ``save``, ``load`` and :func:`model_bytes`;
- :mod:`.state`: the fitted state the method groups share (tables, lazy counts, engine).

May import: every stage below it (data, sampling, queries, training, evaluation) and the
top-level helpers; above it, ``tuning``, ``serving`` and ``cli`` import it.
"""

from .core import Item2Vec
from .persistence import model_bytes

__all__ = ["Item2Vec", "model_bytes"]
