"""``Item2Vec``: the estimator users fit, query, save and load (scikit-learn conventions)."""

from __future__ import annotations

import functools
import inspect
import os
import warnings
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import numpy as np

from .checks import SCORES, check_choice, check_int, check_k
from .config import AUTO_EVENTS, Config, auto_epochs
from .data.features import as_item_features
from .data.sessions import Sessions
from .data.split import NextEventSplit
from .evaluation.metrics import rank_metrics
from .exceptions import ModelFormatError, NotFittedError, ParameterError
from .io import check_writable
from .queries.corpus_counts import corpus_counts
from .queries.counts import DeferredCounts, counts_arrays, counts_from_arrays
from .queries.index import ItemIndex
from .queries.recommend import QueryEngine
from .queries.scoring import score_recommender
from .training import incremental
from .training.attributes import (
    add_cold_items,
    features_arrays,
    features_from_arrays,
    merge_features,
    strip_cold,
)
from .training.update_state import grow_square

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
    epochs : passes over the corpus; ``None`` (default) derives them from its size
        (:func:`item2vec.config.auto_epochs`: about 4 M events of training, 10 to 100 epochs),
        so that a small log is trained as well as a large one. A fit much shorter than that
        warns.
    mode : ``"skipgram"`` or ``"cbow"``.
    min_count : items seen fewer times are dropped before training.
    batch_size : window units (targets) per step; each holds up to ``2 * window`` positive
        couples.
    negative_block : targets trained together, sharing their draws of negatives (each
        context still scores ``negatives`` items drawn from ``count ** ns_exponent``, its
        own target never among them); ``1`` gives every unit its own draw, as word2vec.
        ``None`` (default): 8 for skip-gram with an integer window, 1 otherwise
        (:meth:`item2vec.config.Config.block`). On in-memory sessions a block is that many
        consecutive targets of a session, whose surrounding events are gathered and
        updated once for all their couples (:class:`item2vec.sampling.units.Spans`): 0.72-0.94x of
        the fit time of random blocks on Online Retail, HR@10 +0.000 to +0.006; a
        streamed corpus shares each draw between random units. Must divide ``batch_size``; the
        distributed trainer always draws per unit.
    learning_rate, min_learning_rate : linear decay from the first to the second (word2vec).
    optimizer : ``"sgd"`` (default, as word2vec) or ``"adagrad"`` (row-wise, sparse).
    shrink_window : draw each target's window from ``1..window`` (word2vec).
    max_contexts : session mode: contexts per target (random subset of longer sessions).
    separate_output : use a second table for the target slot (classic word2vec); off by
        default: the model shares one table for both slots.
    workers : training threads updating the shared tables (Hogwild!, as gensim). They are the
        parallelism, so ``fit`` and ``update`` give each TensorFlow op one thread
        (:mod:`item2vec.training.threads`; about 20% faster on 2 cores), or warn when
        TensorFlow already runs with its default and it is too late to change.
    device : where the tables live and the training step runs: ``"auto"`` (default: the first
        GPU TensorFlow sees, else the CPU), ``"cpu"``, or ``"gpu"`` (a :class:`ParameterError`
        at the start of ``fit`` when TensorFlow sees no GPU). Sampling stays on the CPU
        either way. A CPU run gives the same vectors whichever of ``"auto"`` / ``"cpu"`` chose
        it; a GPU run's differ in rounding. Queries (FAISS) run on the CPU.
    chunk_events : events per sampler chunk; bounds the sampler's memory.
    monitor : item ids whose current nearest neighbours are printed every
        ``monitor_every`` steps while training (one matrix product per print).
    monitor_every : steps between neighbour prints.
    descriptions : optional mapping item id -> text (or a Series indexed by id), used by
        the monitor, saved with the model and shown by ``item2vec similar`` / ``recommend``.
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
    config_ : :class:`~item2vec.config.Config`, the settings the model was trained with
        (``epochs`` resolved). Everything that depends on them after the fit reads them from
        here, not from the constructor's parameters: :attr:`item_log_prior_`, :meth:`save`
        and :meth:`update` (which takes only ``workers``, ``device`` and ``chunk_events``,
        how a run executes, from the current parameters). ``set_params`` after a fit
        changes the next ``fit``, not this model.
    epochs_ : int, the epochs the model was trained for (``config_.epochs``)
    device_ : ``"cpu"`` or ``"gpu"``, where the last fit or update trained (``device``
        resolved; also in each epoch of ``history_``). On a loaded model, from its history
        (``None`` for a model saved before devices were recorded).
    neighbour_counts_ : scipy.sparse CSR (n_items, n_items) or None
        How often each item followed each other in the training sessions, plus the pairs
        the other way round weighted by how unordered the log is
        (:func:`item2vec.queries.counts.next_counts`): what ``score="blend"`` smooths with the
        model; each item keeps its :data:`~item2vec.queries.counts.MAX_NEIGHBOURS`
        strongest neighbours. A fit from a ``ParquetCorpus`` counts them in a pass over it,
        chunk by chunk (the same counts). ``None`` for a model loaded from a directory
        written before they existed. :meth:`update` adds the new sessions' counts.
        A fit does not count them: they are computed on first use (this attribute, a
        ``"blend"`` query, :meth:`save` or :meth:`update`; 1-2 s on Online Retail, ~10 s
        on a 5 M-event log), from the training sessions, which the model references until
        then.
    update_state_ : :class:`item2vec.training.incremental.UpdateState`, what :meth:`update` needs
        beyond the vectors (forward pair counts, items still below ``min_count``, Adagrad's
        accumulators, a separate output table); saved with the model.
    """

    def __init__(
        self,
        dim: int = 64,
        window: int | str = 3,
        negatives: int = 5,
        ns_exponent: float = 0.75,
        sample: float = 1e-3,
        epochs: int | None = None,
        mode: str = "skipgram",
        min_count: int = 1,
        batch_size: int = 2048,
        negative_block: int | None = None,
        learning_rate: float = 0.025,
        min_learning_rate: float = 1e-4,
        optimizer: str = "sgd",
        shrink_window: bool = True,
        max_contexts: int | None = None,
        separate_output: bool = False,
        workers: int = 2,
        device: str = "auto",
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
        self.negative_block = negative_block
        self.learning_rate = learning_rate
        self.min_learning_rate = min_learning_rate
        self.optimizer = optimizer
        self.shrink_window = shrink_window
        self.max_contexts = max_contexts
        self.separate_output = separate_output
        self.workers = workers
        self.device = device
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

    @classmethod
    def _param_names(cls) -> list[str]:
        """The constructor's arguments, in order: the estimator's parameters."""
        sig = inspect.signature(cls.__init__).parameters
        return [name for name in sig if name != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Every constructor argument and its current value (scikit-learn convention).

        ``deep`` is accepted for scikit-learn; no parameter is itself an estimator, so it
        changes nothing. ``Item2Vec(**model.get_params())`` builds an unfitted copy, and
        ``sklearn.base.clone(model)`` works.
        """
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Item2Vec:
        """Set constructor arguments by name; returns self (scikit-learn convention).

        Values are checked when :meth:`fit` runs, as for the constructor. An unknown name
        raises :class:`ParameterError` naming it and listing the valid ones; then nothing is
        set.
        """
        names = self._param_names()
        unknown = [name for name in params if name not in names]
        if unknown:
            raise ParameterError(
                f"unknown parameter {unknown[0]!r} for Item2Vec; valid parameters: "
                + ", ".join(names)
            )
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        return f"Item2Vec(dim={self.dim}, window={self.window!r}, mode={self.mode!r})"

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        sessions: Sessions,
        *,
        validation: NextEventSplit | None = None,
        resume: bool = False,
        item_features: Any = None,
    ) -> Item2Vec:
        """Train on ``sessions``; returns self.

        Parameters
        ----------
        sessions : Sessions, or a :class:`~item2vec.sampling.corpus.ParquetCorpus` to stream a log
            larger than memory from disk (memory bounded by ``chunk_events``).
        validation : optional :class:`item2vec.data.split.NextEventSplit` whose ``train``
            is ``sessions``; its HR@10 / NDCG@10 (ranked by ``recommend(...,
            score="log_prob")``) are computed after every epoch and kept in ``history_``.
        resume : continue from the checkpoint in ``checkpoint_dir`` if there is one (the
            settings and the vocabulary must match the checkpoint's).
        item_features : optional item attributes: a mapping item id -> iterable of str, a
            DataFrame (first column the ids) or :class:`~item2vec.data.features.ItemFeatures`.
            Items with attributes and no events (or below ``min_count``) become cold items:
            rows appended after the trained ones (count 0), with vectors predicted from
            their attributes (:mod:`item2vec.training.attributes`), so that ``similar`` and
            ``recommend`` know them. Trained items are not changed.

        Ctrl-C stops training after writing a checkpoint (when ``checkpoint_dir`` is set)
        and re-raises ``KeyboardInterrupt``.

        The fitted attributes (``item_vectors_``, ``vocabulary_``, ``model_``, ...) are set
        together once training has succeeded: a fit that fails or is interrupted leaves a
        previous fit's model in place, answering as before.
        """
        from .sampling.corpus import ParquetCorpus
        from .training.checkpoint import run_with_checkpoints
        from .training.model import Item2VecModel
        from .training.threads import threads_for_training
        from .training.train import Trainer, device_scope, resolve_device

        config = self.config()
        device = resolve_device(config.device)  # device="gpu" without a GPU: fail now
        threads_for_training(config.workers)  # before TensorFlow's first op, or a warning
        features = None if item_features is None else as_item_features(item_features)
        streamed = isinstance(sessions, ParquetCorpus)
        if not isinstance(sessions, Sessions) and not streamed:
            raise ParameterError(
                f"sessions must be an item2vec.Sessions, got {type(sessions).__name__}; "
                "build one with Sessions.from_frame / from_lists (or stream a Parquet log "
                "larger than memory with item2vec.sampling.corpus.ParquetCorpus)"
            )
        if streamed and config.min_count > 1:
            raise ParameterError(
                "min_count applies when the ParquetCorpus is built: "
                "ParquetCorpus(path, ..., min_count=...)"
            )
        check_int("checkpoint_every", self.checkpoint_every, 1)
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
            raw, sessions = sessions, sessions.restrict(min_count=config.min_count)
        else:
            raw = sessions
        config = config.for_corpus(sessions.n_events)
        _warn_if_short(config.epochs, sessions.n_events)
        if config.negatives > 0 and len(sessions.vocabulary) < 2:
            raise ParameterError(
                f"negatives={config.negatives} needs at least 2 items, the vocabulary has "
                f"{len(sessions.vocabulary)}"
            )
        if validation is not None and validation.train.vocabulary is not sessions.vocabulary:
            raise ParameterError("validation must be a split of the sessions being fitted")
        with device_scope(device):  # the tables where the step runs
            model = Item2VecModel(
                len(sessions.vocabulary),
                config.dim,
                mode=config.mode,
                separate_output=config.separate_output,
                seed=config.seed,
            )
        trainer = Trainer(model, sessions, config, progress=self.progress)
        validate = None if validation is None else self._validator(model, validation, config)
        run_with_checkpoints(
            trainer, self, sessions.vocabulary, resume=resume, on_epoch=validate,
            interrupted="training interrupted at epoch {epoch}, step {step}; checkpoint saved "
            "to {directory}. Resume with fit(sessions, resume=True) or `item2vec train ... "
            "--resume`.",
        )  # fmt: skip
        # Only now, with training done, does the estimator change: all fitted attributes at
        # once, so that a failed re-fit never pairs a new vocabulary with old vectors.
        history = [s.as_dict() for s in trainer.history]
        vectors, biases = _weights(model.E.numpy(), model.b.numpy()[:, 0])
        update_state = incremental.after_fit(raw, sessions, trainer)
        cold = (
            None
            if features is None
            else add_cold_items(features, sessions.vocabulary, vectors, biases)
        )
        self.model_ = model
        self.vocabulary_ = sessions.vocabulary if cold is None else cold.vocabulary
        self.history_ = history
        self.config_ = config
        self.epochs_ = config.epochs
        self.device_ = trainer.device
        self.neighbour_counts_ = None
        self.update_state_ = update_state  # its forward counts come with the deferred ones
        # counted on first use: a model asked only for vectors never pays; a streamed
        # corpus in a pass of its own, chunk by chunk (the same counts as in memory)
        self._deferred_counts = DeferredCounts(
            sessions if not streamed else functools.partial(corpus_counts, sessions)
        )
        self._set_weights(vectors, biases)
        self._set_features(features, cold)
        return self

    def update(
        self,
        sessions: Sessions,
        *,
        epochs: int | None = None,
        freeze_existing: bool = False,
        existing_rate: float | str = "auto",
        learning_rate: float | None = None,
        resume: bool = False,
        item_features: Any = None,
    ) -> Item2Vec:
        """Train a fitted (or loaded) model further on new sessions, with new items; returns
        self. The rules are in :mod:`item2vec.training.incremental`; in short:

        - new items get rows appended; existing rows, ids, vectors and biases stay where
          they are; ``min_count`` applies to the counts accumulated over every log seen;
        - counts add up, so negatives, subsampling, :attr:`item_log_prior_` and the
          neighbour counts of ``score="blend"`` follow the combined log;
        - the learning rate decays from ``learning_rate`` (default: the model's) over the
          update; existing rows run at ``existing_rate`` times it (``"auto"``: each item's
          share of new events with SGD, 1 with Adagrad, whose accumulators are kept);
        - ``freeze_existing=True`` trains only the new rows: every old vector and bias comes
          out bit-identical;
        - ``epochs=None`` gives the new sessions the model's ``epochs_``;
        - ``item_features`` adds or replaces items' attributes; the attribute map is fitted
          again on the updated vectors, a cold item that got events is trained as a new
          item (and is cold no more), the others are encoded again and stay the last rows.

        ``sessions`` is a :class:`Sessions` or a :class:`~item2vec.sampling.corpus.ParquetCorpus`
        (streamed). ``checkpoint_dir`` / ``resume=True`` work as in :meth:`fit`: resume on
        the model as it was before the update, with the same sessions. As with ``fit``, the
        model changes only once the update has succeeded.
        """
        self._check_fitted()
        new_features = None if item_features is None else as_item_features(item_features)
        features = merge_features(getattr(self, "item_features_", None), new_features)
        n_cold = getattr(self, "_cold_rows", 0)
        before_counts = self.neighbour_counts_ if n_cold else None
        before = self._strip_cold(n_cold) if n_cold else None  # the update trains trained rows
        try:
            result = incremental.update(
                self, sessions, epochs=epochs, freeze_existing=freeze_existing,
                existing_rate=existing_rate, learning_rate=learning_rate, resume=resume,
            )  # fmt: skip
            cold = (
                None
                if features is None
                else add_cold_items(features, result.vocabulary, result.vectors, result.biases)
            )
        except BaseException:
            if before is not None:  # the model as it was before the update
                self.vocabulary_, self.neighbour_counts_ = before.vocabulary, before_counts
                self._set_weights(before.vectors, before.biases)
            raise
        self.model_ = result.model
        self.vocabulary_ = result.vocabulary
        self.history_ = result.history
        self.device_ = result.device
        self.neighbour_counts_ = result.neighbour_counts
        self.update_state_ = result.state
        self._set_weights(result.vectors, result.biases)
        if cold is not None:
            self.vocabulary_ = cold.vocabulary
            self.neighbour_counts_ = (
                None if result.neighbour_counts is None
                else grow_square(result.neighbour_counts, len(cold.vocabulary))
            )  # fmt: skip
        self._set_features(features, cold)
        return self

    def _strip_cold(self, n_cold: int) -> Any:
        """Take the last ``n_cold`` rows (the cold items) off the tables; returns the tables
        as they were (:class:`~item2vec.training.attributes.ColdTables`)."""
        from .training.attributes import ColdTables

        before = ColdTables(
            self.vocabulary_, self.item_vectors_, self.item_biases_, self.attribute_encoder_,
            self.cold_items_, n_cold,
        )  # fmt: skip
        counts = self.neighbour_counts_
        vocab, vectors, biases = strip_cold(
            self.vocabulary_, self.item_vectors_, self.item_biases_, n_cold
        )
        self.vocabulary_ = vocab
        if counts is not None:
            self.neighbour_counts_ = counts[: len(vocab), : len(vocab)].tocsr()
        self._set_weights(vectors, biases)
        return before

    @staticmethod
    def _validator(model: Any, split: NextEventSplit, config: Config) -> Any:
        """Next-event HR@10 / NDCG@10 after each epoch, ranked as ``recommend(...,
        score="log_prob")`` ranks (the default of ``evaluate`` and ``tune``)."""
        from .sampling import log_prior

        counts = split.train.vocabulary.counts
        known = counts > 0  # items seen in training
        prior = log_prior(counts, config.ns_exponent, config.sample)

        def on_epoch_end(stats: Any) -> None:
            rec = score_recommender(model.E.numpy(), model.b.numpy()[:, 0], prior, known=known)
            ranked = np.asarray(
                rec(split.queries, 10)
            )  # as item2vec.evaluation.protocols.evaluate does
            res = rank_metrics(ranked, split.answers, (10,), split.queries, len(counts))
            stats.metrics.update({k: float(v) for k, v in res.items() if k in ("HR@10", "NDCG@10")})

        return on_epoch_end

    def _set_features(self, features: Any, cold: Any) -> None:
        """The item attributes of a fit or update and its cold items (the last rows)."""
        self.item_features_ = features
        self.attribute_encoder_ = None if cold is None else cold.encoder
        self.cold_items_ = np.asarray(self.vocabulary_.ids[:0] if cold is None else cold.cold_ids)
        self._cold_rows = 0 if cold is None else cold.appended  # the last rows
        if cold is not None:
            self._set_weights(cold.vectors, cold.biases)

    def _set_weights(self, vectors: np.ndarray, biases: np.ndarray) -> None:
        self.item_vectors_, self.item_biases_ = _weights(vectors, biases)
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

    def _filter_rows(self, items: Iterable[Hashable] | None) -> np.ndarray | None:
        if items is None:
            return None
        return self.vocabulary_.encode(list(items))

    def _query_engine(self) -> QueryEngine:
        """The :class:`~item2vec.queries.recommend.QueryEngine` of the current tables, made on
        first use (``_set_weights`` drops it with the indexes; threads share one)."""
        self._check_fitted()
        engine = self._recommend_index.get("engine")
        if engine is None:
            made = QueryEngine(self.item_vectors_, self.item_biases_, self.item_log_prior_,
                               kind=self.index)  # fmt: skip
            engine = self._recommend_index.setdefault("engine", made)
        return engine

    @property
    def similar_index_(self) -> ItemIndex:
        """FAISS index over the normalised vectors (built on first use)."""
        return self._query_engine().index("cosine")

    @property
    def recommend_index_(self) -> ItemIndex:
        """The inner-product index the default score searches: over ``[E, b + log prior]``
        for ``blend`` / ``log_prob`` (built on first use, or at :meth:`save`)."""
        return self._recommend_index_for(self.default_score_)

    @property
    def item_log_prior_(self) -> np.ndarray:
        """Per-item term that ``recommend(..., score="log_prob")`` adds to the logit: the
        log of the negative-sampling probability minus the log of the subsampling keep
        probability (see :func:`item2vec.sampling.log_prior`); float32 (n_items,)."""
        from .sampling import log_prior

        self._check_fitted()
        return log_prior(self.vocabulary_.counts, self.config_.ns_exponent, self.config_.sample)

    def _recommend_index_for(self, score: str) -> ItemIndex:
        """The index ``recommend(..., score=score)`` searches: the cosine index of
        :meth:`similar` for ``"cosine"``, else an inner-product index over ``[E, bias]``
        (``bias + log prior`` for ``log_prob`` and ``blend``)."""
        from .queries.recommend import INDEX_OF

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
            [history if not _is_single(history) else [history]],
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
                "model does not have (trained from a ParquetCorpus, or saved by an older "
                "version); use score='log_prob'"
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

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write the model directory atomically (see :func:`item2vec.io.save_model`).

        ``descriptions``, when set, are saved with it (for the items of the vocabulary) and
        come back with :meth:`load`."""
        from .io import save_model

        self._check_fitted()
        save_model(
            path,
            vectors=self.item_vectors_,
            biases=self.item_biases_,
            vocabulary=self.vocabulary_,
            config={**self.config_.to_dict(), "index": self.index},
            history=self.history_,
            extra_arrays={
                **_counts_arrays(self.neighbour_counts_),
                **incremental.state_arrays(getattr(self, "update_state_", None)),
                **self._features_arrays(),
                **self._query_engine().index_arrays(self.default_score_),  # built if needed
            },
            descriptions=self.descriptions,
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> Item2Vec:
        """Read a model directory written by :meth:`save`; never unpickles.

        An approximate FAISS index saved with the model is used again once checked against
        the vectors (:meth:`~item2vec.queries.recommend.QueryEngine.adopt`); any other index
        is built on first query (exact search takes no build; HNSW on 1M items takes
        minutes, see benchmarks/README.md).
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
        model = cls(
            **config.to_dict(), index=index, progress=False, descriptions=loaded.descriptions
        )
        model.vocabulary_ = loaded.vocabulary
        model.history_ = list(loaded.history or [])
        model.config_ = config
        model.epochs_ = config.epochs
        model.device_ = _trained_on(model.history_)
        model.neighbour_counts_ = _counts_from_arrays(
            loaded.extra_arrays, len(loaded.vocabulary), meta_path
        )
        saved = features_from_arrays(loaded.extra_arrays)
        n_cold = int(loaded.extra_arrays.get("cold_rows", np.zeros(1, np.int64))[0])
        trained = strip_cold(loaded.vocabulary, loaded.vectors, loaded.biases, n_cold)[0]
        model.update_state_ = incremental.state_from_arrays(
            loaded.extra_arrays, trained, config.dim, meta_path
        )
        model._set_weights(loaded.vectors, loaded.biases)
        model._query_engine().adopt(loaded.extra_arrays, meta_path)  # saved indexes
        model.item_features_ = None if saved is None else saved[0]
        model.attribute_encoder_ = None if saved is None else saved[1]
        ids, counts = loaded.vocabulary.ids, loaded.vocabulary.counts
        known = set() if saved is None else set(saved[0].ids.tolist())
        model.cold_items_ = ids[[c == 0 and i in known for i, c in zip(ids.tolist(), counts)]]
        model._cold_rows = n_cold
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


def _weights(vectors: np.ndarray, biases: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Item vectors and biases as the estimator keeps them: float32, C-contiguous."""
    return (
        np.ascontiguousarray(vectors, dtype=np.float32),
        np.ascontiguousarray(biases, dtype=np.float32),
    )


def _trained_on(history: list[dict[str, Any]]) -> str | None:
    """The device of the last epoch of ``history`` that records one (None if none does)."""
    for h in reversed(history):
        if h.get("device") in ("cpu", "gpu"):
            return str(h["device"])
    return None


def _warn_if_short(epochs: int, n_events: int) -> None:
    """Say so when ``epochs`` over ``n_events`` is far less training than the automatic rule
    gives (under a quarter of :data:`~item2vec.config.AUTO_EVENTS` and of its epochs)."""
    auto = auto_epochs(n_events)
    if epochs * n_events < AUTO_EVENTS / 4 and epochs < auto / 2:
        warnings.warn(
            f"epochs={epochs} over a log of {n_events:,} events is {epochs * n_events:,} events "
            f"of training, likely too short for the vectors to learn (epochs=None would use "
            f"{auto}); next-item scores that lean on them (log_prob, blend on sparse logs) "
            "will trail the counts",
            UserWarning,
            stacklevel=3,
        )


def _counts_arrays(counts: Any) -> dict[str, np.ndarray]:
    """The neighbour counts as the model directory stores them: CSR's three arrays."""
    return counts_arrays(counts)


def _counts_from_arrays(extras: dict[str, np.ndarray], n: int, where: str) -> Any:
    """Neighbour counts back from :func:`_counts_arrays` (None when the model has none)."""
    return counts_from_arrays(extras, n, where)


def _is_single(items: Any) -> bool:
    return isinstance(items, str | bytes) or not isinstance(items, Iterable)


__all__ = ["Item2Vec"]
