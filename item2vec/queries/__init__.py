"""The queries stage: answers from fitted tables.

FAISS indexes over item vectors (:class:`ItemIndex`, :class:`ShardedIndex`), the next-item
scores of a history (:mod:`item2vec.queries.scoring`: ``log_prob``, ``logit``, ``cosine``)
and the neighbour counts behind the default ``blend`` score (:mod:`item2vec.queries.counts`);
the query engine of ``Item2Vec.similar`` / ``recommend`` (:mod:`item2vec.queries.recommend`:
candidates, :mod:`~item2vec.queries.candidates`; cached normalisers,
:mod:`~item2vec.queries.normaliser`; shared filters, :mod:`~item2vec.queries.filters`).
Nothing here trains: everything reads arrays a fit produced.

May import: the data stage and the top-level helpers (``exceptions``, ``checks``,
``arrays``).
"""

from .index import IndexParams, ItemIndex
from .sharded_index import ShardedIndex

__all__ = ["IndexParams", "ItemIndex", "ShardedIndex"]
