"""Updating a trained model with new sessions and new items, without retraining from scratch.

:meth:`item2vec.Item2Vec.update` calls :func:`update`; the state a model keeps for it and
the vocabulary merge are in :mod:`item2vec.training.update_state`. The rules:

- **Vocabulary.** Existing rows and ids never change; new items get rows appended after
  them, in descending count (ties: the order of the new log's vocabulary). ``min_count``
  applies to *accumulated* counts: an item without a row is remembered with its count
  (:attr:`UpdateState.pending_counts`: the items a fit with ``min_count > 1`` dropped, and
  those an update left out), and it gets a row on the update where its count over every
  log seen so far reaches ``min_count``, from that update's sessions on (earlier events of
  it were never trained on). An existing item keeps its row whatever its count.
- **Counts.** Every count adds up: the vocabulary's (so negatives, ``count ** ns_exponent``,
  and subsampling, ``sample * total``, follow the combined log), the forward pair counts
  behind ``neighbour_counts_`` (:attr:`UpdateState.forward`, so the default ``"blend"``
  score counts the combined log; the backward-pair weight is re-chosen on the combined
  counts, judged on the update's sessions), and the pending items'.
- **Tables.** Existing vectors, biases, the separate output table and Adagrad's
  accumulators are kept; new rows start as a fit starts them (small uniform vectors, zero
  biases, fresh accumulators).
- **Learning rate.** word2vec's linear decay from ``learning_rate`` to
  ``min_learning_rate`` over the update's own window units, for new rows; an existing row
  runs at ``existing_rate`` times that. The default (``"auto"``) with SGD is each item's
  share of new events, ``new count / combined count``: its new events then weigh about as
  they would in a retrain on all the data, so a frequent old item barely moves on a day of
  data and an item seen mostly today moves almost fully. With Adagrad it is 1 (the kept
  accumulators already slow down rows trained long). ``freeze_existing=True`` is rate 0:
  old rows come out bit-identical and only sessions holding a new item are trained on
  (the others could not change anything).
- **Epochs.** ``epochs=None`` trains the new sessions for the model's ``epochs_``: as many
  passes as the fit gave the old ones.
- **Device.** The model's ``device`` setting applies (``set_params(device=...)`` changes it
  for the update); the combined tables are built there, as a fit builds them.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..checks import check_int, check_real
from ..config import RUN_SETTINGS
from ..data.session_rows import concat_sessions
from ..data.sessions import Sessions, Vocabulary
from ..exceptions import ParameterError
from ..queries.counts import (
    LOO_CASES,
    MAX_NEIGHBOURS,
    blend_counts,
    choose_order_weight,
    pair_matrix,
)
from ..queries.pair_counts import top_neighbours
from ..sampling import WindowPlan, check_stream, chunk_units, keep_probability, rebatch
from .update_state import (
    UpdateState,
    after_fit,
    as_sessions,
    encode_sessions,
    grow_square,
    plan_vocabulary,
    state_arrays,
    state_from_arrays,
)

__all__ = [
    "UpdateResult",
    "UpdateState",
    "after_fit",
    "check_update_args",
    "state_arrays",
    "state_from_arrays",
    "update",
]


@dataclass
class UpdateResult:
    """What :func:`update` hands back for the estimator to set, all at once."""

    model: Any
    vocabulary: Vocabulary
    vectors: np.ndarray
    biases: np.ndarray
    history: list[dict[str, Any]]
    neighbour_counts: Any
    state: UpdateState
    device: str = "cpu"  # where it trained: "cpu" or "gpu"


class _StreamedUpdate:
    """A :class:`~item2vec.sampling.corpus.ParquetCorpus` streamed in the combined table's rows: the
    corpus' sessions re-encoded block by block (:func:`encode_sessions`), sampled with the combined
    vocabulary's counts. A :class:`~item2vec.sampling.UnitSource` for the trainer."""

    def __init__(
        self, corpus: Any, rows: np.ndarray, vocabulary: Vocabulary, n_old: int | None
    ) -> None:
        self.corpus, self.rows, self.vocabulary, self.n_old = corpus, rows, vocabulary, n_old
        self.n_events = 0
        self.event_counts = np.zeros(len(vocabulary), np.int64)
        for items, _ in self.blocks():
            self.n_events += len(items)
            self.event_counts += np.bincount(items, minlength=len(vocabulary))

    def blocks(self, seed: int | None = None, epoch: int = 0) -> Iterator[tuple]:
        for items, lengths in self.corpus.iter_sessions(seed=seed, epoch=epoch):
            out = encode_sessions(self.rows, items, lengths, self.n_old)
            if len(out[1]):
                yield out

    def stream_units(
        self,
        *,
        batch_size: int,
        window: Any,
        negatives: int,
        ns_exponent: float = 0.75,
        sample: float = 1e-3,
        shrink_window: bool = True,
        max_contexts: int | None = None,
        seed: int = 0,
        epoch: int = 0,
        chunk_events: int = 1_000_000,
        direction: str = "both",
    ) -> Iterator:
        plan = WindowPlan.from_vocabulary(
            self.vocabulary,
            window=window,
            negatives=negatives,
            ns_exponent=ns_exponent,
            sample=sample,
            shrink_window=shrink_window,
            max_contexts=max_contexts,
            direction=direction,
        )
        batch_size, seed, epoch, chunk = check_stream(batch_size, seed, epoch, chunk_events)
        rng = np.random.default_rng(np.random.SeedSequence([seed, epoch], spawn_key=(1,)))

        def chunks() -> Iterator:
            items, lengths, size = [], [], 0
            for it, ln in self.blocks(seed, epoch):
                items.append(it)
                lengths.append(ln)
                size += len(it)
                if size >= chunk:
                    yield chunk_units(plan, *concat_sessions(items, lengths), rng)
                    items, lengths, size = [], [], 0
            if size:
                yield chunk_units(plan, *concat_sessions(items, lengths), rng)

        return rebatch(chunks(), batch_size)


def _streamed_pairs(source: _StreamedUpdate, window: int) -> tuple[sp.csr_matrix, Sessions]:
    """Forward pair counts (within ``window``) of a streamed update and up to ``LOO_CASES``
    of its sessions' last two items (a uniform sample, fixed seed) as two-item sessions."""
    n = len(source.vocabulary)
    forward = sp.csr_matrix((n, n))
    rng = np.random.default_rng(0)
    keys, pairs = np.zeros(0), np.zeros((0, 2), np.int32)
    for items, lengths in source.blocks():
        block = as_sessions(items, lengths, source.vocabulary)
        forward = forward + pair_matrix(block, window, symmetric=False)
        end = np.cumsum(lengths)
        last = np.stack([items[end - 2], items[end - 1]], axis=1)
        last = last[last[:, 0] != last[:, 1]]
        keys, pairs = np.concatenate([keys, rng.random(len(last))]), np.vstack([pairs, last])
        if len(keys) > LOO_CASES:
            best = np.argpartition(keys, LOO_CASES)[:LOO_CASES]
            keys, pairs = keys[best], pairs[best]
    lengths = np.full(len(pairs), 2, np.int64)
    return forward.tocsr(), as_sessions(pairs.ravel().astype(np.int32), lengths, source.vocabulary)


# ----------------------------------------------------------------------------- checks
def check_update_args(
    epochs: Any, freeze_existing: Any, existing_rate: Any, learning_rate: Any, default_epochs: int
) -> tuple[int, bool, Any, Any]:
    """The update's arguments, checked; a :class:`ParameterError` names the first bad one."""
    if epochs is not None:
        check_int("epochs", epochs, 1, extra=" or None (the model's epochs_)")
    if not isinstance(freeze_existing, bool | np.bool_):
        raise ParameterError(f"freeze_existing must be True or False, got {freeze_existing!r}")
    if not (isinstance(existing_rate, str) and existing_rate == "auto"):
        try:
            check_real("existing_rate", existing_rate, 0.0, maximum=1.0)
        except ParameterError:
            raise ParameterError(
                f"existing_rate must be 'auto' or a number in [0, 1], got {existing_rate!r}"
            ) from None
        if freeze_existing and existing_rate != 0:
            raise ParameterError(
                f"freeze_existing=True trains only the new rows; existing_rate={existing_rate!r} "
                "contradicts it (leave it at 'auto', or give 0)"
            )
    if learning_rate is not None:
        check_real("learning_rate", learning_rate, 0.0, strict=True)
    return (
        (default_epochs if epochs is None else int(epochs)),
        bool(freeze_existing),
        existing_rate,
        learning_rate,
    )


# ----------------------------------------------------------------------------- the update
def update(
    est: Any,
    sessions: Any,
    *,
    epochs: int | None,
    freeze_existing: bool,
    existing_rate: Any,
    learning_rate: float | None,
    resume: bool,
) -> UpdateResult:
    """Train ``est`` (a fitted :class:`~item2vec.Item2Vec`) on ``sessions`` (new sessions,
    new items); see the module docstring for the rules. Changes nothing on ``est``."""
    from ..sampling.corpus import ParquetCorpus
    from .checkpoint import run_with_checkpoints
    from .model import Item2VecModel
    from .threads import threads_for_training
    from .train import Trainer, device_scope, resolve_device
    from .updates import ACCUMULATOR_INITIAL

    streamed = isinstance(sessions, ParquetCorpus)
    if not isinstance(sessions, Sessions) and not streamed:
        raise ParameterError(
            "sessions must be an item2vec.Sessions or an item2vec.sampling.corpus.ParquetCorpus, "
            f"got {type(sessions).__name__}; build one with Sessions.from_frame / from_lists"
        )
    epochs, freeze, existing_rate, lr = check_update_args(
        epochs, freeze_existing, existing_rate, learning_rate, est.epochs_
    )
    current = est.config()  # only how the run executes; what it trains is the model's
    config = dataclasses.replace(est.config_, **{k: getattr(current, k) for k in RUN_SETTINGS})
    device = resolve_device(config.device)  # device="gpu" without a GPU: fail before the work
    threads_for_training(config.workers)
    lr = config.learning_rate if lr is None else float(lr)
    config = dataclasses.replace(
        config, epochs=epochs, learning_rate=lr, min_learning_rate=min(config.min_learning_rate, lr)
    )
    if resume and est.checkpoint_dir is None:
        raise ParameterError("resume=True needs checkpoint_dir to be set")
    check_int("checkpoint_every", est.checkpoint_every, 1)
    if est.checkpoint_dir is not None:  # fail before the work, as fit does
        from ..io import check_writable

        table = 4 * (config.dim + 1) * len(est.vocabulary_) * (2 if config.separate_output else 1)
        check_writable(est.checkpoint_dir, table)
    state = getattr(est, "update_state_", None) or UpdateState()
    if config.separate_output and state.output_vectors is None:
        raise ParameterError(
            "this model (separate_output=True) was saved without its output table, which an "
            "update needs: fit it again with this version of item2vec"
        )
    old = est.vocabulary_
    new = sessions.vocabulary
    if streamed:
        raw = new.counts

        def kept(rows: np.ndarray) -> np.ndarray:
            probe = _StreamedUpdate(sessions, rows, _sized(rows, len(old)), None)
            return probe.event_counts
    else:
        raw = np.bincount(sessions.items, minlength=len(new))

        def kept(rows: np.ndarray) -> np.ndarray:
            items, _ = encode_sessions(rows, sessions.items, sessions.lengths)
            return np.bincount(items, minlength=max(len(old), int(rows.max(initial=-1)) + 1))

    plan = plan_vocabulary(old, state, new, raw, kept, config.min_count)
    vocab, n_old = plan.vocabulary, plan.n_old
    n = len(vocab)
    only_new = n_old if (freeze or existing_rate == 0) else None
    if streamed:
        source: Any = _StreamedUpdate(sessions, plan.rows, vocab, only_new)
        full = source if only_new is None else _StreamedUpdate(sessions, plan.rows, vocab, None)
        new_counts, train_counts = full.event_counts, source.event_counts
    else:
        full = as_sessions(*encode_sessions(plan.rows, sessions.items, sessions.lengths), vocab)
        source = (
            full
            if only_new is None
            else as_sessions(
                *encode_sessions(plan.rows, sessions.items, sessions.lengths, only_new), vocab
            )
        )
        new_counts = np.bincount(full.items, minlength=n)
        train_counts = np.bincount(source.items, minlength=n)

    # neighbour counts of the combined log
    counts, forward = est.neighbour_counts_, state.forward
    if counts is not None and new_counts.sum():
        if streamed:
            f_new, judge = _streamed_pairs(full, state.window)
        else:
            f_new, judge = pair_matrix(full, window=state.window, symmetric=False), full
        if forward is not None:  # each item keeps its strongest neighbours, as after a fit
            forward = top_neighbours((grow_square(forward, n) + f_new).tocsr(), MAX_NEIGHBOURS)
            counts = blend_counts(forward, choose_order_weight(judge, forward))
            counts = top_neighbours(counts, MAX_NEIGHBOURS)
        else:
            warnings.warn(
                "this model was saved without its forward pair counts (item2vec before "
                "updates): its neighbour counts are extended with the new sessions' counts, "
                "the backward weight chosen on the new sessions alone",
                UserWarning,
                stacklevel=3,
            )
            counts = top_neighbours(
                (
                    grow_square(counts, n) + blend_counts(f_new, choose_order_weight(judge, f_new))
                ).tocsr(),
                MAX_NEIGHBOURS,
            )
    elif counts is not None:
        counts = grow_square(counts, n)
        forward = None if forward is None else grow_square(forward, n)

    # the tables: old rows kept, new rows as a fit starts them
    with device_scope(device):
        model = Item2VecModel(
            n, config.dim, mode=config.mode, separate_output=config.separate_output,
            seed=config.seed,
        )  # fmt: skip
    model.E.assign(np.vstack([est.item_vectors_, model.E.numpy()[n_old:]]))
    model.b.assign(np.concatenate([est.item_biases_, np.zeros(n - n_old, np.float32)])[:, None])
    if model.output_embedding is not None:
        model.E_out.assign(
            np.vstack([state.output_vectors, np.zeros((n - n_old, config.dim), np.float32)])
        )
    if freeze or existing_rate == 0:
        rate_old = np.zeros(n_old)
    elif existing_rate == "auto":
        if config.optimizer == "adagrad":
            rate_old = np.ones(n_old)
        else:
            rate_old = new_counts[:n_old] / np.maximum(vocab.counts[:n_old], 1)
    else:
        rate_old = np.full(n_old, float(existing_rate))
    rates = np.concatenate([rate_old, np.ones(n - n_old)])
    keep = keep_probability(vocab.counts, config.sample)
    trainer = Trainer(
        model,
        source,
        config,
        progress=est.progress,
        row_rates=rates,
        units_per_epoch=float(np.sum(train_counts * keep)),
    )
    if config.optimizer == "adagrad":
        if not state.optimizer:
            warnings.warn(
                "this model has no saved Adagrad accumulators (saved before updates kept "
                "them): old rows restart from fresh ones",
                UserWarning,
                stacklevel=3,
            )
        fresh = trainer.optimizer_state()
        trainer.restore_optimizer_state(
            {
                k: np.vstack(
                    [
                        state.optimizer.get(k, v[:n_old]),
                        np.full((n - n_old, 1), ACCUMULATOR_INITIAL, np.float32),
                    ]
                )
                for k, v in fresh.items()
            }
        )
    done = 1 + max((int(h.get("update", 0)) for h in est.history_), default=0)
    history = list(est.history_)
    trained = int(train_counts.sum()) > 0
    if not trained:
        why = (
            "the new sessions hold no new item"
            if only_new is not None and new_counts.sum()
            else "no session of 2 or more items with a row is left"
        )
        warnings.warn(
            f"update: nothing to train ({why}); the counts were updated, the vectors not",
            UserWarning,
            stacklevel=3,
        )
    else:

        def on_epoch(stats: Any) -> None:
            stats.metrics["update"] = done

        run_with_checkpoints(
            trainer, est, vocab, resume=resume, on_epoch=on_epoch,
            interrupted="update interrupted at epoch {epoch}; checkpoint saved to "
            "{directory}. Resume with update(sessions, resume=True) on the model as it was "
            "before the update.",
        )  # fmt: skip
        history += [s.as_dict() for s in trainer.history]
    new_state = UpdateState(
        forward,
        state.window,
        plan.pending_ids,
        plan.pending_counts,
        trainer.optimizer_state(),
        None,
    )
    if model.output_embedding is not None:
        new_state.output_vectors = model.E_out.numpy()
    return UpdateResult(
        model, vocab, model.E.numpy(), model.b.numpy()[:, 0], history, counts, new_state,
        trainer.device,
    )  # fmt: skip


def _sized(rows: np.ndarray, n_old: int) -> Vocabulary:
    """A stand-in vocabulary with as many rows as ``rows`` reach (for counting only)."""
    n = max(n_old, int(rows.max(initial=-1)) + 1)
    return Vocabulary(np.arange(n, dtype=np.int64), np.ones(n, np.int64))
