"""One worker's run of multi-worker training, step by step.

:class:`WorkerRun` is what :func:`~item2vec.distributed.trainer.train_distributed` runs
under its watchdog: read the corpus and check that every worker built the same vocabulary,
create the tables and the compiled step (:mod:`item2vec.distributed.step`), resume from a
checkpoint, train the epochs (each ending with a check that the workers' tables agree),
count the neighbour pairs (each worker its shard, summed on the chief) and save the model
with them (chief only). Every worker runs the same collectives in the same order.
"""

from __future__ import annotations

import math
import os
import sys
import time as _time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import Config
from ..exceptions import ParameterError, TrainingError
from .checkpoint import CheckpointDir, ClusterCheckpointer, RunPosition, vocabulary_sha256
from .cluster import ClusterSpec
from .collectives import Sync, fingerprint, write_allowance
from .step import DistributedStep, choose_aggregation
from .watchdog import CollectiveWatchdog, Progress

__all__ = ["DistributedResult", "WorkerRun"]


@dataclass
class DistributedResult:
    """What :func:`~item2vec.distributed.trainer.train_distributed` returns on every worker."""

    cluster: ClusterSpec
    history: list[dict[str, Any]]
    vectors: np.ndarray  # float32 (n_items, dim), identical on every worker
    biases: np.ndarray  # float32 (n_items,)
    vocabulary: Any
    aggregation: str
    saved: str | None = None  # the model directory (chief only)
    shard_events: int = 0
    seconds: float = 0.0
    resumed_from: str | None = None  # the checkpoint this run continued, if any


class WorkerRun:
    """The training run of one worker; :meth:`train` runs its steps in order.

    ``where`` is told what the worker is doing before every collective (a lost worker is
    reported with it); ``timeout`` is how long a collective may wait for the others;
    ``ckpts`` (or None) is the chief's checkpoint directory, written every ``every``
    global steps and at the end of every epoch.
    """

    def __init__(
        self, strategy: Any, cluster: ClusterSpec, dog: CollectiveWatchdog, where: Progress, *,
        config: Config, timeout: float, ckpts: CheckpointDir | None, every: int,
    ) -> None:  # fmt: skip
        self.strategy, self.cluster, self.dog, self.where = strategy, cluster, dog, where
        self.config, self.timeout, self.ckpts, self.every = config, timeout, ckpts, every
        self.history: list[dict[str, Any]] = []
        self.keeper: ClusterCheckpointer | None = None
        self.resumed_from: str | None = None

    def train(
        self, data_path: str | os.PathLike, *, session: str, item: str, time: str | None,
        out: str | os.PathLike | None, min_length: int, collapse_repeats: bool,
        batch_rows: int, shard: str, aggregation: str, dump_dir: str | os.PathLike | None,
        progress: bool,
    ) -> DistributedResult:  # fmt: skip
        """The whole run; arguments as in ``train_distributed``."""
        from ..sampling.corpus import ParquetCorpus

        t_start = _now()
        c = self.config
        corpus = ParquetCorpus(
            data_path, session=session, item=item, time=time, min_count=c.min_count,
            min_length=min_length, collapse_repeats=collapse_repeats, batch_rows=batch_rows,
        )  # fmt: skip
        self.check_vocabulary(corpus.vocabulary, data_path, t_start)
        mine = self.build(corpus, shard, aggregation)
        run = {
            "n_workers": self.cluster.n_workers,
            "vocabulary": {"items": len(self.vocab), "sha256": vocabulary_sha256(self.vocab)},
            "data": {"session": session, "item": item, "time": time, "min_length": min_length,
                     "collapse_repeats": collapse_repeats, "batch_rows": batch_rows,
                     "events": corpus.n_events, "sessions": corpus.n_sessions,
                     "row_groups": corpus.n_row_groups},
            "options": {"shard": mine.shard_by, "aggregation": self.mode},
        }  # fmt: skip
        pos = self.resume(run)
        self.global_step = pos.global_step
        self.last_saved = pos.global_step if self.resumed_from else -1
        for epoch in range(pos.epoch, self.config.epochs):
            self.train_epoch(mine, epoch, pos, progress)
        counts = self.count_neighbours(mine) if out is not None else None
        vectors, biases, saved = self.finish(out, dump_dir, counts)
        return DistributedResult(
            cluster=self.cluster, history=self.history, vectors=vectors, biases=biases,
            vocabulary=self.vocab, aggregation=self.mode, saved=saved,
            shard_events=mine.shard_events, seconds=_now() - t_start,
            resumed_from=self.resumed_from,
        )  # fmt: skip

    # ------------------------------------------------------------------ set-up
    def check_vocabulary(self, vocab: Any, data_path: Any, t_start: float) -> None:
        """Every worker must have built the same vocabulary (the first collective)."""
        self.vocab = vocab
        self.sync = Sync(self.strategy, self.cluster, self.dog)
        self.where.where = "the vocabulary check"  # the others may still be reading: allow as long
        if not self.sync.all_equal(fingerprint(vocab.ids, vocab.counts),
                                   self.timeout + _now() - t_start, self.where.where):  # fmt: skip
            raise TrainingError(
                f"worker {self.cluster.task_index} built a different vocabulary from "
                f"{data_path} than the others: every worker must read the same data with the "
                "same options"
            )
        if self.config.negatives > 0 and len(vocab) < 2:
            raise ParameterError(f"negatives={self.config.negatives} needs at least 2 items")

    def build(self, corpus: Any, shard: str, aggregation: str) -> Any:
        """The tables, the compiled step and the settings of the run; returns this
        worker's shard of ``corpus``."""
        import tensorflow as tf

        from ..training.model import Item2VecModel

        config, cluster, timeout = self.config, self.cluster, self.timeout
        n = len(self.vocab)
        self.mode = choose_aggregation(aggregation, n, config.dim, config.separate_output)
        mine = corpus.shard(cluster.task_index, cluster.n_workers, by=shard)
        self.where.where = "creating the tables"
        with self.dog.waiting(timeout, self.where.where), self.strategy.scope():
            self.model = Item2VecModel(
                n, config.dim, mode=config.mode, separate_output=config.separate_output,
                seed=config.seed,
            )  # fmt: skip
        n_ctx = 2 * config.window if config.window != "session" else None
        self.spec = (
            tf.TensorSpec([None, n_ctx], tf.int32),
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None, config.negatives], tf.int32),
        )
        # whole corpus: every worker the same epochs, and a global step count
        self.config = config = config.for_corpus(corpus.n_events)
        per_epoch = corpus.expected_units(config.sample)
        total_steps = max(
            1, math.ceil(per_epoch / (config.batch_size * cluster.n_workers)) * config.epochs
        )
        with self.dog.waiting(timeout, self.where.where):
            self.step = DistributedStep(self.strategy, self.model, config, self.mode, total_steps)
        self.state_vars = self.step.tables + self.step.accumulators
        self.allowance = write_allowance(self.state_vars)
        names = ["vectors"] + (["output_vectors"] if config.separate_output else []) + ["biases"]
        self.names = names + [f"accumulator_{i}" for i in range(len(self.step.accumulators))]
        return mine

    def resume(self, run: dict[str, Any]) -> RunPosition:
        """Where the run starts: the chief's newest checkpoint (its tables loaded on every
        worker), or the beginning."""
        if self.ckpts is None:
            return RunPosition()
        self.keeper = ClusterCheckpointer(
            self.ckpts, sync=self.sync, progress=self.where, run=run,
            config=self.config.to_dict(), vocabulary=self.vocab, names=self.names,
            timeout=self.timeout, allowance=self.allowance,
        )  # fmt: skip
        self.where.where = "the resume check"
        pos, self.history, self.resumed_from, arrays = self.keeper.resume()
        if self.resumed_from is not None:
            self.sync.load_from_chief(self.state_vars, arrays, self.timeout + self.allowance,
                                      self.where.where)  # fmt: skip
        return pos

    # ------------------------------------------------------------------ epochs
    def train_epoch(self, mine: Any, epoch: int, pos: RunPosition, progress: bool) -> None:
        """One epoch (or the rest of the one ``pos`` stopped in) and its end-of-epoch check."""
        resuming = epoch == pos.epoch and pos.step_in_epoch > 0
        p = pos if resuming else RunPosition(epoch, 0, self.global_step)
        skip = p.shards[self.cluster.task_index][1] if resuming else 0
        units = self.epoch_stream(mine, epoch, skip if resuming else None)
        t0 = _now() - p.seconds
        totals = np.array([p.loss_sum, p.couples])
        self.where.where = f"epoch {epoch + 1}"
        with self.dog.waiting(self.timeout, self.where.where):
            iterator = iter(self.dataset_for(units))
        steps = self.run_steps(iterator, epoch, totals, p.step_in_epoch, skip, t0)
        self.end_epoch(epoch, totals, steps, t0, progress)

    def epoch_stream(self, mine: Any, epoch: int, skip: int | None) -> Any:
        """This worker's units of ``epoch``; on a resume (``skip`` batches already trained
        on) the same stream minus those, then a barrier."""
        from ..sampling import epoch_units  # looked up now: the fault tests replace it

        units = iter(epoch_units(mine, **self.config.stream_kwargs(epoch)))
        if skip is not None:  # the same stream, minus the batches already trained on
            t0 = _now()
            for _ in range(skip):
                next(units, None)
            self.where.where = f"skipping to the resume position (epoch {epoch + 1})"
            self.sync.gather([0.0, 0.0], self.timeout + _now() - t0, self.where.where)
        return units

    def dataset_for(self, units: Any) -> Any:
        """``units`` as this worker's pipeline of a distributed dataset."""
        import tensorflow as tf

        cluster, spec = self.cluster, self.spec

        def fn(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
            if ctx.input_pipeline_id != cluster.task_index:  # one pipeline per worker
                raise TrainingError("unexpected input pipeline layout")

            def gen():
                for u in units:
                    yield u.contexts, u.targets, u.negatives

            return tf.data.Dataset.from_generator(gen, output_signature=spec).prefetch(4)

        return self.strategy.distribute_datasets_from_function(fn)

    def run_steps(
        self, iterator: Any, epoch: int, totals: np.ndarray, steps: int, batches: int, t0: float
    ) -> int:
        """Global steps until every worker's shard is used up (adding to ``totals``, with
        the mid-epoch checkpoints); returns the epoch's steps."""
        import tensorflow as tf

        while True:
            self.where.where = f"global step {self.global_step + 1} (epoch {epoch + 1})"
            with self.dog.waiting(self.timeout, self.where.where):
                sums, done, local = self.step.run(iterator, tf.constant(self.global_step, tf.int64))
                if not int(done):
                    break
                totals += sums.numpy()
            steps += 1
            self.global_step += 1
            batches += int(int(local) > 0)
            if self.ckpts is not None and self.global_step % self.every == 0:
                self.save_checkpoint(RunPosition(epoch, steps, self.global_step,
                                                 *totals.tolist(), _now() - t0,
                                                 [[epoch, batches]]))  # fmt: skip
                self.last_saved = self.global_step
        return steps

    def end_epoch(
        self, epoch: int, totals: np.ndarray, steps: int, t0: float, progress: bool
    ) -> None:
        """Check the tables (finite, the same on every worker), record the epoch, checkpoint."""
        from ..training.state import EpochStats

        cluster, global_step = self.cluster, self.global_step
        loss, couples = totals.tolist()
        lr = float(self.step.learning_rate(max(global_step - 1, 0)))
        tables = [v.numpy() for v in self.step.tables]
        if not all(np.isfinite(t).all() for t in tables):
            raise TrainingError(
                f"training diverged: non-finite weights after epoch {epoch + 1} (step "
                f"{global_step}); lower learning_rate or batch_size"
            )
        self.where.where = f"the check at the end of epoch {epoch + 1}"
        if not self.sync.all_equal(fingerprint(*tables), self.timeout, self.where.where):
            print(f"item2vec: worker {cluster.task_index}: tables differ between workers after "
                  f"epoch {epoch + 1}; copying the chief's", file=sys.stderr)  # fmt: skip
            self.sync.load_from_chief(self.state_vars, [v.numpy() for v in self.state_vars],
                                      self.timeout + self.allowance, self.where.where)  # fmt: skip
            tables = [v.numpy() for v in self.step.tables]
        stats = EpochStats(epoch + 1, loss / max(couples, 1.0), int(couples), _now() - t0, lr)
        stats.metrics["steps"] = float(steps)
        self.history.append(stats.as_dict())
        if self.ckpts is not None and self.last_saved != global_step:
            self.save_checkpoint(RunPosition(epoch + 1, 0, global_step,
                                             shards=[[epoch + 1, 0]]), tables)  # fmt: skip
            self.last_saved = global_step  # (a checkpoint at this step already resumes here)
        if progress and cluster.is_chief:
            print(
                f"epoch {epoch + 1}/{self.config.epochs}: loss {stats.loss:.4f}, {steps} steps, "
                f"{stats.couples_per_second:,.0f} couples/s on {cluster.n_workers} workers",
                file=sys.stderr,
                flush=True,
            )

    def save_checkpoint(self, p: RunPosition, tables: list[np.ndarray] | None = None) -> None:
        """Commit a checkpoint at ``p`` (every worker, in step); ``tables`` if already read."""
        import tensorflow as tf

        step = self.step
        if not all(bool(tf.reduce_all(tf.math.is_finite(v))) for v in step.tables):
            raise TrainingError(
                f"training diverged: non-finite weights at global step {p.global_step}; "
                "lower learning_rate or batch_size"
            )
        self.where.where = f"the checkpoint at global step {p.global_step}"

        def snapshot() -> dict[str, np.ndarray]:
            values = tables if tables is not None else [v.numpy() for v in step.tables]
            values = values + [a.numpy() for a in step.accumulators]
            return dict(zip(self.names, values))

        assert self.keeper is not None
        self.keeper.save(p, snapshot, self.history)

    # ------------------------------------------------------------------ the end
    def count_neighbours(self, mine: Any) -> Any:
        """The blend's neighbour counts of the whole corpus, on the chief (None elsewhere):
        each worker counts its shard in a pass over it, chunk by chunk
        (:func:`~item2vec.queries.corpus_counts.corpus_counter`), the engine's collectives
        bring every worker's counts and sample of session tails to every worker
        (:meth:`~item2vec.distributed.collectives.Sync.gather_arrays`), and the chief sums
        them and chooses the window and the backward weight as a single process does
        (:func:`~item2vec.queries.counts.counts_from_counter`)."""
        from ..queries.corpus_counts import corpus_counter
        from ..queries.counts import COUNT_WINDOWS, LOO_CASES, counts_from_counter
        from ..queries.pair_counts import TAIL, PairCounter

        t0 = _now()
        self.where.where = "counting the neighbour pairs"
        counts, tails = corpus_counter(mine).to_arrays()
        wait = self.timeout + _now() - t0  # the others may still be counting: allow as long
        every = self.sync.gather_arrays(counts.ravel(), wait, self.where.where)
        every_tails = self.sync.gather_arrays(tails.ravel(), self.timeout, self.where.where)
        if not self.cluster.is_chief:
            return None
        parts = [(c.reshape(3, -1), t.reshape(TAIL + 1, -1))
                 for c, t in zip(every, every_tails, strict=True)]  # fmt: skip
        merged = PairCounter.from_parts(len(self.vocab), max(COUNT_WINDOWS), LOO_CASES, parts)
        return counts_from_counter(merged)

    def finish(
        self, out: str | os.PathLike | None, dump_dir: str | os.PathLike | None,
        counts: Any = None,
    ) -> tuple[np.ndarray, np.ndarray, str | None]:  # fmt: skip
        """Dump and save the tables (with the chief's neighbour ``counts``,
        :meth:`count_neighbours`), wait for every worker, remove the checkpoints;
        returns ``(vectors, biases, saved)``."""
        model, config, cluster = self.model, self.config, self.cluster
        vectors = model.E.numpy()
        biases = model.b.numpy()[:, 0]
        if dump_dir is not None:
            os.makedirs(dump_dir, exist_ok=True)
            extra = {"output_vectors": model.E_out.numpy()} if config.separate_output else {}
            np.savez(os.path.join(dump_dir, f"worker-{cluster.task_index}.npz"),
                     vectors=vectors, biases=biases, **extra)  # fmt: skip
        saved = None
        if out is not None and cluster.is_chief:
            from ..io import save_model
            from ..queries.counts import counts_arrays
            from ..training.update_state import UpdateState, state_arrays

            extra = {"output_vectors": model.E_out.numpy()} if config.separate_output else {}
            if counts is not None:  # what score="blend" and a later update read
                extra.update(counts_arrays(counts.counts))
                extra.update(state_arrays(UpdateState(counts.forward, counts.window)))
            saved = os.fspath(
                save_model(
                    out, vectors=vectors, biases=biases, vocabulary=self.vocab,
                    config=config.to_dict(), history=self.history, extra_arrays=extra,
                )
            )  # fmt: skip
        self.where.where = "the final barrier"  # nobody leaves while the chief still saves
        self.sync.gather([0.0, 0.0], self.timeout + self.allowance, self.where.where)
        if self.ckpts is not None and cluster.is_chief:
            self.ckpts.remove()  # every worker is done: nothing left to resume
        return vectors, biases, saved


def _now() -> float:
    return _time.perf_counter()
