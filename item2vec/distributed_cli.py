"""The command line of multi-worker training: ``python -m item2vec.distributed {launch,train}``.

``train`` runs this process as one worker of the cluster in ``TF_CONFIG``
(:func:`run_worker`, also behind ``item2vec train --distributed``); ``launch`` starts N local
workers with :func:`~item2vec.launch.launch_local` and reports how each ended.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .config import Config
from .distributed import train_distributed
from .exceptions import Item2VecError, ParameterError
from .launch import launch_local
from .options import add_distributed_options, add_hyperparameters, hyperparameters

__all__ = ["launch_parser", "main", "run_launch", "run_worker", "worker_parser"]


def run_worker(args: argparse.Namespace) -> int:
    """Train as one worker from parsed ``item2vec train`` options plus
    :func:`~item2vec.options.add_distributed_options`; prints one summary line."""
    if getattr(args, "user_col", None) or getattr(args, "gap", None):
        raise ParameterError("distributed training needs --session-col (no --user-col/--gap)")
    params = hyperparameters(args)
    params.pop("workers", None)  # Hogwild threads: one collective step at a time here
    config = Config(
        **params, min_count=args.min_count, chunk_events=args.chunk_events,
        separate_output=bool(getattr(args, "separate_output", False)),
    )  # fmt: skip
    result = train_distributed(
        args.data, session=args.session_col, item=args.item_col, time=args.time_col,
        config=config, out=args.out, min_length=args.min_length,
        collapse_repeats=bool(getattr(args, "collapse_repeats", False)),
        batch_rows=args.batch_rows, shard=args.shard, aggregation=args.aggregation,
        dump_dir=args.dump_dir, threads=args.threads, progress=not args.quiet,
    )  # fmt: skip
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


def worker_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m item2vec.distributed train``."""
    p = argparse.ArgumentParser(
        prog="python -m item2vec.distributed train",
        description="One worker of a multi-worker training run (reads TF_CONFIG).",
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
    p.add_argument("--separate-output", action="store_true", help="word2vec's output table")
    add_hyperparameters(p)
    add_distributed_options(p)
    return p


def launch_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m item2vec.distributed launch`` (the options before ``--``)."""
    p = argparse.ArgumentParser(
        prog="python -m item2vec.distributed launch",
        description="Start N local workers on free 127.0.0.1 ports and wait for them.",
        epilog="Everything after -- is passed to every worker (see the 'train' command).",
    )
    p.add_argument("--workers", type=int, required=True, help="number of worker processes")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds before all are killed")
    p.add_argument("--log-dir", help="write every worker's output to LOG_DIR/worker-<i>.log")
    p.add_argument("--threads", type=int, help="intra-op threads per worker")
    return p


def run_launch(argv: Sequence[str]) -> int:
    """``launch [options] -- <train args>``: start the workers, report each; 0 if all ok."""
    argv = list(argv)
    split = argv.index("--") if "--" in argv else len(argv)
    args = launch_parser().parse_args(argv[:split])
    exits = launch_local(
        args.workers, argv[split + 1 :], timeout=args.timeout, log_dir=args.log_dir,
        threads=args.threads,
    )  # fmt: skip
    for e in exits:
        how = "timed out" if e.timed_out else "killed after another worker failed" if e.killed \
            else f"exit code {e.returncode}"  # fmt: skip
        where = f" (log {e.log})" if e.log else ""
        print(f"worker {e.index}: {how}{where}", file=sys.stderr)
        for line in e.tail:
            print(f"  | {line}", file=sys.stderr)
    return 0 if all(e.ok for e in exits) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m item2vec.distributed {launch,train} ...``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    usage = "usage: python -m item2vec.distributed {launch,train} ..."
    if not argv or argv[0] not in ("launch", "train"):
        print(usage, file=sys.stderr)
        return 2
    try:
        if argv[0] == "launch":
            return run_launch(argv[1:])
        return run_worker(worker_parser().parse_args(argv[1:]))
    except Item2VecError as e:
        print(f"item2vec: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
