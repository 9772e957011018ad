"""``Item2Vec``: the estimator users fit, query, save and load (scikit-learn conventions)."""

from __future__ import annotations

import os
import sys
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import numpy as np

from .config import Config
from .data import Sessions
from .exceptions import ModelFormatError, NotFittedError, ParameterError
from .index import ItemIndex
from .io import check_writable

Items = Hashable | Sequence[Hashable]


class Item2Vec:
    """Item embeddings by skip-gram or CBOW with negative sampling.

    Parameters
    ----------
    dim : embedding width.
    window : context items each side, or ``"session"`` (every other item of the session;
        for unordered baskets).
    negatives : negative couples per positive; shared by a target's whole window.
    ns_exponent : negatives are drawn from ``count ** ns_exponent`` (any real; negative
        values favour rare items, often better for recommendation).
    sample : subsampling threshold of frequent items (word2vec formula); 0 disables.
    epochs : passes over the corpus.
    mode : ``"skipgram"`` or ``"cbow"``.
    min_count : items seen fewer times are dropped before training.
    batch_size : window units (targets) per step; each holds up to ``2 * window`` positive
        couples.
    learning_rate, min_learning_rate : linear decay from the first to the second (word2vec).
    optimizer : ``"sgd"`` (default, as word2vec) or ``"adagrad"`` (row-wise, sparse).
    shrink_window : draw each target's window from ``1..window`` (word2vec).
    max_contexts : session mode: contexts per target (random subset of longer sessions).
    separate_output : use a second table for the target slot (classic word2vec); off by
        default: the model shares one table for both slots.
    workers : training threads updating the shared tables (Hogwild!, as gensim). They are the
        parallelism: call :func:`item2vec.train.configure_threads` (one TensorFlow thread per
        op) before TensorFlow starts, as the CLI does; about 20% faster on 2 cores.
    chunk_events : events per sampler chunk; bounds the sampler's memory.
    monitor : item ids whose current nearest neighbours are printed every
        ``monitor_every`` steps while training (one matrix product per print).
    monitor_every : steps between neighbour prints.
    descriptions : optional mapping item id -> text, used by the monitor.
    checkpoint_dir : write training checkpoints here (a model directory with the optimizer
        and position added); ``fit(..., resume=True)`` continues from it.
    checkpoint_every : steps between checkpoints (one is also written after every epoch
        and on Ctrl-C).
    index : FAISS index kind for queries (``"auto"``, ``"exact"``, ``"hnsw"``, ``"ivf"``,
        ``"ivfpq"``); ``"auto"`` is exact below 100k items.
    progress : show progress bars.
    seed : seeds initialisation and sampling.

    Attributes (after ``fit`` or ``load``)
    --------------------------------------
    item_vectors_ : float32 (n_items, dim)
    item_biases_ : float32 (n_items,)
    vocabulary_ : Vocabulary (``vocabulary_.ids`` are the item ids in row order)
    history_ : list of per-epoch dicts (loss, couples, seconds, couples_per_second, ...)
    """

    def __init__(
        self,
        dim: int = 64,
        window: int | str = 3,
        negatives: int = 5,
        ns_exponent: float = 0.75,
        sample: float = 1e-3,
        epochs: int = 10,
        mode: str = "skipgram",
        min_count: int = 1,
        batch_size: int = 2048,
        learning_rate: float = 0.025,
        min_learning_rate: float = 1e-4,
        optimizer: str = "sgd",
        shrink_window: bool = True,
        max_contexts: int | None = None,
        separate_output: bool = False,
        workers: int = 2,
        chunk_events: int = 250_000,
        monitor: Sequence[Hashable] | None = None,
        monitor_every: int = 500,
        descriptions: Any = None,
        checkpoint_dir: str | os.PathLike | None = None,
        checkpoint_every: int = 1000,
        index: str = "auto",
        progress: bool = True,
        seed: int = 0,
    ) -> None:
        self.dim = dim
        self.window = window
        self.negatives = negatives
        self.ns_exponent = ns_exponent
        self.sample = sample
        self.epochs = epochs
        self.mode = mode
        self.min_count = min_count
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.min_learning_rate = min_learning_rate
        self.optimizer = optimizer
        self.shrink_window = shrink_window
        self.max_contexts = max_contexts
        self.separate_output = separate_output
        self.workers = workers
        self.chunk_events = chunk_events
        self.monitor = monitor
        self.monitor_every = monitor_every
        self.descriptions = descriptions
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.index = index
        self.progress = progress
        self.seed = seed

    # ------------------------------------------------------------------ config
    def config(self) -> Config:
        """The training hyperparameters as a validated :class:`Config`."""
        names = Config.__dataclass_fields__
        return Config(**{k: getattr(self, k) for k in names}).validate()

    def get_params(self) -> dict[str, Any]:
        return {**self.config().to_dict(), "index": self.index, "progress": self.progress}

    def __repr__(self) -> str:
        return f"Item2Vec(dim={self.dim}, window={self.window!r}, mode={self.mode!r})"

    # ------------------------------------------------------------------ fit
    def fit(self, sessions: Sessions, *, validation: Any = None, resume: bool = False) -> Item2Vec:
        """Train on ``sessions``; returns self.

        Parameters
        ----------
        sessions : Sessions, or a :class:`~item2vec.corpus.ParquetCorpus` to stream a log
            larger than memory from disk (memory bounded by ``chunk_events``).
        validation : optional :class:`item2vec.evaluate.NextEventSplit` whose ``train``
            is ``sessions``; its HR@10 / NDCG@10 (ranked by ``recommend(...,
            score="log_prob")``) are computed after every epoch and kept in ``history_``.
        resume : continue from the checkpoint in ``checkpoint_dir`` if there is one (the
            settings and the vocabulary must match the checkpoint's).

        Ctrl-C stops training after writing a checkpoint (when ``checkpoint_dir`` is set)
        and re-raises ``KeyboardInterrupt``.
        """
        from .corpus import ParquetCorpus
        from .model import Item2VecModel
        from .train import Checkpointer, NeighbourMonitor, Trainer

        config = self.config()
        streamed = isinstance(sessions, ParquetCorpus)
        if not isinstance(sessions, Sessions) and not streamed:
            raise ParameterError(
                f"sessions must be an item2vec.Sessions, got {type(sessions).__name__}; "
                "build one with Sessions.from_frame / from_lists (or stream a Parquet log "
                "larger than memory with item2vec.corpus.ParquetCorpus)"
            )
        if streamed and config.min_count > 1:
            raise ParameterError(
                "min_count applies when the ParquetCorpus is built: "
                "ParquetCorpus(path, ..., min_count=...)"
            )
        if (
            isinstance(self.checkpoint_every, bool)
            or not isinstance(self.checkpoint_every, int)
            or self.checkpoint_every < 1
        ):
            raise ParameterError(
                f"checkpoint_every must be an integer >= 1, got {self.checkpoint_every!r}"
            )
        if resume and self.checkpoint_dir is None:
            raise ParameterError("resume=True needs checkpoint_dir to be set")
        if self.checkpoint_dir is not None:
            check_writable(self.checkpoint_dir, model_bytes(len(sessions.vocabulary), config))
        if config.min_count > 1:
            if validation is not None:
                raise ParameterError(
                    "min_count > 1 renumbers the vocabulary and would break the validation "
                    "split: apply it to the sessions before splitting"
                )
            sessions = sessions.restrict(min_count=config.min_count)
        if config.negatives > 0 and len(sessions.vocabulary) < 2:
            raise ParameterError(
                f"negatives={config.negatives} needs at least 2 items, the vocabulary has "
                f"{len(sessions.vocabulary)}"
            )
        if validation is not None and validation.train.vocabulary is not sessions.vocabulary:
            raise ParameterError("validation must be a split of the sessions being fitted")
        model = Item2VecModel(
            len(sessions.vocabulary),
            config.dim,
            mode=config.mode,
            separate_output=config.separate_output,
            seed=config.seed,
        )
        trainer = Trainer(model, sessions, config, progress=self.progress)
        if self.monitor:
            trainer.on_step.append(
                NeighbourMonitor(
                    model,
                    sessions.vocabulary,
                    list(self.monitor),
                    every=self.monitor_every,
                    descriptions=self.descriptions,
                )
            )
        validate = None if validation is None else self._validator(model, validation, config)
        checkpointer = None
        state = None
        if self.checkpoint_dir is not None:
            checkpointer = Checkpointer(
                trainer, os.fspath(self.checkpoint_dir), self.checkpoint_every
            )
            trainer.on_step.append(checkpointer.on_step)
            if resume and os.path.exists(os.path.join(checkpointer.directory, "meta.json")):
                state = checkpointer.restore()

        def on_epoch_end(stats: Any) -> None:
            if validate is not None:
                validate(stats)
            if checkpointer is not None:
                checkpointer.save()

        trainer.on_epoch_end = on_epoch_end
        self.model_ = model
        self.vocabulary_ = sessions.vocabulary
        try:
            trainer.fit(state)
        except KeyboardInterrupt:
            if checkpointer is not None:
                checkpointer.save()
                st = trainer.state
                print(
                    f"item2vec: training interrupted at epoch {st.epoch + 1}, step "
                    f"{st.global_step}; checkpoint saved to {checkpointer.directory}. Resume "
                    "with fit(sessions, resume=True) or `item2vec train ... --resume`.",
                    file=sys.stderr,
                )
            raise
        self.history_ = [s.as_dict() for s in trainer.history]
        self._set_weights(model.E.numpy(), model.b.numpy()[:, 0])
        return self

    @staticmethod
    def _validator(model: Any, split: Any, config: Config):
        """Next-event HR@10 / NDCG@10 after each epoch, ranked as ``recommend(...,
        score="log_prob")`` ranks (the default of ``evaluate`` and ``tune``)."""
        from .evaluate import evaluate, vector_recommender
        from .sampling import log_prior

        counts = split.train.vocabulary.counts
        known = counts > 0  # items seen in training
        prior = log_prior(counts, config.ns_exponent, config.sample)

        def on_epoch_end(stats: Any) -> None:
            biases = model.b.numpy()[:, 0] + prior
            rec = vector_recommender(model.E.numpy(), biases=biases, known=known)
            res = evaluate(rec, split, ks=(10,))
            stats.metrics.update({k: float(v) for k, v in res.items() if k in ("HR@10", "NDCG@10")})

        return on_epoch_end

    def _set_weights(self, vectors: np.ndarray, biases: np.ndarray) -> None:
        self.item_vectors_ = np.ascontiguousarray(vectors, dtype=np.float32)
        self.item_biases_ = np.ascontiguousarray(biases, dtype=np.float32)
        self._similar_index: ItemIndex | None = None
        self._recommend_index: dict[str, ItemIndex] = {}

    # ------------------------------------------------------------------ queries
    def _check_fitted(self) -> None:
        if not hasattr(self, "item_vectors_"):
            raise NotFittedError(
                "this Item2Vec is not fitted yet: call fit(sessions) or Item2Vec.load(path)"
            )

    def _rows(self, items: Items) -> tuple[np.ndarray, bool]:
        single = _is_single(items)
        seq = [items] if single else list(items)
        if not seq:
            raise ParameterError("items is empty: give at least one item id")
        return self.vocabulary_.encode(seq), single

    def _check_k(self, k: Any) -> int:
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ParameterError(f"k must be an integer >= 1, got {k!r}")
        return int(k)

    def _filter_rows(self, items: Iterable[Hashable] | None) -> np.ndarray | None:
        if items is None:
            return None
        return self.vocabulary_.encode(list(items))

    @property
    def similar_index_(self) -> ItemIndex:
        """FAISS index over the normalised vectors (built on first use)."""
        self._check_fitted()
        if self._similar_index is None:
            self._similar_index = ItemIndex(self.item_vectors_, metric="cosine", kind=self.index)
        return self._similar_index

    @property
    def recommend_index_(self) -> ItemIndex:
        """FAISS inner-product index over ``[E, b]`` (built on first use)."""
        return self._recommend_index_for("logit")

    @property
    def item_log_prior_(self) -> np.ndarray:
        """Per-item term that ``recommend(..., score="log_prob")`` adds to the logit: the
        log of the negative-sampling probability minus the log of the subsampling keep
        probability (see :func:`item2vec.sampling.log_prior`); float32 (n_items,)."""
        from .sampling import log_prior

        self._check_fitted()
        return log_prior(self.vocabulary_.counts, self.ns_exponent, self.sample)

    def _recommend_index_for(self, score: str) -> ItemIndex:
        self._check_fitted()
        if score not in _SCORES:
            raise ParameterError(f"score must be one of {_SCORES}, got {score!r}")
        if score not in self._recommend_index:
            bias = self.item_biases_ + (self.item_log_prior_ if score == "log_prob" else 0)
            aug = np.hstack([self.item_vectors_, bias[:, None]])
            self._recommend_index[score] = ItemIndex(aug, metric="ip", kind=self.index)
        return self._recommend_index[score]

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
        k = self._check_k(k)
        rows, single = self._rows(items)
        ex = self._filter_rows(exclude)
        per_query = (
            rows[:, None]
            if ex is None
            else np.hstack([rows[:, None], np.broadcast_to(ex, (len(rows), len(ex)))])
        )
        allowed_rows = self._filter_rows(allowed)
        found, scores = self.similar_index_.search(
            self.item_vectors_[rows], k, exclude=per_query, allowed=allowed_rows
        )
        ids = self.vocabulary_.decode(found)
        return (ids[0], scores[0]) if single else (ids, scores)

    def recommend(
        self,
        context_items: Items,
        k: int = 10,
        *,
        exclude_context: bool = True,
        exclude: Iterable[Hashable] | None = None,
        allowed: Iterable[Hashable] | None = None,
        score: str = "logit",
    ) -> tuple[np.ndarray, np.ndarray]:
        """Next-item candidates for one context (a basket or a recent history).

        ``score="logit"`` ranks by the trained objective, ``mean(E[context]) . E[t] + b[t]``;
        ``score="log_prob"`` adds :attr:`item_log_prior_`, making the score an estimate of
        ``log P(t | context)`` up to a constant (the logit alone favours items that are rare
        overall; on Online Retail next purchases log_prob has the higher hit rate, see
        benchmarks/README.md). Both by maximum inner product search. ``context_items`` is
        one id or a sequence of ids forming ONE context; returns 1-D ``(ids (k,),
        scores (k,))``. Use :meth:`recommend_batch` for many contexts at once.
        """
        ids, scores = self.recommend_batch(
            [context_items if not _is_single(context_items) else [context_items]],
            k,
            exclude_context=exclude_context,
            exclude=exclude,
            allowed=allowed,
            score=score,
        )
        return ids[0], scores[0]

    def recommend_batch(
        self,
        contexts: Sequence[Sequence[Hashable]],
        k: int = 10,
        *,
        exclude_context: bool = True,
        exclude: Iterable[Hashable] | None = None,
        allowed: Iterable[Hashable] | None = None,
        score: str = "logit",
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`recommend` for many contexts: returns ``(m, k)`` ids and scores."""
        index = self._recommend_index_for(score)
        k = self._check_k(k)
        if not len(contexts):
            raise ParameterError("contexts is empty: give at least one context")
        ctx_rows = [self._rows(c)[0] for c in contexts]
        q = np.stack([self.item_vectors_[r].mean(axis=0) for r in ctx_rows])
        q = np.hstack([q, np.ones((len(q), 1), np.float32)])
        ex = self._filter_rows(exclude)
        width = max(len(r) for r in ctx_rows) if exclude_context else 0
        per_query = np.full((len(q), width + (0 if ex is None else len(ex))), -1, np.int64)
        for i, r in enumerate(ctx_rows):
            if exclude_context:
                per_query[i, : len(r)] = r
            if ex is not None:
                per_query[i, width:] = ex
        found, scores = index.search(
            q,
            k,
            exclude=per_query if per_query.shape[1] else None,
            allowed=self._filter_rows(allowed),
        )
        return self.vocabulary_.decode(found), scores

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write the model directory atomically (see :func:`item2vec.io.save_model`)."""
        from .io import save_model

        self._check_fitted()
        save_model(
            path,
            vectors=self.item_vectors_,
            biases=self.item_biases_,
            vocabulary=self.vocabulary_,
            config={**self.config().to_dict(), "index": self.index},
            history=self.history_,
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> Item2Vec:
        """Read a model directory written by :meth:`save`; never unpickles.

        The FAISS indexes are rebuilt from the vectors on first query (exact search
        takes no build; HNSW on 1M items takes minutes, see benchmarks/README.md).
        """
        from .io import load_model

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
        model = cls(**config.to_dict(), index=index, progress=False)
        model.vocabulary_ = loaded.vocabulary
        model.history_ = list(loaded.history or [])
        model._set_weights(loaded.vectors, loaded.biases)
        return model


def model_bytes(n_items: int, config: Config) -> int:
    """Rough size of a saved model or checkpoint: tables (+ optimizer state) and vocabulary."""
    tables = 2 if config.separate_output else 1
    per_row = (
        4 * config.dim * tables + 4 + (8 * (tables + 1) if config.optimizer == "adagrad" else 0)
    )
    return n_items * (per_row + 64) + 65_536


_SCORES = ("logit", "log_prob")


def _is_single(items: Any) -> bool:
    return isinstance(items, str | bytes) or not isinstance(items, Iterable)


__all__ = ["Item2Vec"]
