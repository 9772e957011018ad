"""The command line of multi-worker training: ``python -m item2vec.distributed {launch,train}``.

``train`` runs this process as one worker of the cluster in ``TF_CONFIG``
(:func:`run_worker`, also behind ``item2vec train --distributed``); ``launch`` starts N local
workers with :func:`~item2vec.distributed.launch.launch_local` and reports how each ended.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from ..checks import SHARD_MODES
from ..config import Config
from ..exceptions import Item2VecError, ParameterError
from ..flags import HelpFormatter, add_hyperparameters, cli_message, hyperparameters
from ..training.startup import quiet_tensorflow, start_tensorflow
from .launch import launch_local
from .trainer import (
    AGGREGATIONS,
    DEFAULT_COLLECTIVE_TIMEOUT,
    EXIT_WORKER_LOST,
    WorkerLostError,
    train_distributed,
)

__all__ = [
    "add_distributed_options",
    "exit_main",
    "launch_parser",
    "main",
    "run_launch",
    "run_worker",
    "worker_parser",
]


def add_distributed_options(parser: argparse.ArgumentParser) -> None:
    """The options a worker needs beyond ``item2vec train``'s (the "distributed" group)."""
    g = parser.add_argument_group("distributed")
    g.add_argument(
        "--chunk-events", metavar="N", type=int, default=Config().chunk_events,
        help="events per sampler chunk (bounds the sampler's memory)",
    )  # fmt: skip
    g.add_argument(
        "--batch-rows", metavar="N", type=int, default=65_536, help="Parquet rows per read"
    )
    g.add_argument(
        "--shard", choices=SHARD_MODES, default="auto",
        help="how workers split the log: by row groups, by a hash of the session id, or auto",
    )  # fmt: skip
    g.add_argument(
        "--aggregation", choices=AGGREGATIONS, default="auto",
        help="how gradients are combined: sparse rows, a dense table, or auto",
    )  # fmt: skip
    g.add_argument("--dump-dir", metavar="DIR", help="every worker writes its final tables here")
    g.add_argument("--threads", metavar="N", type=int, help="TensorFlow intra-op threads")
    g.add_argument(
        "--collective-timeout", metavar="SECONDS", type=float,
        default=DEFAULT_COLLECTIVE_TIMEOUT,
        help="how long a worker waits for the others in one collective before it stops "
        "(a dead worker is noticed in about 10 s anyway; see docs/scaling.md)",
    )  # fmt: skip
    g.add_argument(
        "--checkpoint-keep", metavar="N", type=int, default=2,
        help="multi-worker checkpoints to keep (an unreadable newest one falls back to the "
        "one before)",
    )  # fmt: skip


def run_worker(args: argparse.Namespace) -> int:
    """Train as one worker from parsed ``item2vec train`` options plus
    :func:`~item2vec.cli.options.add_distributed_options`; prints one summary line. Returns 0,
    or :data:`~item2vec.distributed.watchdog.EXIT_WORKER_LOST` (75) when another worker was lost: a
    restart of every worker resumes from the last checkpoint."""
    if getattr(args, "user_col", None) or getattr(args, "gap", None):
        raise ParameterError("distributed training needs --session-col (no --user-col/--gap)")
    params = hyperparameters(args)
    params.pop("workers", None)  # Hogwild threads: one collective step at a time here
    config = Config(
        **params, min_count=args.min_count, chunk_events=args.chunk_events,
        separate_output=bool(getattr(args, "separate_output", False)),
    )  # fmt: skip
    try:
        result = _train(args, config)
    except WorkerLostError as e:  # another worker is gone: restartable, exit code 75
        print(f"item2vec: error: {e}", file=sys.stderr, flush=True)
        return EXIT_WORKER_LOST
    c = result.cluster
    last = result.history[-1]
    print(
        f"worker {c.task_index}/{c.n_workers}: {result.shard_events:,} events in its shard, "
        f"{result.aggregation} aggregation, last epoch loss {last['loss']:.4f}, "
        f"{last['couples_per_second']:,.0f} couples/s, {result.seconds:.1f} s"
        + (f"; saved {result.saved}" if result.saved else ""),
        flush=True,
    )
    return 0


def _train(args: argparse.Namespace, config: Config) -> Any:
    return train_distributed(
        args.data, session=args.session_col, item=args.item_col, time=args.time_col,
        config=config, out=args.out, min_length=args.min_length,
        collapse_repeats=bool(getattr(args, "collapse_repeats", False)),
        batch_rows=args.batch_rows, shard=args.shard, aggregation=args.aggregation,
        dump_dir=args.dump_dir, threads=args.threads, progress=not args.quiet,
        checkpoint_dir=_checkpoint_dir(args), checkpoint_every=args.checkpoint_every,
        checkpoint_keep=getattr(args, "checkpoint_keep", 2),
        collective_timeout=getattr(args, "collective_timeout", DEFAULT_COLLECTIVE_TIMEOUT),
    )  # fmt: skip


def _checkpoint_dir(args: argparse.Namespace) -> str:
    """``--checkpoint-dir``, by default ``OUT.checkpoint`` (as ``item2vec train``'s): where
    the chief checkpoints and, when it holds a checkpoint, resumes from (no ``--resume``
    needed: a restarted job continues by itself)."""
    return args.checkpoint_dir or f"{os.fspath(args.out).rstrip(os.sep)}.checkpoint"


def worker_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m item2vec.distributed train``."""
    p = argparse.ArgumentParser(
        prog="python -m item2vec.distributed train",
        description="One worker of a multi-worker training run (reads TF_CONFIG).",
        formatter_class=HelpFormatter,
    )
    p.add_argument("data", metavar="DATA", help="Parquet file or dataset directory")
    p.add_argument("--session-col", required=True, help="session / basket id column")
    p.add_argument("--item-col", required=True, help="item id column")
    p.add_argument("--time-col", help="column to order the events of a session by")
    p.add_argument("--min-count", type=int, default=1, help="drop items seen fewer times")
    p.add_argument("--min-length", type=int, default=2, help="drop shorter sessions")
    p.add_argument("--collapse-repeats", action="store_true", help="merge consecutive repeats")
    p.add_argument("--out", required=True, help="model directory (written by the chief)")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    p.add_argument("--verbose", action="store_true", help="show TensorFlow's own log lines")
    p.add_argument("--separate-output", action="store_true", help="word2vec's output table")
    p.add_argument(
        "--checkpoint-dir", metavar="DIR",
        help="the chief checkpoints here and a restarted run resumes from here "
        "(default: OUT.checkpoint; removed once the model is saved)",
    )  # fmt: skip
    p.add_argument(
        "--checkpoint-every", metavar="STEPS", type=int, default=1000,
        help="global steps between checkpoints, besides one per epoch (0: no checkpoints)",
    )  # fmt: skip
    add_hyperparameters(p)
    add_distributed_options(p)
    return p


def launch_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m item2vec.distributed launch`` (the options before ``--``)."""
    p = argparse.ArgumentParser(
        prog="python -m item2vec.distributed launch",
        description="Start N local workers on free 127.0.0.1 ports and wait for them.",
        epilog="Everything after -- is passed to every worker (see the 'train' command).",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--workers", type=int, required=True, help="number of worker processes")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds before all are killed")
    p.add_argument("--log-dir", help="write every worker's output to LOG_DIR/worker-<i>.log")
    p.add_argument("--threads", type=int, help="intra-op threads per worker")
    p.add_argument(
        "--restarts", type=int, default=0, metavar="N",
        help="when a worker dies, stop the others and start all again (they resume from the "
        "last checkpoint), up to N times",
    )  # fmt: skip
    return p


def run_launch(argv: Sequence[str]) -> int:
    """``launch [options] -- <train args>``: start the workers, report each; 0 if all ok."""
    argv = list(argv)
    split = argv.index("--") if "--" in argv else len(argv)
    args = launch_parser().parse_args(argv[:split])
    exits = launch_local(
        args.workers, argv[split + 1 :], timeout=args.timeout, log_dir=args.log_dir,
        threads=args.threads, restarts=args.restarts,
    )  # fmt: skip
    for e in exits:
        where = f" (log {e.log})" if e.log else ""
        again = f" (attempt {e.attempt})" if e.attempt > 1 else ""
        print(f"worker {e.index}{again}: {e.how}{where}", file=sys.stderr)
        for line in e.tail:
            print(f"  | {line}", file=sys.stderr)
    return 0 if all(e.ok for e in exits) else 1


def exit_main() -> None:
    """Run :func:`main` as the process and leave with its code. After a lost worker
    (:data:`EXIT_WORKER_LOST`) TensorFlow's teardown may wait on the lost peer, so the
    process leaves at once."""
    code = main()
    if code == EXIT_WORKER_LOST:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m item2vec.distributed {launch,train} ...``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    usage = "usage: python -m item2vec.distributed {launch,train} ..."
    if not argv or argv[0] not in ("launch", "train"):
        print(usage, file=sys.stderr)
        return 2
    try:
        if argv[0] == "launch":
            quiet_tensorflow("--verbose" in argv)  # the workers inherit the setting
            return run_launch(argv[1:])
        args = worker_parser().parse_args(argv[1:])
        start_tensorflow(args.verbose, one_thread_per_op=False)  # --threads decides
        return run_worker(args)
    except Item2VecError as e:
        print(f"item2vec: error: {cli_message(str(e))}", file=sys.stderr)
        return 2
