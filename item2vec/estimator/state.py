"""The fitted state the estimator's methods share: tables, the lazy counts, the query engine.

:class:`FittedState` is the base of :class:`~item2vec.estimator.core.Item2Vec` and of its
method groups (:mod:`.queries`, :mod:`.persistence`): the check that a model is fitted, the
tables as the estimator keeps them (:func:`as_tables`), the neighbour counts a fit defers to
first use, the log prior and the default score, and the
:class:`~item2vec.queries.recommend.QueryEngine` over the current tables.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..exceptions import NotFittedError
from ..queries.recommend import QueryEngine
from ..training.update_state import grow_square

__all__ = ["FittedState", "as_tables"]


class FittedState:
    """What every method of a fitted :class:`~item2vec.estimator.core.Item2Vec` reads (see
    the attributes in its docstring)."""

    def _check_fitted(self) -> None:
        if not hasattr(self, "item_vectors_"):
            raise NotFittedError(
                "this Item2Vec is not fitted yet: call fit(sessions) or Item2Vec.load(path)"
            )

    def _set_weights(self, vectors: np.ndarray, biases: np.ndarray) -> None:
        self.item_vectors_, self.item_biases_ = as_tables(vectors, biases)
        self._engine: dict[str, QueryEngine] = {}  # the query engine, made on first use

    def _query_engine(self) -> QueryEngine:
        """The :class:`~item2vec.queries.recommend.QueryEngine` of the current tables, made on
        first use (``_set_weights`` drops it with the indexes; threads share one)."""
        self._check_fitted()
        engine = self._engine.get("engine")
        if engine is None:  # setdefault: threads that race keep one engine
            known = self.vocabulary_.counts > 0  # never-trained rows are never answers,
            known[len(known) - getattr(self, "_cold_rows", 0) :] = True  # cold ones are
            made = QueryEngine(self.item_vectors_, self.item_biases_, self.item_log_prior_,
                               kind=self.index, known=known)  # fmt: skip
            engine = self._engine.setdefault("engine", made)
        return engine

    @property
    def item_log_prior_(self) -> np.ndarray:
        """Per-item term that ``recommend(..., score="log_prob")`` adds to the logit: the
        log of the negative-sampling probability minus the log of the subsampling keep
        probability (see :func:`item2vec.sampling.log_prior`); float32 (n_items,)."""
        from ..sampling import log_prior

        self._check_fitted()
        return log_prior(self.vocabulary_.counts, self.config_.ns_exponent, self.config_.sample)

    @property
    def default_score_(self) -> str:
        """The score :meth:`recommend` uses when none is given: ``"blend"`` when the model has
        :attr:`neighbour_counts_`, else ``"log_prob"`` (the best measured, see
        benchmarks/README.md)."""
        self._check_fitted()
        if "_deferred_counts" in self.__dict__:
            return "blend"
        return "log_prob" if self.neighbour_counts_ is None else "blend"

    @property
    def neighbour_counts_(self) -> Any:
        """See the class docstring; computed here on first access after a fit."""
        return self._settled("_neighbour_counts", "neighbour_counts_")

    @neighbour_counts_.setter
    def neighbour_counts_(self, value: Any) -> None:
        self.__dict__.pop("_deferred_counts", None)
        self._neighbour_counts = value

    @property
    def update_state_(self) -> Any:
        """See the class docstring; its forward counts are computed here on first access
        after a fit."""
        return self._settled("_update_state", "update_state_")

    @update_state_.setter
    def update_state_(self, value: Any) -> None:
        self._update_state = value

    def _settled(self, key: str, name: str) -> Any:
        """The fitted attribute ``name`` (stored as ``key``) once the deferred counts are in
        place; AttributeError before a fit, as for any other fitted attribute."""
        self._settle_counts()
        try:
            return self.__dict__[key]
        except KeyError:
            raise AttributeError(name) from None

    def _settle_counts(self) -> None:
        """Compute the neighbour counts a fit deferred
        (:class:`~item2vec.queries.counts.DeferredCounts`) and put them in place:
        :attr:`neighbour_counts_` and the update state's forward counts and window. Threads
        that ask at once wait for one computation."""
        deferred = self.__dict__.get("_deferred_counts")
        if deferred is None:
            return
        counts = deferred.get()
        # cold items (the last rows) have no neighbour counts: empty rows and columns
        self._neighbour_counts = grow_square(counts.counts, len(self.__dict__["vocabulary_"]))
        state = self.__dict__["_update_state"]
        state.forward, state.window = counts.forward, counts.window
        self.__dict__.pop("_deferred_counts", None)


def as_tables(vectors: np.ndarray, biases: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Item vectors and biases as the estimator keeps them: float32, C-contiguous."""
    return (
        np.ascontiguousarray(vectors, dtype=np.float32),
        np.ascontiguousarray(biases, dtype=np.float32),
    )
