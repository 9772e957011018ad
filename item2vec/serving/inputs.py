"""Checks of request parameters and bodies: each failure is a :class:`RequestError` whose
message names the parameter, repeats the value received and states the limit.

The checks are about the shape of a request (types, sizes, the limits of ``serve``); whether
an item is known and a score name valid is the estimator's to say (``UnknownItemError``,
``ParameterError``), and the routes turn those into 404 and 400.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .options import Limits

_INT = re.compile(r"^\s*[+-]?\d+\s*$")


class RequestError(Exception):
    """A request the server will not answer: HTTP ``status`` and a message for ``error``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Query:
    """One checked query: the estimator's arguments.

    ``items``: the query item ids (``/similar``: one per query) or the histories
    (``/recommend``: one list per query, oldest first). ``options``: keyword arguments of
    the estimator call (``exclude``, ``allowed``, and for ``/recommend`` ``score`` and
    ``exclude_context``), only those given.
    """

    items: list[Any]
    k: int
    options: dict[str, Any] = field(default_factory=dict)


def _show(value: Any) -> str:
    """``value`` as the message repeats it: JSON, cut at 60 characters."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_body(body: bytes) -> dict[str, Any]:
    """The JSON object of a request body; 400 naming what is wrong."""
    if not body.strip():
        raise RequestError(400, "empty body: expected a JSON object")
    try:
        obj = json.loads(body)
    except UnicodeDecodeError as e:
        raise RequestError(400, f"malformed JSON body: not UTF-8 ({e.reason})") from None
    except ValueError as e:
        raise RequestError(400, f"malformed JSON body: {e}") from None
    if not isinstance(obj, dict):
        raise RequestError(400, f"body must be a JSON object, got a {type(obj).__name__}")
    return obj


def check_fields(obj: Mapping[str, Any], allowed: tuple[str, ...], where: str = "body") -> None:
    """400 naming the first field of ``obj`` not in ``allowed`` (a typo would else be
    ignored)."""
    for name in obj:
        if name not in allowed:
            raise RequestError(
                400, f"unknown field {name!r} in the {where}; expected: {', '.join(allowed)}"
            )


def parse_k(value: Any, limits: Limits, *, text: bool = False) -> int:
    """``k`` from a query string (``text``: digits) or a JSON body (an integer, not
    ``"3"``, ``3.0`` or ``true``): an integer in ``[1, limits.max_k]``."""
    bound = f"an integer in [1, {limits.max_k}]"
    if value is None:
        raise RequestError(400, f"k is required: the number of results, {bound}")
    if text and isinstance(value, str):
        if not _INT.match(value):
            raise RequestError(400, f"k must be {bound}, got {_show(value)}")
        value = int(value)
    elif isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(400, f"k must be {bound}, got {_show(value)}")
    if value < 1:
        raise RequestError(400, f"k must be {bound}, got {value}")
    if value > limits.max_k:
        raise RequestError(400, f"k={value} is above the limit of {limits.max_k} (--max-k)")
    return value


def parse_item(value: Any, where: str) -> Any:
    """One item id: a JSON string or integer (``true`` would pass for 1)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RequestError(
            400, f"{where} must be an item id (a string or an integer), got {_show(value)}"
        )
    return value


def parse_items(value: Any, where: str, limit: int, option: str) -> list[Any]:
    """A non-empty list of item ids of at most ``limit`` (the option ``option``)."""
    if not isinstance(value, list):
        raise RequestError(
            400, f"{where} must be a list of item ids, got a {type(value).__name__}: "
            f"{_show(value)}"
        )  # fmt: skip
    if not value:
        raise RequestError(400, f"{where} is empty: give at least one item id")
    if len(value) > limit:
        raise RequestError(
            400, f"{where} has {len(value)} items, above the limit of {limit} ({option})"
        )
    return [parse_item(v, f"{where}[{i}]") for i, v in enumerate(value)]


def parse_filters(obj: Mapping[str, Any], limits: Limits) -> dict[str, Any]:
    """``exclude`` / ``allowed`` when given (``exclude`` may be empty, ``allowed`` may not:
    nothing would be eligible)."""
    options: dict[str, Any] = {}
    for name in ("exclude", "allowed"):
        value = obj.get(name)
        if value is None:
            continue
        if name == "exclude" and value == []:
            continue
        options[name] = parse_items(value, name, limits.max_filter, "--max-filter")
    return options


def parse_similar_params(params: Mapping[str, str], counts: Mapping[str, int], limits: Limits):
    """``GET /similar?item=ID&k=10``: one query. ``counts`` says how often each parameter
    appears (a repeated one is ambiguous)."""
    check_fields(params, ("item", "k"), "query string")
    for name, n in counts.items():
        if n > 1:
            raise RequestError(400, f"{name} is given {n} times in the query string; give it once")
    item = params.get("item")
    if item is None:
        raise RequestError(400, "item is required: /similar?item=ID&k=10")
    return Query([item], parse_k(params.get("k"), limits, text=True))


def parse_similar_batch(obj: Mapping[str, Any], limits: Limits) -> Query:
    """``POST /similar/batch {"items": [...], "k": 10, "exclude"?, "allowed"?}``."""
    check_fields(obj, ("items", "k", "exclude", "allowed"))
    if "items" not in obj:
        raise RequestError(400, "items is required: a list of query item ids")
    items = parse_items(obj["items"], "items", limits.max_batch, "--max-batch")
    return Query(items, parse_k(obj.get("k"), limits), parse_filters(obj, limits))


_RECOMMEND = ("k", "score", "exclude", "allowed", "exclude_context")


def _recommend_options(obj: Mapping[str, Any], limits: Limits) -> dict[str, Any]:
    options = parse_filters(obj, limits)
    score = obj.get("score")
    if score is not None:
        if not isinstance(score, str):
            raise RequestError(400, f"score must be a score name (a string), got {_show(score)}")
        options["score"] = score  # the estimator names the valid ones
    flag = obj.get("exclude_context")
    if flag is not None:
        if not isinstance(flag, bool):
            raise RequestError(400, f"exclude_context must be true or false, got {_show(flag)}")
        options["exclude_context"] = flag
    return options


def parse_history(value: Any, where: str, limits: Limits) -> list[Any]:
    return parse_items(value, where, limits.max_history, "--max-history")


def parse_recommend(obj: Mapping[str, Any], limits: Limits) -> Query:
    """``POST /recommend {"history": [...oldest first...], "k": 10, ...}``: one query."""
    check_fields(obj, ("history", *_RECOMMEND))
    if "history" not in obj:
        raise RequestError(400, "history is required: a list of item ids, oldest first")
    history = parse_history(obj["history"], "history", limits)
    return Query([history], parse_k(obj.get("k"), limits), _recommend_options(obj, limits))


def parse_recommend_batch(obj: Mapping[str, Any], limits: Limits) -> Query:
    """``POST /recommend/batch {"histories": [[...], ...], "k": 10, ...}``."""
    check_fields(obj, ("histories", *_RECOMMEND))
    if "histories" not in obj:
        raise RequestError(400, "histories is required: a list of histories (lists of item ids)")
    value = obj["histories"]
    if not isinstance(value, list):
        raise RequestError(
            400, f"histories must be a list of histories, got a {type(value).__name__}"
        )
    if not value:
        raise RequestError(400, "histories is empty: give at least one history")
    if len(value) > limits.max_batch:
        raise RequestError(
            400, f"histories has {len(value)} histories, above the limit of "
            f"{limits.max_batch} (--max-batch)"
        )  # fmt: skip
    histories = [parse_history(h, f"histories[{i}]", limits) for i, h in enumerate(value)]
    return Query(histories, parse_k(obj.get("k"), limits), _recommend_options(obj, limits))
