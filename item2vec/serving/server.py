"""``serve(args)``: load the model, bind the socket, run uvicorn until SIGTERM / SIGINT.

The model is loaded and warmed before the socket is bound, so the first request that gets
through is answered at once. The socket is bound here (not by uvicorn) so that ``--port 0``
can print the port it got: the line ``item2vec serving ... on http://HOST:PORT`` on
standard output, flushed, is the signal that the server is ready.

On SIGTERM or SIGINT the server stops accepting connections, lets the requests in flight
finish (``--shutdown-timeout`` seconds at most) and :func:`serve` returns 0; a second
SIGINT quits at once.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator

import uvicorn

from .options import check_options

logger = logging.getLogger("item2vec.serving")


def _bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (IPv4 or IPv6, as ``host`` resolves)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _limit_blas(threads: int) -> None:
    """BLAS threads per query to ``threads`` (and idle OpenMP threads of FAISS passive).

    A query's matrix products are small (5 x dim times dim x n_items); OpenBLAS spreading
    each over every core while the request threads run others made ``/recommend`` 3x
    slower on 2 cores (see docs/serving.md). The environment variables take effect when
    numpy is not loaded yet (``python -m item2vec.serving``); threadpoolctl also when it is
    (``item2vec serve``).
    """
    for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, str(threads))
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # no spinning on the requests' cores
    import numpy  # noqa: F401  (loaded now, under the variables, for threadpoolctl to see)

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        if "numpy" in sys.modules:
            logger.warning(
                "numpy is loaded and threadpoolctl is not installed: BLAS keeps its own "
                "thread count (pip install threadpoolctl)"
            )
        return
    global _BLAS_LIMIT
    _BLAS_LIMIT = threadpool_limits(limits=threads, user_api="blas")


_BLAS_LIMIT = None
"""threadpoolctl's limit, kept for the life of the process."""


def _log_to_stderr(level: str) -> None:
    """The serving logger (reloads, refusals) on standard error, formatted as uvicorn's."""
    if logger.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(args: argparse.Namespace) -> int:
    """See :func:`item2vec.serving.run`."""
    start = time.perf_counter()
    try:
        limits, threads = check_options(args)
    except ValueError as e:
        print(f"item2vec serve: error: {e}", file=sys.stderr)
        return 2
    _log_to_stderr(args.log_level)
    _limit_blas(args.blas_threads)

    from ..exceptions import Item2VecError
    from .app import create_app
    from .models import ModelHolder, ReloadRefused, load_served

    try:
        served = load_served(args.model_dir)
    except (Item2VecError, ReloadRefused, OSError) as e:
        print(f"item2vec serve: error: cannot serve {args.model_dir}: {e}", file=sys.stderr)
        return 1
    try:
        sock = _bind(args.host, args.port)
    except OSError as e:
        print(f"item2vec serve: error: cannot listen on {args.host}:{args.port}: {e}",
              file=sys.stderr)  # fmt: skip
        return 1
    holder = ModelHolder(served)
    app = create_app(
        holder, limits, threads, watch_interval=args.watch_interval if args.watch else None
    )
    config = uvicorn.Config(
        app,
        log_level=args.log_level,
        access_log=args.access_log,
        timeout_graceful_shutdown=max(1, round(args.shutdown_timeout)),
        limit_concurrency=None,
        lifespan="on",
        server_header=False,
    )
    server = _Server(config)
    print(
        f"item2vec serving {served.model_dir} (model {served.model_id}, {served.n_items:,} "
        f"items, loaded in {served.load_seconds:.2f} s, ready {time.perf_counter() - start:.2f}"
        f" s after start) on {_url(sock)}",
        flush=True,
    )
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning("listening on %s: there is no authentication", args.host)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0


class _Server(uvicorn.Server):
    """uvicorn's server, returning after SIGTERM instead of re-raising the signal (so that
    :func:`serve` returns 0 to a process manager)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
