"""The options of ``item2vec serve`` and the request limits they set."""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from typing import Any

from ..cores import usable_cores

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


@dataclass(frozen=True)
class Limits:
    """What one request may ask; anything above is answered 4xx naming the limit."""

    max_k: int = 1000
    """Largest ``k`` (results per query)."""
    max_history: int = 100
    """Most items in one history of ``/recommend``."""
    max_batch: int = 100
    """Most queries in one ``/similar/batch`` or ``/recommend/batch`` request. A batch of
    ``recommend`` holds a (queries, n_items) mask while it runs: 100 MB at 1M items."""
    max_filter: int = 10_000
    """Most items in an ``exclude`` or ``allowed`` list."""
    max_body_bytes: int = 1 << 20
    """Largest request body (413 above)."""
    read_timeout: float = 10.0
    """Seconds a client may take to send its body (408 after)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULTS = Limits()


def default_threads() -> int:
    """Query threads when ``--threads`` is not given: one per core the process may use."""
    return max(2, usable_cores())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``MODEL_DIR`` and every option of ``item2vec serve`` to ``parser``."""
    parser.add_argument(
        "model_dir",
        metavar="MODEL_DIR",
        help="model directory written by `item2vec train --out` (or Item2Vec.save); "
        "POST /reload and --watch load it again",
    )
    net = parser.add_argument_group("network")
    net.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to bind (default {DEFAULT_HOST}: this machine only; there is no "
        "authentication, so put a proxy in front before binding a public address)",
    )
    net.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"TCP port (default {DEFAULT_PORT}; 0 picks a free one, printed at start)",
    )
    net.add_argument(
        "--threads",
        type=int,
        default=None,
        help="queries answered at once, on a thread pool (FAISS and numpy release the GIL); "
        "default: one per core, at least 2",
    )
    net.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        help="BLAS (OpenBLAS) threads per query (default 1: the request threads are the "
        "parallelism; more threads per small matrix product only contend)",
    )
    net.add_argument(
        "--shutdown-timeout",
        type=float,
        default=5.0,
        help="seconds that requests in flight get to finish after SIGTERM (default 5)",
    )
    net.add_argument("--access-log", action="store_true", help="log every request")
    net.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug"),
        help="uvicorn's log level (default info)",
    )
    reload = parser.add_argument_group("reload")
    reload.add_argument(
        "--watch",
        action="store_true",
        help="reload when MODEL_DIR/meta.json changes (as after `item2vec train --out "
        "MODEL_DIR --overwrite` or `--update`), polled every --watch-interval seconds",
    )
    reload.add_argument(
        "--watch-interval",
        type=float,
        default=2.0,
        help="seconds between two looks at MODEL_DIR/meta.json with --watch (default 2)",
    )
    lim = parser.add_argument_group("limits (a request above one is answered 4xx)")
    for name, help_text in (
        ("max_k", "largest k, results per query"),
        ("max_history", "most items in one history"),
        ("max_batch", "most queries in one batch request"),
        ("max_filter", "most items in an exclude or allowed list"),
        ("max_body_bytes", "largest request body in bytes (413 above)"),
    ):
        lim.add_argument(
            "--" + name.replace("_", "-"),
            type=int,
            default=getattr(DEFAULTS, name),
            help=f"{help_text} (default {getattr(DEFAULTS, name):,})",
        )
    lim.add_argument(
        "--read-timeout",
        type=float,
        default=DEFAULTS.read_timeout,
        help=f"seconds a client may take to send its body, 408 after "
        f"(default {DEFAULTS.read_timeout:g})",
    )


def check_options(args: argparse.Namespace) -> tuple[Limits, int]:
    """The limits and the thread count of ``args``; ValueError naming a bad option."""
    for name in ("max_k", "max_history", "max_batch", "max_filter", "max_body_bytes"):
        value = getattr(args, name)
        if value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    for name in ("read_timeout", "watch_interval", "shutdown_timeout"):
        value = getattr(args, name)
        if not value > 0:
            raise ValueError(f"--{name.replace('_', '-')} must be > 0, got {value}")
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be in [0, 65535], got {args.port}")
    if args.blas_threads < 1:
        raise ValueError(f"--blas-threads must be >= 1, got {args.blas_threads}")
    threads = default_threads() if args.threads is None else args.threads
    if threads < 1:
        raise ValueError(f"--threads must be >= 1, got {threads}")
    limits = Limits(
        max_k=args.max_k,
        max_history=args.max_history,
        max_batch=args.max_batch,
        max_filter=args.max_filter,
        max_body_bytes=args.max_body_bytes,
        read_timeout=args.read_timeout,
    )
    return limits, threads
