"""The estimator's query methods: ``similar``, ``recommend``, ``recommend_batch`` and the
indexes they search, as thin wrappers that turn item ids into rows and back around
:class:`~item2vec.queries.recommend.QueryEngine`, where the scores are computed."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

import numpy as np

from ..checks import SCORES, check_choice, check_k
from ..exceptions import ParameterError
from ..queries.index import ItemIndex
from .state import FittedState

__all__ = ["Items", "QueryMethods", "is_single"]

Items = Hashable | Sequence[Hashable]


class QueryMethods(FittedState):
    """``similar``, ``recommend``, ``recommend_batch`` and the indexes of a fitted model."""

    def _rows(self, items: Items) -> tuple[np.ndarray, bool]:
        single = is_single(items)
        seq = [items] if single else list(items)
        if not seq:
            raise ParameterError("items is empty: give at least one item id")
        return self.vocabulary_.encode(seq), single

    def _filter_rows(self, items: Iterable[Hashable] | None) -> np.ndarray | None:
        if items is None:
            return None
        return self.vocabulary_.encode(list(items))

    @property
    def similar_index_(self) -> ItemIndex:
        """FAISS index over the normalised vectors (built on first use)."""
        return self._query_engine().index("cosine")

    @property
    def recommend_index_(self) -> ItemIndex:
        """The inner-product index the default score searches: over ``[E, b + log prior]``
        for ``blend`` / ``log_prob`` (built on first use, or at :meth:`save`)."""
        return self._recommend_index_for(self.default_score_)

    def _recommend_index_for(self, score: str) -> ItemIndex:
        """The index ``recommend(..., score=score)`` searches: the cosine index of
        :meth:`similar` for ``"cosine"``, else an inner-product index over ``[E, bias]``
        (``bias + log prior`` for ``log_prob`` and ``blend``)."""
        from ..queries.recommend import INDEX_OF

        return self._query_engine().index(INDEX_OF[check_choice("score", score, SCORES)])

    def similar(
        self,
        items: Items,
        k: int = 10,
        *,
        exclude: Iterable[Hashable] | None = None,
        allowed: Iterable[Hashable] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Nearest items by cosine similarity; the query item itself is never returned.

        ``items`` is one id (returns 1-D ``(ids (k,), scores (k,))``) or a sequence of ids
        (returns 2-D ``(m, k)`` arrays, one row per query). ``exclude`` / ``allowed``
        restrict the candidates for all queries. ``k`` above the number of eligible items
        is clamped with a warning.
        """
        self._check_fitted()
        k = check_k(k)
        rows, single = self._rows(items)
        found, scores = self._query_engine().similar(
            rows, k, self._filter_rows(exclude), self._filter_rows(allowed)
        )
        ids = self.vocabulary_.decode(found)
        return (ids[0], scores[0]) if single else (ids, scores)

    def recommend(
        self,
        history: Items,
        k: int = 10,
        *,
        exclude_context: bool = True,
        exclude: Iterable[Hashable] | None = None,
        allowed: Iterable[Hashable] | None = None,
        score: str | None = None,
        exact: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Next-item candidates after one history (a user's recent items, oldest first).

        Scores (``score``; default :attr:`default_score_`), see :mod:`item2vec.queries.scoring`:

        - ``"blend"``: each history item's observed neighbour counts smoothed towards the
          model's next-item distribution (a Dirichlet prior of
          :data:`~item2vec.queries.scoring.PRIOR_EVENTS` pseudo-events), mixed over the history;
        - ``"log_prob"``: the model's distributions ``softmax(E[h] . E[t] + b[t] + prior[t])``
          mixed over the history;
        - ``"logit"`` / ``"cosine"``: the recency-weighted sum of the history items' scores
          ``E[h] . E[t] + b[t]`` (cosines), by maximum inner product search; order-free
          apart from the weights.

        Every score weighs the newest item most and halves the weight at each step back
        (:data:`~item2vec.queries.scoring.RECENCY`), as ``evaluate`` and ``tune`` rank, so a
        history of one item ranks as that item does and older items refine the list rather
        than override it. The mixtures are computed exactly on candidates (the history
        items' count neighbours and top items, and an index search), so that a query's cost
        does not grow with the catalogue (:mod:`item2vec.queries.recommend`); ``exact=True``
        scores every item instead (the check; one matrix product over the catalogue per
        history item). ``history`` is one id or a sequence of ids forming ONE history;
        returns 1-D ``(ids (k,), scores (k,))``. Use :meth:`recommend_batch` for many
        histories at once.
        """
        ids, scores = self.recommend_batch(
            [history if not is_single(history) else [history]],
            k,
            exclude_context=exclude_context,
            exclude=exclude,
            allowed=allowed,
            score=score,
            exact=exact,
        )
        return ids[0], scores[0]

    def recommend_batch(
        self,
        histories: Sequence[Sequence[Hashable]],
        k: int = 10,
        *,
        exclude_context: bool = True,
        exclude: Iterable[Hashable] | None = None,
        allowed: Iterable[Hashable] | None = None,
        score: str | None = None,
        exact: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`recommend` for many histories: returns ``(m, k)`` ids and scores. Scored
        in chunks of histories, in memory bounded whatever their number."""
        self._check_fitted()
        score = self.default_score_ if score is None else check_choice("score", score, SCORES)
        if score == "blend" and self.neighbour_counts_ is None:
            raise ParameterError(
                "score='blend' needs the neighbour counts of the training sessions, which this "
                "model does not have (saved by an older version of item2vec); use "
                "score='log_prob', or fit it again"
            )
        k = check_k(k)
        if not len(histories):
            raise ParameterError("histories is empty: give at least one history")
        found, scores = self._query_engine().recommend(
            [self._rows(h)[0] for h in histories], k, score,
            counts=self.neighbour_counts_ if score == "blend" else None,
            exclude_context=exclude_context, exclude=self._filter_rows(exclude),
            allowed=self._filter_rows(allowed), exact=exact,
        )  # fmt: skip
        return self.vocabulary_.decode(found), scores


def is_single(items: object) -> bool:
    """Whether ``items`` is one id (a string, bytes or any non-iterable) rather than a
    sequence of ids."""
    return isinstance(items, str | bytes) or not isinstance(items, Iterable)
