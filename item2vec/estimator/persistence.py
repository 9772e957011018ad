"""The estimator's model directory: :meth:`~PersistenceMethods.save` and
:meth:`~PersistenceMethods.load` on top of :mod:`item2vec.io` (the tables, the vocabulary,
the settings, the neighbour counts, what ``update`` needs, the item attributes and the
saved indexes), and :func:`model_bytes`, a saved model's size."""

from __future__ import annotations

import os
from typing import Any, TypeVar

import numpy as np

from ..config import Config
from ..exceptions import ModelFormatError, ParameterError
from ..queries.counts import counts_arrays, counts_from_arrays
from ..training import incremental
from ..training.attributes import features_arrays, features_from_arrays, strip_cold
from .state import FittedState

__all__ = ["PersistenceMethods", "model_bytes", "trained_on"]

T = TypeVar("T", bound="PersistenceMethods")


class PersistenceMethods(FittedState):
    """``save`` and ``load`` of a fitted model."""

    def save(self, path: str | os.PathLike) -> None:
        """Write the model directory atomically (see :func:`item2vec.io.save_model`).

        ``descriptions``, when set, are saved with it (for the items of the vocabulary) and
        come back with :meth:`load`."""
        from ..io import save_model

        self._check_fitted()
        save_model(
            path,
            vectors=self.item_vectors_,
            biases=self.item_biases_,
            vocabulary=self.vocabulary_,
            config={**self.config_.to_dict(), "index": self.index},
            history=self.history_,
            extra_arrays={
                **counts_arrays(self.neighbour_counts_),
                **incremental.state_arrays(getattr(self, "update_state_", None)),
                **self._features_arrays(),
                **self._query_engine().index_arrays(self.default_score_),  # built if needed
            },
            descriptions=self.descriptions,
        )

    @classmethod
    def load(cls: type[T], path: str | os.PathLike) -> T:
        """Read a model directory written by :meth:`save`; never unpickles.

        An approximate FAISS index saved with the model is used again once checked against
        the vectors (:meth:`~item2vec.queries.recommend.QueryEngine.adopt`); any other index
        is built on first query (exact search takes no build; IVF on 1M items about 30 s,
        HNSW minutes, see benchmarks/README.md).
        """
        from ..io import load_model

        loaded = load_model(path)
        cfg = dict(loaded.config)
        index = cfg.pop("index", "auto")
        meta_path = os.path.join(os.fspath(path), "meta.json")
        try:
            config = Config.from_dict(cfg)
        except (ParameterError, TypeError) as e:
            raise ModelFormatError(f"{meta_path}: invalid config: {e}") from e
        if config.dim != loaded.vectors.shape[1]:
            raise ModelFormatError(
                f"{meta_path}: config dim={config.dim} but the vectors have "
                f"{loaded.vectors.shape[1]} columns"
            )
        model = cls(
            **config.to_dict(), index=index, progress=False, descriptions=loaded.descriptions
        )
        model.vocabulary_ = loaded.vocabulary
        model.history_ = list(loaded.history or [])
        model.config_ = config
        model.epochs_ = config.epochs
        model.device_ = trained_on(model.history_)
        model.neighbour_counts_ = counts_from_arrays(
            loaded.extra_arrays, len(loaded.vocabulary), meta_path
        )
        saved = features_from_arrays(loaded.extra_arrays)
        n_cold = int(loaded.extra_arrays.get("cold_rows", np.zeros(1, np.int64))[0])
        trained = strip_cold(loaded.vocabulary, loaded.vectors, loaded.biases, n_cold)[0]
        model.update_state_ = incremental.state_from_arrays(
            loaded.extra_arrays, trained, config.dim, meta_path
        )
        model._set_weights(loaded.vectors, loaded.biases)
        model.item_features_ = None if saved is None else saved[0]
        model.attribute_encoder_ = None if saved is None else saved[1]
        ids, counts = loaded.vocabulary.ids, loaded.vocabulary.counts
        known = set() if saved is None else set(saved[0].ids.tolist())
        model.cold_items_ = ids[[c == 0 and i in known for i, c in zip(ids.tolist(), counts)]]
        model._cold_rows = n_cold  # before the engine is made: cold rows are answers
        model._query_engine().adopt(loaded.extra_arrays, meta_path)  # saved indexes
        return model

    def _features_arrays(self) -> dict[str, np.ndarray]:
        """The attributes, their encoder and the number of cold rows, for :meth:`save`."""
        features = getattr(self, "item_features_", None)
        if features is None:
            return {}
        return {
            **features_arrays(features, self.attribute_encoder_),
            "cold_rows": np.array([self._cold_rows], np.int64),
        }


def model_bytes(n_items: int, config: Config) -> int:
    """Rough size of a saved model or checkpoint: tables (+ optimizer state) and vocabulary."""
    tables = 2 if config.separate_output else 1
    per_row = (
        4 * config.dim * tables + 4 + (8 * (tables + 1) if config.optimizer == "adagrad" else 0)
    )
    return n_items * (per_row + 64) + 65_536


def trained_on(history: list[dict[str, Any]]) -> str | None:
    """The device of the last epoch of ``history`` that records one (None if none does)."""
    for h in reversed(history):
        if h.get("device") in ("cpu", "gpu"):
            return str(h["device"])
    return None
