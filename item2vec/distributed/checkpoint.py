"""Checkpoints of multi-worker training (:func:`~item2vec.distributed.train_distributed`).

Only the chief (worker 0) reads and writes them; the other workers get the chief's decision
and, on a resume, its tables through collectives, so no shared file system is needed. The
layout (see ``docs/scaling.md``, "Checkpoints and failures", for the design)::

    CHECKPOINT_DIR/
      ckpt-00000040/          one committed checkpoint per global step: a model directory
                              written by item2vec.io.save_model (sha256 of every file in
                              meta.json), so it also loads and answers queries
        vectors.npy, biases.npy, vocabulary.parquet
        extra_output_vectors.npy      (separate_output only)
        extra_accumulator_<i>.npy     (Adagrad: one per table, as item2vec.training.updates
                                      names them)
        meta.json             config, history of finished epochs, and "state": the position
                              (RunPosition) and what a resume must match (the run signature)
      ckpt-00000048/          the newest `keep` are kept
      ckpt-00000044.corrupt-1a2b3c4d/  a checkpoint that failed to load, set aside on resume

A checkpoint is committed by one ``rename`` of a complete, fsynced directory: a crash while
it is written leaves a hidden ``.ckpt-N.tmp-*`` directory (removed at the next start) and the
previous checkpoints untouched. This module imports no TensorFlow.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import secrets
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import Item2VecError, TrainingError

__all__ = [
    "KIND",
    "CheckpointDir",
    "ClusterCheckpointer",
    "RunPosition",
    "check_resumable",
    "vocabulary_sha256",
]

KIND = "item2vec-distributed"
"""``meta.json["state"]["kind"]`` of a multi-worker checkpoint."""
_NAME = re.compile(r"^ckpt-(\d+)$")
_PARTIAL = re.compile(r"^\.ckpt-\d+\.(tmp|old)-[0-9a-f]+$")  # save_model's leftovers


@dataclass
class RunPosition:
    """Where a multi-worker run is, enough to continue it exactly.

    ``epoch`` is the epoch in progress (0-based; ``epochs`` once training is done) and
    ``step_in_epoch`` the global steps done in it; ``loss_sum``, ``couples`` and ``seconds``
    are that epoch's totals so far. ``shards[i]`` is worker ``i``'s ``[epoch, batches]``: how
    many batches of its own shard's stream it has trained on in that epoch (a worker whose
    shard is used up stops counting while the others finish). Every stream is a pure
    function of ``(seed, epoch, worker, n_workers)``, so skipping that many batches restores
    it without any saved random state.
    """

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    loss_sum: float = 0.0
    couples: float = 0.0
    seconds: float = 0.0
    shards: list[list[int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunPosition:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def describe(self) -> str:
        return (f"epoch {self.epoch + 1}, step {self.step_in_epoch} of the epoch, global step "
                f"{self.global_step}")  # fmt: skip


def vocabulary_sha256(vocabulary: Any) -> str:
    """sha256 of a vocabulary's ids and counts, in row order (hex)."""
    h = hashlib.sha256()
    ids = np.asarray(vocabulary.ids)
    h.update(str(ids.dtype).encode())
    h.update(ids.tobytes() if ids.dtype != object else "\x00".join(map(str, ids.tolist())).encode())
    h.update(np.asarray(vocabulary.counts, np.int64).tobytes())
    return h.hexdigest()


class CheckpointDir:
    """The checkpoints in ``directory``: list, write (atomically), load the newest readable
    one, prune to the newest ``keep``, remove. Used by the chief only."""

    def __init__(self, directory: str | os.PathLike, keep: int = 2) -> None:
        self.directory = Path(directory).absolute()
        self.keep = max(1, int(keep))

    def path(self, global_step: int) -> Path:
        return self.directory / f"ckpt-{global_step:08d}"

    def committed(self) -> list[tuple[int, Path]]:
        """``(global_step, path)`` of every committed checkpoint, newest first."""
        if not self.directory.is_dir():
            return []
        found = []
        for p in self.directory.iterdir():
            m = _NAME.match(p.name)
            if m and p.is_dir():
                found.append((int(m.group(1)), p))
        return sorted(found, reverse=True)

    def clean_partial(self) -> None:
        """Remove the temporary directories of writes that never committed (a crash)."""
        if self.directory.is_dir():
            for p in self.directory.iterdir():
                if _PARTIAL.match(p.name):
                    shutil.rmtree(p, ignore_errors=True)

    def write(
        self, position: RunPosition, *, arrays: Mapping[str, np.ndarray], vocabulary: Any,
        config: Mapping[str, Any], history: list[dict[str, Any]], run: Mapping[str, Any],
    ) -> Path:  # fmt: skip
        """Commit checkpoint ``ckpt-<global step>`` and prune old ones; returns its path.

        ``arrays`` holds ``vectors`` (n, dim), ``biases`` (n,) and any extra arrays
        (``output_vectors``, ``accumulator_<i>``)."""
        from ..io import save_model

        self.directory.mkdir(parents=True, exist_ok=True)
        extras = {k: v for k, v in arrays.items() if k not in ("vectors", "biases")}
        target = self.path(position.global_step)
        save_model(
            target, vectors=arrays["vectors"], biases=arrays["biases"], vocabulary=vocabulary,
            config=config, history=history, extra_arrays=extras,
            state={"kind": KIND, **position.to_dict(), "run": dict(run)},
        )  # fmt: skip
        self.prune()
        return target

    def prune(self) -> None:
        """Keep the newest ``keep`` committed checkpoints (oldest removed first)."""
        for _, p in reversed(self.committed()[self.keep :]):
            shutil.rmtree(p, ignore_errors=True)

    def load_latest(self) -> tuple[Any, Path, list[str]]:
        """The newest checkpoint that loads and verifies, its path, and one note per newer
        checkpoint that did not (each is renamed to ``<name>.corrupt-<token>``, so that it is
        neither tried again nor overwritten). ``(None, None, notes)`` when there is none."""
        from ..io import load_model

        notes: list[str] = []
        for _, p in self.committed():
            try:
                ck = load_model(p)
                state = ck.meta.get("state") or {}
                if state.get("kind") != KIND:
                    raise TrainingError(
                        "it is not a multi-worker checkpoint (a model or a single-process "
                        "checkpoint)"
                    )
            except (Item2VecError, OSError, ValueError, KeyError) as e:
                aside = p.with_name(f"{p.name}.corrupt-{secrets.token_hex(4)}")
                try:
                    os.rename(p, aside)
                except OSError:
                    aside = p
                notes.append(f"checkpoint {p} is unreadable ({_first_line(e)}); set aside as "
                             f"{aside.name}, trying the previous one")  # fmt: skip
                continue
            return ck, p, notes
        return None, None, notes

    def remove(self) -> None:
        """Remove every committed checkpoint (oldest first) and the directory if empty."""
        for _, p in reversed(self.committed()):
            shutil.rmtree(p, ignore_errors=True)
        self.clean_partial()
        try:
            self.directory.rmdir()
        except OSError:
            pass  # something else is there (a set-aside checkpoint): leave it


def check_resumable(
    ck: Any, path: Path, *, run: Mapping[str, Any], config: Mapping[str, Any], vocabulary: Any,
    directory: Path,
) -> None:  # fmt: skip
    """Raise :class:`TrainingError` naming every difference between the checkpoint ``ck``
    (a :class:`~item2vec.io.LoadedModel`) and this run: the number of workers, the
    vocabulary (size, fingerprint, first differing row), the settings, the data options."""
    saved = ck.meta["state"].get("run", {})
    problems = []
    if saved.get("n_workers") != run["n_workers"]:
        problems.append(f"it was written by {saved.get('n_workers')} workers and this run has "
                        f"{run['n_workers']}")  # fmt: skip
    sv, ov = saved.get("vocabulary", {}), run["vocabulary"]
    if sv.get("sha256") != ov["sha256"]:
        problems.append(
            f"the vocabulary differs (checkpoint: {sv.get('items')} items, sha256 "
            f"{str(sv.get('sha256'))[:12]}; this data: {ov['items']} items, sha256 "
            f"{ov['sha256'][:12]}{_first_difference(ck.vocabulary, vocabulary)})"
        )
    where = ("device",)  # where a run trains, not what: a run may resume on another device
    settings = [{k: v for k, v in c.items() if k not in where} for c in (ck.config, config)]
    for what, a, b in (("settings", *settings),
                       ("data", saved.get("data", {}), run.get("data", {})),
                       ("options", saved.get("options", {}), run.get("options", {}))):  # fmt: skip
        differ = _differences(a, b)
        if differ:
            problems.append(f"{what} differ ({differ})")
    if problems:
        raise TrainingError(
            f"cannot resume from checkpoint {path}: " + "; ".join(problems) + ". Restart with "
            f"the arguments and workers it was written with, or remove {directory} to start over"
        )


def _differences(saved: Mapping[str, Any], ours: Mapping[str, Any]) -> str:
    keys = sorted(set(saved) | set(ours))
    return "; ".join(f"{k}: {saved.get(k)!r} in the checkpoint, {ours.get(k)!r} now"
                     for k in keys if saved.get(k) != ours.get(k))  # fmt: skip


def _first_difference(saved: Any, ours: Any) -> str:
    a_ids, b_ids = np.asarray(saved.ids).tolist(), np.asarray(ours.ids).tolist()
    a_n, b_n = np.asarray(saved.counts).tolist(), np.asarray(ours.counts).tolist()
    for row, (a, b, ca, cb) in enumerate(zip(a_ids, b_ids, a_n, b_n)):
        if a != b or ca != cb:
            return (f"; first difference at row {row}: item {a!r} seen {ca} times in the "
                    f"checkpoint, item {b!r} seen {cb} times now")  # fmt: skip
    if len(a_ids) != len(b_ids):
        return f"; the first {min(len(a_ids), len(b_ids))} rows agree"
    return ""


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:300]


class ClusterCheckpointer:
    """The checkpoint protocol of a multi-worker run, run by every worker in step.

    **Save** (:meth:`save`, at the same global steps on every worker): one all-gather of the
    shard positions, then the chief writes and commits the checkpoint while the others wait
    at a second all-gather, which also carries whether the write succeeded. When it returns
    the checkpoint is committed, and every worker knows it. **Resume** (:meth:`resume`, at
    the start): the chief loads the newest readable checkpoint and checks it against this
    run; its decision (start, resume from a position, or refuse with the differences)
    reaches every worker as one JSON broadcast, and on a resume its arrays follow as one
    all-reduce. ``sync`` is a :class:`~item2vec.distributed.collectives.Sync`, ``progress`` a
    :class:`~item2vec.distributed.watchdog.Progress` (told of every committed checkpoint).

    ``names`` are the array names of the state variables, in order: ``vectors``,
    ``output_vectors`` (separate output only), ``biases``, ``accumulator_<i>``; arrays come
    and go in the variables' shapes (``biases`` is ``(n, 1)``; stored as ``(n,)``).
    """

    def __init__(
        self, directory: CheckpointDir, *, sync: Any, progress: Any, run: Mapping[str, Any],
        config: Mapping[str, Any], vocabulary: Any, names: list[str], timeout: float,
        allowance: float,
    ) -> None:  # fmt: skip
        self.dir, self.sync, self.progress = directory, sync, progress
        self.cluster = progress.cluster
        self.run, self.config, self.vocabulary = dict(run), dict(config), vocabulary
        self.names = names
        self.timeout, self.allowance = timeout, allowance

    def save(self, position: RunPosition, snapshot: Any, history: list[dict[str, Any]]) -> None:
        """Commit ``position`` (its ``shards`` holds this worker's ``[epoch, batches]``);
        ``snapshot()`` gives the arrays by name, called on the chief only."""
        name = f"the checkpoint at global step {position.global_step}"
        mine = position.shards[0]
        every = self.sync.gather(mine, self.timeout, name)
        position.shards = [[int(e), int(b)] for e, b in every]
        ok, error = 1.0, None
        if self.cluster.is_chief:
            try:
                arrays = {k: np.asarray(v) for k, v in snapshot().items()}
                arrays["biases"] = arrays["biases"][:, 0]
                path = self.dir.write(
                    position, arrays=arrays, vocabulary=self.vocabulary, config=self.config,
                    history=history, run=self.run,
                )  # fmt: skip
                self.progress.last = (os.fspath(path), position.describe())  # committed
            except (OSError, Item2VecError) as e:
                ok, error = 0.0, e
        chief = self.sync.gather([ok, position.global_step], self.timeout + self.allowance, name)
        if not chief[0, 0]:
            raise TrainingError(
                f"could not write {name} in {self.dir.directory}: {error}"
                if self.cluster.is_chief else
                f"the chief (worker 0) could not write {name}; see its output"
            )  # fmt: skip
        self.progress.last = (os.fspath(self.dir.path(position.global_step)), position.describe())

    def resume(self) -> tuple[RunPosition, list[dict[str, Any]], str | None, list | None]:
        """``(position, history, checkpoint path, arrays)`` to continue from: a fresh start
        is ``(RunPosition(), [], None, None)``. ``arrays`` (in ``names`` order) is the chief's
        only; load them with ``Sync.load_from_chief``. A refused resume raises
        :class:`TrainingError` on every worker, with the chief's message."""
        plan: dict[str, Any] = {"action": "fresh"}
        arrays = None
        what = "the resume check"
        if self.cluster.is_chief:
            try:
                plan, arrays = self._plan()
            except Item2VecError as e:
                plan = {"action": "error", "message": str(e)}
        plan = self.sync.broadcast_json(plan, self.timeout + self.allowance, what)
        if plan["action"] == "error":
            prefix = "" if self.cluster.is_chief else "the chief (worker 0) refused to resume: "
            raise TrainingError(prefix + plan["message"])
        if plan["action"] == "fresh":
            return RunPosition(), [], None, None
        pos = RunPosition.from_dict(plan["position"])
        self.progress.last = (plan["path"], pos.describe())
        return pos, list(plan["history"]), plan["path"], arrays

    def _plan(self) -> tuple[dict[str, Any], list[np.ndarray] | None]:
        self.dir.clean_partial()
        ck, path, notes = self.dir.load_latest()
        for note in notes:
            print(f"item2vec: warning: {note}", file=sys.stderr, flush=True)
        if ck is None and notes:
            raise TrainingError(
                f"no readable checkpoint in {self.dir.directory} (" + "; ".join(notes) +
                f"); remove {self.dir.directory} to start over"
            )  # fmt: skip
        if ck is None:
            return {"action": "fresh"}, None
        check_resumable(ck, path, run=self.run, config=self.config, vocabulary=self.vocabulary,
                        directory=self.dir.directory)  # fmt: skip
        by_name = {"vectors": ck.vectors, "biases": ck.biases[:, None], **ck.extra_arrays}
        missing = [n for n in self.names if n not in by_name]
        if missing:
            raise TrainingError(f"checkpoint {path} lacks {', '.join(missing)}; remove "
                                f"{self.dir.directory} to start over")  # fmt: skip
        pos = RunPosition.from_dict(ck.meta["state"])
        print(f"item2vec: resuming from {path} ({pos.describe()})", file=sys.stderr, flush=True)
        plan = {"action": "resume", "path": os.fspath(path), "history": ck.history or [],
                "position": pos.to_dict()}  # fmt: skip
        return plan, [by_name[n] for n in self.names]
