"""The HTTP routes (Starlette): every answer is JSON, every failure ``{"error": "..."}``.

==========================  ====================================================  =========
route                       body / query                                          estimator
==========================  ====================================================  =========
``GET /health``             model id, items, load time, reloads, limits           --
``GET /similar``            ``?item=ID&k=10``                                     similar
``POST /similar/batch``     ``{"items": [...], "k": 10, "exclude"?, "allowed"?}`` similar
``POST /recommend``         ``{"history": [...], "k": 10, "score"?, ...}``        recommend
``POST /recommend/batch``   ``{"histories": [[...], ...], "k": 10, ...}``         ..._batch
``POST /reload``            (none) load MODEL_DIR beside the served model, swap   load
==========================  ====================================================  =========

Answers: ``{"items": [...], "scores": [...], "model_id": ...}`` (a list per query for the
batch forms), with ``"descriptions"`` beside ``"items"`` when the model has them.
Statuses: 400 bad parameter or body, 404 unknown item or route, 405 wrong method,
408 body too slow, 409 reload refused (the old model keeps serving), 413 body too large.

Queries run on a thread pool of ``threads`` (:func:`anyio.to_thread.run_sync` with a
capacity limiter); the event loop only parses and answers. Each request reads the served
model once (``holder.current``) and uses it to the end.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import math
import threading
from collections.abc import Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from ..exceptions import ParameterError, UnknownItemError
from ..version import __version__
from .inputs import (
    Query,
    RequestError,
    parse_body,
    parse_recommend,
    parse_recommend_batch,
    parse_similar_batch,
    parse_similar_params,
)
from .models import ModelHolder, ReloadRefused, Served
from .options import Limits

logger = logging.getLogger("item2vec.serving")


class JSON(Response):
    """A compact JSON answer (no spaces, UTF-8)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def error(status: int, message: str, **extra: Any) -> JSON:
    return JSON({"error": message, **extra}, status_code=status)


def _scores(values: Any) -> list[Any]:
    """Scores as JSON numbers (a non-finite one, which FAISS never gives, as null)."""
    return [v if math.isfinite(v) else None for v in values.tolist()]


def _answer(served: Served, ids: Any, scores: Any, batch: bool) -> dict[str, Any]:
    """The JSON of ``(ids, scores)`` arrays: 1-D for one query, 2-D for a batch."""
    items = ids.tolist()
    out: dict[str, Any] = {
        "items": items,
        "scores": [_scores(row) for row in scores] if batch else _scores(scores),
    }
    if served.descriptions is not None:
        describe = served.describe
        out["descriptions"] = [describe(row) for row in items] if batch else describe(items)
    out["model_id"] = served.model_id
    return out


def _where_unknown(served: Served, query: Query, kind: str) -> str:
    """Which field holds the item the estimator did not know, e.g. ``"history[2]"``."""
    vocabulary = served.model.vocabulary_
    name = {"similar": "item", "similar_batch": "items", "recommend": "history"}.get(
        kind, "histories"
    )
    for i, entry in enumerate(query.items):
        if kind == "recommend_batch":
            for j, item in enumerate(entry):
                if item not in vocabulary:
                    return f"histories[{i}][{j}]"
        elif kind == "recommend":
            for j, item in enumerate(entry):
                if item not in vocabulary:
                    return f"history[{j}]"
        elif entry not in vocabulary:
            return name if kind == "similar" else f"items[{i}]"
    for field in ("exclude", "allowed"):
        for j, item in enumerate(query.options.get(field, ())):
            if item not in vocabulary:
                return f"{field}[{j}]"
    return name


def _ask(served: Served, query: Query, kind: str) -> dict[str, Any]:
    """Run ``query`` on ``served.model`` through its public API (in a worker thread)."""
    model, opts = served.model, query.options
    if kind == "similar":
        ids, scores = model.similar(query.items[0], query.k)
    elif kind == "similar_batch":
        ids, scores = model.similar(query.items, query.k, **opts)
    elif kind == "recommend":
        ids, scores = model.recommend(query.items[0], query.k, **opts)
    else:
        ids, scores = model.recommend_batch(query.items, query.k, **opts)
    return _answer(served, ids, scores, batch=kind.endswith("_batch"))


async def read_body(request: Request, limits: Limits) -> bytes:
    """The body, at most ``limits.max_body_bytes`` (413 past it, told by Content-Length or
    counted while reading) within ``limits.read_timeout`` seconds (408)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise RequestError(400, f"invalid Content-Length header {declared!r}")
        if int(declared) > limits.max_body_bytes:
            raise RequestError(
                413, f"body of {int(declared):,} bytes is above the limit of "
                f"{limits.max_body_bytes:,} (--max-body-bytes)"
            )  # fmt: skip
    chunks, size = [], 0
    try:
        with anyio.fail_after(limits.read_timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limits.max_body_bytes:
                    raise RequestError(
                        413, f"body is above the limit of {limits.max_body_bytes:,} bytes "
                        "(--max-body-bytes)"
                    )  # fmt: skip
                chunks.append(chunk)
    except TimeoutError:
        raise RequestError(
            408, f"the body took more than {limits.read_timeout:g} s to arrive (--read-timeout)"
        ) from None
    return b"".join(chunks)


async def _run_daemon(fn: Callable[[], Any]) -> Any:
    """``fn()`` in a daemon thread of its own (a reload may take minutes on a large model
    and must not hold the process past SIGTERM)."""
    future: concurrent.futures.Future = concurrent.futures.Future()

    def target() -> None:
        try:
            future.set_result(fn())
        except BaseException as e:  # handed to the awaiting request
            future.set_exception(e)

    threading.Thread(target=target, name="item2vec-reload", daemon=True).start()
    return await asyncio.shield(asyncio.wrap_future(future))


def create_app(
    holder: ModelHolder,
    limits: Limits,
    threads: int,
    *,
    watch_interval: float | None = None,
) -> Starlette:
    """The application answering from ``holder.current``; ``watch_interval`` (seconds)
    polls ``meta.json`` and reloads when it changes."""
    state: dict[str, Any] = {}

    async def query(request: Request, kind: str) -> Response:
        served = holder.current  # this request's model, whatever reloads happen meanwhile
        try:
            if kind == "similar":
                params = request.query_params
                counts = {key: len(params.getlist(key)) for key in params}
                q = parse_similar_params(params, counts, limits)
            else:
                obj = parse_body(await read_body(request, limits))
                parse = {"similar_batch": parse_similar_batch, "recommend": parse_recommend}
                q = parse.get(kind, parse_recommend_batch)(obj, limits)
            answer = await anyio.to_thread.run_sync(
                partial(_ask, served, q, kind), limiter=state["limiter"]
            )
        except RequestError as e:
            return error(e.status, e.message)
        except UnknownItemError as e:
            return error(404, f"{_where_unknown(served, q, kind)}: {e}")
        except ParameterError as e:  # e.g. an unknown score name; the estimator's words
            return error(400, str(e))
        except ClientDisconnect:
            return error(400, "the client closed the connection before sending its body")
        holder.note_score(q.options.get("score"))
        return JSON(answer)

    async def health(request: Request) -> Response:
        served = holder.current
        return JSON(
            {
                "status": "ok",
                **served.health(),
                **holder.status(),
                "version": __version__,
                "threads": threads,
                "watch": watch_interval,
                "limits": limits.as_dict(),
            }
        )

    async def reload(request: Request) -> Response:
        try:
            old, new = await _run_daemon(holder.reload)
        except ReloadRefused as e:
            current = holder.current
            return error(
                409, f"reload refused, still serving {current.model_id}: {e}",
                model_id=current.model_id,
            )  # fmt: skip
        return JSON(
            {
                "reloaded": True,
                "model_id": new.model_id,
                "previous_model_id": old.model_id,
                "items": new.n_items,
                "load_seconds": round(new.load_seconds, 4),
            }
        )

    async def watch() -> None:
        assert watch_interval is not None
        while True:
            await anyio.sleep(watch_interval)
            if holder.changed():
                logger.info("%s changed: reloading", holder.model_dir)
                try:
                    await _run_daemon(holder.reload)
                except ReloadRefused:
                    pass  # logged; tried again once meta.json changes again

    @asynccontextmanager
    async def lifespan(app: Starlette):
        state["limiter"] = anyio.CapacityLimiter(threads)
        async with anyio.create_task_group() as tasks:
            if watch_interval is not None:
                tasks.start_soon(watch)
            yield
            tasks.cancel_scope.cancel()

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            message = f"no route {request.url.path}; routes: " + ", ".join(ROUTES)
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        else:
            message = str(exc.detail)
        return error(exc.status_code, message)

    async def server_error(request: Request, exc: Exception) -> Response:
        logger.exception("error answering %s %s", request.method, request.url.path)
        return error(500, f"internal error: {type(exc).__name__}: {exc}")

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/similar", partial(query, kind="similar"), methods=["GET"]),
        Route("/similar/batch", partial(query, kind="similar_batch"), methods=["POST"]),
        Route("/recommend", partial(query, kind="recommend"), methods=["POST"]),
        Route("/recommend/batch", partial(query, kind="recommend_batch"), methods=["POST"]),
        Route("/reload", reload, methods=["POST"]),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )


ROUTES = (
    "GET /health",
    "GET /similar",
    "POST /similar/batch",
    "POST /recommend",
    "POST /recommend/batch",
    "POST /reload",
)
