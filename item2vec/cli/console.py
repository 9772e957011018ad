"""What the command line prints besides its results' data: status lines of long steps, notes,
the library's warnings as notes, and the tables of ``similar`` / ``recommend``.

Status lines and notes go to stderr, tables to stdout; status lines show only on a terminal
and without ``--quiet``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from collections.abc import Iterator
from typing import Any

from ..flags import cli_message

__all__ = ["STATUS", "Status", "note", "plain", "print_results", "show_warning"]


class Status:
    """Status lines of long steps on stderr (``reading log.csv ... 1.2 s``), shown only on
    a terminal and without ``--quiet``; notes never break a pending line."""

    def __init__(self, quiet: bool = False) -> None:
        self.reset(quiet)

    def reset(self, quiet: bool) -> None:
        """Show lines from now on unless ``quiet`` or stderr is not a terminal."""
        self.on = not quiet and sys.stderr.isatty()
        self._pending = ""

    @contextlib.contextmanager
    def step(self, text: str) -> Iterator[None]:
        if not self.on:
            yield
            return
        print(f"{text} ...", end="", file=sys.stderr, flush=True)
        self._pending, t0 = text, time.perf_counter()
        try:
            yield
        except BaseException:
            self.end_line()
            raise
        took = f"{time.perf_counter() - t0:.1f} s"
        if self._pending:
            print(f" {took}", file=sys.stderr, flush=True)
        else:
            print(f"{text}: done in {took}", file=sys.stderr, flush=True)
        self._pending = ""

    def end_line(self) -> None:
        if self._pending:
            print(file=sys.stderr, flush=True)
            self._pending = ""


STATUS = Status(quiet=True)
"""The running command's status lines (:func:`item2vec.cli.main.main` sets it up); notes end its
pending line."""


def note(text: str) -> None:
    """One line on stderr: ``item2vec: note: ...``, in the flags of the command line."""
    STATUS.end_line()
    print(f"item2vec: note: {cli_message(text)}", file=sys.stderr, flush=True)


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """The library's warnings as notes (no source line); others as Python shows them."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the package
    if issubclass(category, UserWarning) and os.path.abspath(filename).startswith(here):
        note(str(message))
    else:
        STATUS.end_line()
        _python_showwarning(message, category, filename, lineno, file, line)


_python_showwarning = warnings.showwarning


def plain(x):
    return x.item() if hasattr(x, "item") else x


def print_results(
    title: str, queries, ids, scores, as_json: bool, descriptions=None, query_ids=None
) -> None:
    """One table per query: a title (with the query item's description), a header line,
    then rank, item, score (and description). ``query_ids``: the model's id of each query
    (``None`` for a query that is not one item)."""
    import json

    query_ids = query_ids if query_ids is not None else [None] * len(queries)

    def describe(item) -> str:
        return "" if descriptions is None or item is None else descriptions.get(plain(item), "")

    if as_json:
        out = []
        for q, qid, r, c in zip(queries, query_ids, ids, scores, strict=True):
            rows = []
            for i, s in zip(r, c, strict=True):
                row = {"item": plain(i), "score": float(s)}
                if descriptions is not None:
                    row["description"] = describe(i)
                rows.append(row)
            entry: dict[str, Any] = {"query": q, "results": rows}
            if descriptions is not None and qid is not None:
                entry["description"] = describe(qid)
            out.append(entry)
        print(json.dumps(out, indent=2))
        return
    for n, (q, qid, r, c) in enumerate(zip(queries, query_ids, ids, scores, strict=True)):
        if n:
            print()
        text = describe(qid)
        print(f"{title} {q}" + (f"  ({text})" if text else ""))
        width = max([4, *(len(str(i)) for i in r)])
        head = f"  {'rank':>4}  {'item':<{width}}  {'score':>8}"
        print(head + ("  description" if descriptions is not None else ""))
        for rank, (i, sc) in enumerate(zip(r, c), 1):
            line = f"  {rank:>4}  {str(i):<{width}}  {sc:8.4f}"
            print(line + (f"  {describe(i)}" if descriptions is not None else ""))
        if not len(r):
            print("  (no results)")
