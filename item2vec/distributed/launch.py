"""Start local worker processes of a multi-worker run and wait for them (:func:`launch_local`).

Each worker is ``python -m item2vec.distributed.cli train <args>`` (the same program as
``python -m item2vec.distributed train``) with its own ``TF_CONFIG`` naming free 127.0.0.1
ports. This module only manages processes: it imports no TensorFlow and none of the
training code.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..checks import check_int
from ..exceptions import ParameterError
from .cluster import tf_config

__all__ = ["WORKER_MODULE", "WorkerExit", "describe_exits", "free_ports", "launch_local"]

#: The module each worker process runs (``python -m WORKER_MODULE train ...``).
WORKER_MODULE = "item2vec.distributed"


@dataclass
class WorkerExit:
    """How one launched worker ended."""

    index: int
    returncode: int | None  # None: still running when killed after a timeout
    timed_out: bool = False
    log: str | None = None  # its output file (None: it wrote to this terminal)
    killed: bool = False  # stopped because another worker failed
    tail: list[str] = field(default_factory=list)
    attempt: int = 1  # 1 + the restarts before this run of the worker

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def how(self) -> str:
        """How it ended, in words."""
        if self.timed_out:
            return "timed out"
        if self.killed:
            return "killed after another worker failed"
        if self.returncode is not None and self.returncode < 0:
            try:
                return f"killed by {signal.Signals(-self.returncode).name}"
            except ValueError:
                return f"killed by signal {-self.returncode}"
        return f"exit code {self.returncode}"


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct ports that were free a moment ago (bound to port 0, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def launch_local(
    n_workers: int,
    train_args: Sequence[str],
    *,
    timeout: float = 3600.0,
    grace: float = 30.0,
    log_dir: str | os.PathLike | None = None,
    threads: int | None = None,
    env: dict[str, str] | None = None,
    restarts: int = 0,
) -> list[WorkerExit]:
    """Run ``python -m item2vec.distributed train <train_args>`` as ``n_workers`` local
    processes on free 127.0.0.1 ports, each with its ``TF_CONFIG``, and wait for them.

    All workers are killed after ``timeout`` seconds (over all attempts); when one fails the
    others get ``grace`` seconds to notice (collectives then abort) before they are killed.
    Output goes to ``log_dir/worker-<i>.log`` (default: the chief writes to this terminal,
    the others to files in a new temporary folder). ``threads`` sets each worker's intra-op
    threads (default: the cores divided by the workers).

    ``restarts``: when an attempt fails, start all workers again with the same arguments (on
    new ports), up to this many times; they resume from the last checkpoint in their
    ``--checkpoint-dir``. No restart follows an attempt in which a worker exited with code 2
    (bad arguments or data, a refused resume: a restart would fail the same way). Later
    attempts append to the same log files after a ``--- attempt k ---`` line.

    Returns one :class:`WorkerExit` per worker, in index order, for the last attempt.
    """
    n_workers = check_int("n_workers", n_workers, 1)
    restarts = check_int("restarts", restarts, 0)
    if not timeout > 0:
        raise ParameterError(f"timeout must be > 0 seconds, got {timeout!r}")
    if threads is None:
        threads = max(1, (os.cpu_count() or 1) // n_workers)
    to_files = log_dir is not None
    log_dir = os.fspath(log_dir) if to_files else tempfile.mkdtemp(prefix="item2vec-workers-")
    os.makedirs(log_dir, exist_ok=True)
    deadline = time.monotonic() + timeout
    attempt = 1
    while True:
        exits = _attempt(n_workers, train_args, deadline, grace, log_dir, to_files, threads,
                         env, attempt)  # fmt: skip
        if all(e.ok for e in exits) or attempt > restarts or time.monotonic() >= deadline:
            return exits
        if any(e.returncode == 2 for e in exits):
            print("item2vec launch: not restarting: a worker exited with code 2 (arguments, "
                  "data or checkpoint refused), which a restart would repeat",
                  file=sys.stderr, flush=True)  # fmt: skip
            return exits
        print(f"item2vec launch: attempt {attempt} failed ({describe_exits(exits)}); "
              f"restarting all {n_workers} workers (restart {attempt} of {restarts})",
              file=sys.stderr, flush=True)  # fmt: skip
        attempt += 1


def describe_exits(exits: Sequence[WorkerExit]) -> str:
    """One phrase per worker: how it ended (``worker 1 killed by SIGKILL``, ...)."""
    return ", ".join(f"worker {e.index} {e.how}" for e in exits)


def _attempt(
    n_workers: int, train_args: Sequence[str], deadline: float, grace: float, log_dir: str,
    to_files: bool, threads: int, env: dict[str, str] | None, attempt: int,
) -> list[WorkerExit]:  # fmt: skip
    ports = free_ports(n_workers)
    hosts = [f"127.0.0.1:{p}" for p in ports]
    procs: list[subprocess.Popen] = []
    logs: list[str | None] = []
    try:
        for i in range(n_workers):
            wenv = dict(os.environ if env is None else env)
            wenv["TF_CONFIG"] = tf_config(hosts, i)
            wenv.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
            cmd = [sys.executable, "-m", WORKER_MODULE, "train",
                   "--threads", str(threads), *train_args]  # fmt: skip
            if i == 0 and not to_files:
                logs.append(None)
                procs.append(subprocess.Popen(cmd, env=wenv, start_new_session=True))
            else:
                path = os.path.join(log_dir, f"worker-{i}.log")
                logs.append(path)
                with open(path, "wb" if attempt == 1 else "ab") as f:
                    if attempt > 1:
                        f.write(f"--- attempt {attempt} ---\n".encode())
                        f.flush()
                    procs.append(subprocess.Popen(cmd, env=wenv, stdout=f,
                                                  stderr=subprocess.STDOUT,
                                                  start_new_session=True))  # fmt: skip
        exits = _wait(procs, max(0.0, deadline - time.monotonic()), grace)
    finally:
        for p in procs:  # never leave a worker behind
            if p.poll() is None:
                _kill(p)
    results = []
    for i, (code, timed_out, killed) in enumerate(exits):
        tail = _tail(logs[i]) if code != 0 and logs[i] else []
        results.append(WorkerExit(i, code, timed_out, logs[i], killed, tail, attempt))
    return results


def _wait(
    procs: list[subprocess.Popen], timeout: float, grace: float
) -> list[tuple[int | None, bool, bool]]:
    """``(returncode, timed_out, killed)`` per process once all have ended or been killed."""
    deadline = time.monotonic() + timeout
    failed_at: float | None = None
    while True:
        codes = [p.poll() for p in procs]
        if all(c is not None for c in codes):
            return [(c, False, False) for c in codes]
        now = time.monotonic()
        if failed_at is None and any(c not in (None, 0) for c in codes):
            failed_at = now
        if now > deadline or (failed_at is not None and now > failed_at + grace):
            out = []
            for p, c in zip(procs, codes):
                if c is None:
                    _kill(p)
                    out.append((None, now > deadline, now <= deadline))
                else:
                    out.append((c, False, False))
            return out
        time.sleep(0.1)


def _kill(p: subprocess.Popen) -> None:
    try:
        os.killpg(p.pid, signal.SIGKILL)  # its own session: the worker and nothing else
    except (ProcessLookupError, PermissionError):
        p.kill()
    p.wait()


def _tail(path: str, n: int = 15) -> list[str]:
    try:
        with open(path, errors="replace") as f:
            return f.read().splitlines()[-n:]
    except OSError:
        return []
