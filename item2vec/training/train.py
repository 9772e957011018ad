"""The single-process training loop: :class:`Trainer`.

A run is a pipeline of modules, each with one job: the sampler's units are re-cut into
groups of batches and sampled ahead on a thread (:mod:`item2vec.sampling.feed`); a compiled step
trains a group in one graph call (:mod:`item2vec.training.step`) with the update rules and the
learning-rate schedule shared with the distributed trainer (:mod:`item2vec.training.updates`);
callbacks after each batch write checkpoints (:mod:`item2vec.training.checkpoint`) and print
neighbours (:mod:`item2vec.training.monitor`); :mod:`item2vec.training.state` records where the
run is.

Like gensim's worker threads, ``workers`` Python threads run groups concurrently on the
shared tables without locks (Hogwild!): TensorFlow releases the GIL inside a call
(:mod:`item2vec.training.workers`, the loop). They are the parallelism, so each TensorFlow op
should get one thread (:mod:`item2vec.training.threads`; ``Item2Vec.fit`` sees to it). A run
that diverges stops with a :class:`~item2vec.exceptions.TrainingError`
(:mod:`item2vec.training.divergence`).

The device (``config.device``, :func:`resolve_device`): on a GPU the tables and Adagrad's
accumulators live in its memory (the model is built under :func:`device_scope`) and the
compiled step's ops are placed there; the sampler stays numpy on the CPU, and each group's
arrays are copied to the GPU once, on the sampler's thread, before they enter the queue.
On the CPU nothing of the above changes the arithmetic: a CPU run is the same run as before
devices could be chosen.

``Checkpointer``, ``NeighbourMonitor``, ``EpochStats``, ``TrainState`` and
``configure_threads`` are importable from here as before; their homes are the modules above.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager

import numpy as np
import tensorflow as tf

from ..checks import DEVICES, check_choice
from ..config import Config
from ..data.sessions import Sessions
from ..exceptions import ParameterError
from ..sampling import UnitSource, expected_units
from ..sampling.feed import (
    PREFETCH,
    Group,
    Prefetcher,
    epoch_groups,
    span_groups,
    update_orders,
    uses_spans,
)
from ..sampling.units import pool_size
from .checkpoint import Checkpointer
from .divergence import DivergenceGuard
from .model import Item2VecModel
from .monitor import NeighbourMonitor
from .state import EpochStats, TrainState
from .step import StepFn, bind_step
from .threads import configure_threads
from .updates import LinearDecay, accumulator_arrays, assign_accumulators, new_accumulators
from .workers import run_epochs

__all__ = [
    "GPU_DENSE_FLOATS",
    "Checkpointer",
    "EpochStats",
    "NeighbourMonitor",
    "TrainState",
    "Trainer",
    "configure_threads",
    "device_name",
    "device_scope",
    "expected_units_per_epoch",
    "resolve_device",
    "visible_gpus",
]

#: On a GPU, tables of at most this many numbers (rows x dim) get dense updates (each
#: batch's row gradients summed into a table-shaped update by ``unsorted_segment_sum``, then
#: one subtraction), larger ones a row scatter. A dense update reads and writes the whole
#: table about 7 times per batch: at this size (16 MB) some 0.1 GB, tens of microseconds of
#: a data-centre GPU's bandwidth; far above it a batch touches a small part of the table and
#: the scatter is cheaper. An estimate, not a measurement: ``benchmarks/gpu_benchmark.py``
#: times both on a GPU.
GPU_DENSE_FLOATS = 1 << 22


def visible_gpus() -> list:
    """The GPUs TensorFlow sees: ``tf.config.list_physical_devices("GPU")``."""
    return tf.config.list_physical_devices("GPU")


def resolve_device(device: str) -> str:
    """Where a run asked to train on ``device`` (one of :data:`~item2vec.checks.DEVICES`)
    trains: ``"cpu"`` or ``"gpu"``.

    ``"auto"`` is the first visible GPU if TensorFlow sees one, else the CPU; ``"cpu"`` is
    always the CPU; ``"gpu"`` without a visible GPU raises :class:`ParameterError` saying
    why (a CPU-only TensorFlow, or no GPU found by a CUDA build) and what to use instead.
    Only lists the devices: TensorFlow's threads can still be set afterwards
    (:func:`configure_threads`).
    """
    check_choice("device", device, DEVICES)
    if device == "cpu":
        return "cpu"
    if visible_gpus():
        return "gpu"
    if device == "auto":
        return "cpu"
    if tf.test.is_built_with_cuda():
        why = (
            "this TensorFlow is built with CUDA but found no GPU: check the NVIDIA driver, "
            "the CUDA libraries and CUDA_VISIBLE_DEVICES"
        )
    else:
        why = "this TensorFlow is built without CUDA (tensorflow-cpu, or a CPU-only platform)"
    raise ParameterError(
        f"device='gpu' but TensorFlow sees no GPU (tf.config.list_physical_devices('GPU') is "
        f"empty: {why}); use device='cpu' or 'auto'"
    )


def device_name(device: str) -> str:
    """TensorFlow's name of a resolved device (:func:`resolve_device`): the first GPU
    (``"/GPU:0"``) or the CPU (``"/CPU:0"``)."""
    return "/GPU:0" if device == "gpu" else "/CPU:0"


def device_scope(device: str) -> AbstractContextManager:
    """``tf.device`` of a resolved device: build a model's tables under it to place them."""
    return tf.device(device_name(device))


def expected_units_per_epoch(sessions: Sessions | UnitSource, config: Config) -> float:
    """Expected number of window units (kept events) per epoch, for the LR schedule:
    :func:`item2vec.sampling.expected_units` of the corpus' counts."""
    return expected_units(sessions.vocabulary.counts, config.sample)


class Trainer:
    """Runs epochs of sparse SGD/Adagrad on an :class:`Item2VecModel`.

    Parameters
    ----------
    model, sessions, config : what to train, on what (in-memory :class:`Sessions`, or a
        :class:`~item2vec.sampling.corpus.ParquetCorpus` streamed from disk), how.
    on_epoch_end : called with ``(EpochStats)``; may fill ``stats.metrics``.
    on_step : callables called with ``(TrainState)`` after each batch (checkpointing,
        monitoring), in order.
    progress : show a tqdm progress bar with loss and couples/s.
    row_rates : optional float (n_items,) in [0, 1]: each row's gradients are multiplied by
        its rate (0 freezes a row exactly); what an update of a trained model uses
        (:mod:`item2vec.training.incremental`).
    units_per_epoch : expected window units per epoch, when they are not those of the
        vocabulary's counts (an update trains on a part of the log its counts describe);
        sizes the learning-rate schedule and the progress bar.

    ``config.device`` is resolved here (:func:`resolve_device`; :attr:`device` is ``"cpu"``
    or ``"gpu"``), so ``device="gpu"`` without a GPU fails before any work. The model's
    tables should already be there: build it under :func:`device_scope`. Each epoch's stats
    record the device (``metrics["device"]``, in ``Item2Vec.history_``).
    """

    def __init__(
        self,
        model: Item2VecModel,
        sessions: Sessions | UnitSource,
        config: Config,
        *,
        on_epoch_end: Callable[[EpochStats], None] | None = None,
        on_step: list[Callable[[TrainState], None]] | None = None,
        progress: bool = True,
        row_rates: np.ndarray | None = None,
        units_per_epoch: float | None = None,
    ) -> None:
        self.model = model
        self.sessions = sessions
        self.config = config = config.for_corpus(_n_events(sessions))
        self.on_epoch_end = on_epoch_end
        self.on_step = list(on_step or [])
        self.progress = progress
        self.state = TrainState()
        self.history: list[EpochStats] = []
        #: where the run trains: ``"cpu"`` or ``"gpu"`` (``config.device`` resolved)
        self.device = resolve_device(config.device)
        self._device = device_name(self.device)
        # the rows fed to the step: int64 on a GPU, whose int32 tensors live in host memory
        self._indices = tf.int64 if self.device == "gpu" else tf.int32
        per_epoch = (
            expected_units_per_epoch(sessions, config)
            if units_per_epoch is None
            else float(units_per_epoch)
        )
        self.total_units = max(1.0, per_epoch * config.epochs)
        #: the learning rate after a number of window units (:meth:`learning_rate`)
        self.schedule = LinearDecay(config.learning_rate, config.min_learning_rate,
                                    self.total_units)  # fmt: skip
        self._accumulators: list[tf.Variable] = []
        self._rates: tf.Variable | None = None
        with tf.device(self._device):  # the optimizer's state beside the tables
            if config.optimizer == "adagrad":
                self._accumulators = new_accumulators(self.variables())
            if row_rates is not None:
                rates = np.asarray(row_rates, np.float32).reshape(-1, 1)
                if rates.shape[0] != model.n_items:
                    raise ValueError(f"row_rates needs {model.n_items} rates, got {rates.shape[0]}")
                self._rates = tf.Variable(rates, trainable=False)
        self._check_placement()
        #: SGD's dense CPU update sums row gradients over sorted rows, whose order the
        #: sampler's thread computes (:func:`~item2vec.sampling.feed.update_orders`)
        self._sorted_rows = (
            self.device == "cpu" and config.optimizer == "sgd" and self._dense_updates()
        )
        #: units per draw of negatives (:meth:`~item2vec.config.Config.block`)
        self.block = config.block()
        #: whether the feed is spans of ``block`` targets
        #: (:func:`~item2vec.sampling.feed.uses_spans`)
        self.spans = uses_spans(sessions, config)
        self._arrays = 4 if self.spans else 3  # sampled arrays of a group, before the orders
        self._compiled: StepFn | None = None  # built by the first step (see fit)
        self._step_fn: StepFn = self._step
        #: the checks that stop a diverging run (:mod:`item2vec.training.divergence`)
        self.guard = DivergenceGuard(config, sessions.vocabulary.counts)

    def _check_placement(self) -> None:
        """Warn when a table lives on another kind of device than the run's: the step would
        copy it across at every read, which works but is slow."""
        want = self.device.upper()
        for v in self.variables():
            kind = tf.DeviceSpec.from_string(v.device).device_type if v.device else None
            if kind is not None and kind != want:
                warnings.warn(
                    f"the model's table {v.name} is on {v.device} but the trainer runs on the "
                    f"{self.device} (device={self.config.device!r}): build the model under "
                    f"item2vec.training.train.device_scope({self.device!r}) to keep the tables "
                    "there",
                    UserWarning,
                    stacklevel=3,
                )
                return

    # ------------------------------------------------------------------ optimizer state
    def optimizer_state(self) -> dict[str, np.ndarray]:
        """The optimizer's state as arrays: for Adagrad ``{"accumulator_<i>": (rows, 1)
        float32}``, one per table of :meth:`variables` in order; empty for SGD.

        What :class:`~item2vec.training.checkpoint.Checkpointer` saves; the arrays are copies."""
        return accumulator_arrays(self._accumulators)

    def restore_optimizer_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Load arrays of :meth:`optimizer_state`'s form (other keys are ignored)."""
        assign_accumulators(self._accumulators, arrays)

    # ------------------------------------------------------------------ the step
    def _step(self, *args: tf.Tensor) -> tuple[tf.Tensor, ...]:
        """Run one group: :data:`~item2vec.training.step.StepFn`, compiled on first use."""
        if self._compiled is None:
            self._compiled = self._build_step()
        return self._compiled(*args)

    def variables(self) -> list[tf.Variable]:
        """The trained tables: ``[E, b]``, or ``[E, E_out, b]`` with a separate output table."""
        m = self.model
        tables = [m.E] if m.output_embedding is None else [m.E, m.E_out]
        return [*tables, m.b]

    def _build_step(self) -> StepFn:
        """The compiled step for this trainer's tables: ``step(contexts, targets,
        negatives, lr)`` runs a group of G batches, stacked, in one graph call.

        One call per group instead of per batch saves the Python and dispatch overhead of
        a call (about 0.2 ms of a 3 ms batch). Batches of a group share their context width
        (see :func:`~item2vec.sampling.feed.width_groups`). The graph takes the tables as arguments
        and is shared by every trainer with the same settings and table shapes
        (:func:`~item2vec.training.step.compiled_step`), so a new model (each trial of
        :func:`~item2vec.tuning.search.tune`, each refit) does not trace and optimise it again.
        """
        model, c = self.model, self.config
        return bind_step(self.variables(), self._accumulators, mode=model.mode,
                         negatives=c.negatives, dense=self._dense_updates(), rates=self._rates,
                         device=self._device, indices=self._indices,
                         sorted_rows=self._sorted_rows, block=self.block,
                         spans=self.spans)  # fmt: skip

    def _dense_updates(self) -> bool:
        """Whether the step sums each batch's row gradients into a dense table-shaped update
        and subtracts it in one pass, rather than scattering rows."""
        model, c = self.model, self.config
        if self.device == "gpu":  # see GPU_DENSE_FLOATS
            return model.n_items * model.dim <= GPU_DENSE_FLOATS
        # small tables: measured 10-15% faster than a row scatter while the table is smaller
        # than the rows a batch touches
        return model.n_items <= c.batch_size * (1 + c.negatives)

    def learning_rate(self, units_done: int) -> float:
        """Linear decay from ``learning_rate`` to ``min_learning_rate`` over the expected
        number of window units of the run (word2vec decays by words processed)."""
        return self.schedule(units_done)

    # ------------------------------------------------------------------ data
    def groups(self, epoch: int, skip: int = 0) -> Iterator[Group]:
        """The epoch's batches as groups of up to :data:`~item2vec.sampling.feed.GROUP_UNITS` units
        of one context width: ``(contexts (G, U, C), targets (G, U), negatives (G, U / M,
        K))`` with ``M`` = :attr:`block`, minus the first ``skip`` batches (resuming). A pure
        function of ``(seed, epoch)`` (:func:`~item2vec.sampling.feed.epoch_groups`). With
        :attr:`spans`, groups of spans instead (:func:`~item2vec.sampling.feed.span_groups`)."""
        if self.spans:
            return span_groups(self.sessions, self.config, epoch, skip)
        return epoch_groups(self.sessions, self.config, epoch, skip)

    def feed(self, epoch: int, skip: int = 0) -> Prefetcher:
        """:meth:`groups` of every epoch from ``epoch`` (minus ``skip`` batches) to the last,
        as tensors sampled :data:`~item2vec.sampling.feed.PREFETCH` groups ahead on a background
        thread; an empty group (no batches) ends each epoch.

        One feed for the whole run lets sampling of the next epoch run ahead while the
        steps finish this one. It is a thread and a bounded queue rather than
        ``tf.data.Dataset.from_generator``: that cost about 2 ms of CPU per element, and the
        whole fit measured 6.5% slower with it on 2 cores (Online Retail, 10 epochs).

        On a GPU each group's arrays are copied to it here (as int64), once per group, on
        the sampler's thread: the copies overlap the steps, and the queue holds device
        tensors.
        """
        end = self._empty_group()
        gpu = self._device if self.device == "gpu" else None

        def gen() -> Iterator[tuple[tf.Tensor, ...]]:
            for e in range(epoch, self.config.epochs):
                for group in self.groups(e, skip if e == epoch else 0):
                    if self._sorted_rows:  # spans: the span rows, then (targets, negatives)
                        rows = (group[0], group[1], group[3]) if self.spans else group
                        group = (*group, *update_orders(rows))
                    if gpu is None:
                        yield tuple(tf.constant(a) for a in group)
                        continue
                    with tf.device(gpu):  # not around the yield: the scope is per thread
                        tensors = tuple(tf.constant(a, tf.int64) for a in group)
                    yield tensors
                yield end

        return Prefetcher(gen(), PREFETCH)

    def _empty_group(self) -> tuple[tf.Tensor, ...]:
        """A group of no batches: the feed's end-of-epoch marker, and the step's warm-up."""
        k, m, dtype = self.config.negatives, self.block, self._indices
        orders = [tf.zeros([0, 0], tf.int32)] * (4 if self._sorted_rows else 0)
        if self.spans:
            shapes = [[0, 0, 0], [0, 0, m], [0, 0, m], [0, 0, pool_size(k, m)]]
        else:
            shapes = [[0, 0, 0], [0, 0], [0, 0, k]]
        return (*(tf.zeros(s, dtype) for s in shapes), *orders)

    # ------------------------------------------------------------------ loop
    def fit(self, state: TrainState | None = None) -> list[EpochStats]:
        """Train from ``state`` (default: the start) to the last epoch."""
        if state is not None:
            self.state = state
        if self.state.epoch >= self.config.epochs:
            return self.history
        feed = self.feed(self.state.epoch, self.state.batch_in_epoch)
        try:
            # trace and optimise the step (unless a trainer with the same settings and
            # shapes already has) on an empty group while the feed samples the first one
            empty = self._empty_group()
            k = self._arrays
            self._step(*empty[:k], tf.zeros([0], tf.float32), *empty[k:])
            run_epochs(self, feed)
        finally:
            feed.close()
        return self.history

    def run_group(self, group: Sequence[tf.Tensor], rates: list[float]) -> tuple[float, int, int]:
        """Run one group of the feed at the learning rates of its batches: its summed loss,
        scored couples and couples (:data:`~item2vec.training.step.StepFn`)."""
        k = self._arrays
        out = self._step_fn(*group[:k], tf.constant(rates, tf.float32), *group[k:])
        return float(out[0]), int(out[1]), int(out[2])

    def units(self, targets: tf.Tensor) -> np.ndarray:
        """The window units of each batch of a group, from its targets (G, U) or (G, B, M):
        ``U`` each, less the padding (-1) of a short batch of blocks or of spans."""
        n, size = int(targets.shape[0]), int(np.prod(targets.shape[1:]))
        if not self.spans and (n > 1 or self.block == 1):  # full batches: no padding
            return np.full(n, size, np.int64)
        t = targets.numpy().reshape(n, -1)
        return np.count_nonzero(t >= 0, axis=1).astype(np.int64)


def _n_events(corpus: Sessions | UnitSource) -> int:
    """Events of a corpus (of the whole corpus for a Parquet shard): what sizes ``epochs=None``."""
    return int(getattr(corpus, "n_events", 0))
