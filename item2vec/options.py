"""Command-line options shared by ``item2vec train`` / ``evaluate`` (:mod:`item2vec.cli`) and
``python -m item2vec.distributed train`` (:mod:`item2vec.distributed_cli`).

Choices come from :mod:`item2vec.checks` (and :data:`item2vec.distributed.AGGREGATIONS`),
defaults from :class:`~item2vec.config.Config`, so the command lines and the library agree.
"""

from __future__ import annotations

import argparse
from typing import Any

from .checks import MODES, OPTIMIZERS, SHARD_MODES
from .config import Config
from .distributed import AGGREGATIONS

__all__ = [
    "HYPERPARAMETERS",
    "add_distributed_options",
    "add_hyperparameters",
    "hyperparameters",
    "parse_window",
]

#: The :class:`~item2vec.config.Config` fields :func:`add_hyperparameters` sets, in order.
HYPERPARAMETERS = ("dim", "window", "negatives", "ns_exponent", "sample", "epochs", "mode",
                   "batch_size", "learning_rate", "optimizer", "workers", "seed")  # fmt: skip


def parse_window(value: str) -> int | str:
    """``--window``: an integer, or ``"session"``."""
    return value if value == "session" else int(value)


def add_hyperparameters(parser: argparse.ArgumentParser) -> None:
    """The "model" option group: one option per name of :data:`HYPERPARAMETERS`."""
    d = Config()
    g = parser.add_argument_group("model")
    g.add_argument("--dim", type=int, default=d.dim)
    g.add_argument("--window", type=parse_window, default=d.window, help="int, or 'session'")
    g.add_argument("--negatives", type=int, default=d.negatives)
    g.add_argument("--ns-exponent", type=float, default=d.ns_exponent)
    g.add_argument("--sample", type=float, default=d.sample)
    g.add_argument(
        "--epochs", type=int, default=d.epochs,
        help="passes over the log (default: from its size, about 4 M events of training, "
        "10-100 epochs)",
    )  # fmt: skip
    g.add_argument("--mode", choices=MODES, default=d.mode)
    g.add_argument("--batch-size", type=int, default=d.batch_size)
    g.add_argument("--learning-rate", type=float, default=d.learning_rate)
    g.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer)
    g.add_argument("--workers", type=int, default=d.workers)
    g.add_argument("--seed", type=int, default=d.seed)


def hyperparameters(args: argparse.Namespace) -> dict[str, Any]:
    """The values of :func:`add_hyperparameters`' options, as :class:`Config` keyword
    arguments."""
    return {k: getattr(args, k) for k in HYPERPARAMETERS}


def add_distributed_options(parser: argparse.ArgumentParser) -> None:
    """The options a worker needs beyond ``item2vec train``'s (the "distributed" group)."""
    g = parser.add_argument_group("distributed")
    g.add_argument("--chunk-events", type=int, default=Config().chunk_events)
    g.add_argument("--batch-rows", type=int, default=65_536, help="Parquet rows per read")
    g.add_argument("--shard", choices=SHARD_MODES, default="auto")
    g.add_argument("--aggregation", choices=AGGREGATIONS, default="auto")
    g.add_argument("--dump-dir", help="every worker writes its final tables here")
    g.add_argument("--threads", type=int, help="TensorFlow intra-op threads")
