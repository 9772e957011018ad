"""``Item2Vec``: the estimator users fit, query, save and load (scikit-learn conventions).

This module holds its parameters, ``fit`` and ``update``; the queries are in
:mod:`.queries`, the model directory in :mod:`.persistence`, the state they share in
:mod:`.state` and the checks and callbacks of a fit in :mod:`.fitting`.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from ..config import Config
from ..data.features import as_item_features
from ..data.sessions import Sessions
from ..data.split import NextEventSplit
from ..exceptions import ParameterError
from ..queries.corpus_counts import corpus_counts
from ..queries.counts import DeferredCounts
from ..training import incremental
from ..training.attributes import add_cold_items, merge_features, strip_cold
from ..training.update_state import grow_square
from .fitting import check_fit, validator
from .persistence import PersistenceMethods
from .queries import QueryMethods
from .state import as_tables

__all__ = ["Item2Vec"]


class Item2Vec(QueryMethods, PersistenceMethods):
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
    direction : ``"both"`` (default: the items on both sides of a target are its contexts,
        word2vec's symmetric window) or ``"forward"``: only the items before it (with
        ``window="session"``, every earlier item of the session), so that each couple
        ``(c, t)`` has ``c`` before ``t`` (trained as units, not spans). With the shared
        table the score is symmetric but for the bias: forward measured level or slightly
        below on next-item (benchmarks/README.md, issue 35).
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
        ``"ivfpq"``); ``"auto"`` is exact below 100k items and IVF from there. Read when an
        index is first built (on a query or at ``save``).
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
        direction: str = "both",
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
        self.direction = direction
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
        from ..training.checkpoint import run_with_checkpoints
        from ..training.model import Item2VecModel
        from ..training.threads import threads_for_training
        from ..training.train import Trainer, device_scope, resolve_device

        config = self.config()
        device = resolve_device(config.device)  # device="gpu" without a GPU: fail now
        threads_for_training(config.workers)  # before TensorFlow's first op, or a warning
        features = None if item_features is None else as_item_features(item_features)
        checked = check_fit(
            sessions, config, validation=validation, resume=resume,
            checkpoint_dir=self.checkpoint_dir, checkpoint_every=self.checkpoint_every,
        )  # fmt: skip
        raw, sessions, config = checked.raw, checked.sessions, checked.config
        with device_scope(device):  # the tables where the step runs
            model = Item2VecModel(
                len(sessions.vocabulary),
                config.dim,
                mode=config.mode,
                separate_output=config.separate_output,
                seed=config.seed,
            )
        trainer = Trainer(model, sessions, config, progress=self.progress)
        validate = None if validation is None else validator(model, validation, config)
        run_with_checkpoints(
            trainer, self, sessions.vocabulary, resume=resume, on_epoch=validate,
            interrupted="training interrupted at epoch {epoch}, step {step}; checkpoint saved "
            "to {directory}. Resume with fit(sessions, resume=True) or `item2vec train ... "
            "--resume`.",
        )  # fmt: skip
        # Only now, with training done, does the estimator change: all fitted attributes at
        # once, so that a failed re-fit never pairs a new vocabulary with old vectors.
        history = [s.as_dict() for s in trainer.history]
        vectors, biases = as_tables(model.E.numpy(), model.b.numpy()[:, 0])
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
            functools.partial(corpus_counts, sessions) if checked.streamed else sessions
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
        from ..training.attributes import ColdTables

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

    def _set_features(self, features: Any, cold: Any) -> None:
        """The item attributes of a fit or update and its cold items (the last rows)."""
        self.item_features_ = features
        self.attribute_encoder_ = None if cold is None else cold.encoder
        self.cold_items_ = np.asarray(self.vocabulary_.ids[:0] if cold is None else cold.cold_ids)
        self._cold_rows = 0 if cold is None else cold.appended  # the last rows
        if cold is not None:
            self._set_weights(cold.vectors, cold.biases)
