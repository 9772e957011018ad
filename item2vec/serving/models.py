"""The model in service and its hot reload.

:func:`load_served` reads a model directory with :meth:`Item2Vec.load` (which verifies every
file against the sizes and sha256 of ``meta.json``), then *warms* it: one query of each
kind it will be asked (``similar``, ``recommend`` with the default score and with every
score already asked of the model in service), so that the FAISS indexes and anything else
the estimator builds on first use are built before the model answers a request, never by
a request while it is being built. :class:`ModelHolder` keeps the served model behind one
reference: a request reads ``holder.current`` once and uses that model to the end, and
:meth:`ModelHolder.reload` assigns the reference only after the new model is ready, so a
request in flight finishes on the model it started with. A model that fails to load or to
answer is refused: the reference is left alone and the reason is kept for ``/health``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..estimator import Item2Vec

logger = logging.getLogger("item2vec.serving")

MANIFEST = "meta.json"
"""The file a model directory records its other files in; written last by a save."""


class ReloadRefused(Exception):
    """A model that could not be put in service; the message says why."""


@dataclass(frozen=True)
class Served:
    """A loaded, warmed model and what ``/health`` tells about it."""

    model: Item2Vec
    model_dir: str
    model_id: str
    """``<first 12 hex digits of the sha256 of meta.json>-<load time, UTC>``."""
    manifest_sha256: str
    signature: tuple[int, int, int] | None
    """(mtime_ns, size, inode) of ``meta.json`` when it was read: what ``--watch`` compares."""
    loaded_at: float
    load_seconds: float
    n_items: int
    dim: int
    descriptions: dict[Any, str] | None

    def health(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "model_dir": self.model_dir,
            "manifest_sha256": self.manifest_sha256,
            "items": self.n_items,
            "dim": self.dim,
            "loaded_at": _iso(self.loaded_at),
            "load_seconds": round(self.load_seconds, 4),
            "default_score": self.model.default_score_,
            "descriptions": self.descriptions is not None,
        }

    def describe(self, ids: list[Any]) -> list[str | None]:
        """The descriptions of ``ids`` (``None`` for an item without one)."""
        get = self.descriptions.get if self.descriptions else (lambda _: None)
        return [get(i) for i in ids]


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds")


def manifest_signature(model_dir: str | os.PathLike) -> tuple[int, int, int] | None:
    """(mtime_ns, size, inode) of ``model_dir/meta.json``, None while it is missing (as in
    the instant of a save's swap)."""
    try:
        st = os.stat(Path(model_dir) / MANIFEST)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _manifest(model_dir: str | os.PathLike) -> tuple[bytes, tuple[int, int, int] | None]:
    path = Path(model_dir) / MANIFEST
    signature = manifest_signature(model_dir)
    try:
        return path.read_bytes(), signature
    except OSError:
        return b"", signature  # Item2Vec.load says what is wrong


def _first_item(model: Item2Vec) -> Any:
    first = model.vocabulary_.ids[0]
    return first.item() if isinstance(first, np.generic) else first


def warm(model: Item2Vec, scores: set[str] | frozenset[str] = frozenset()) -> None:
    """Ask ``model`` one query of each kind it will serve (building its indexes) and check
    the answers; raises on a model that cannot answer."""
    item = _first_item(model)
    k = 1 if len(model.vocabulary_) > 1 else 0
    if k == 0:
        raise ReloadRefused("the model has a single item: nothing to answer")
    for query in (
        lambda: model.similar([item], k),
        *(
            (lambda s=s: model.recommend_batch([[item]], k, score=s))
            for s in sorted({model.default_score_, *scores})
        ),
    ):
        ids, values = query()
        if ids.shape != (1, 1) or not all(math.isfinite(v) for v in values.ravel().tolist()):
            raise ReloadRefused(f"a test query answered {ids.tolist()} {values.tolist()}")


def load_served(
    model_dir: str | os.PathLike, scores: set[str] | frozenset[str] = frozenset()
) -> Served:
    """Load, verify and warm the model of ``model_dir`` (see the module docstring).

    ``meta.json`` is read before and after the load: a save that replaced the directory
    in between would leave the id naming another model than the one loaded, so the load
    is tried again (three times at most).
    """
    start = time.perf_counter()
    for _ in range(3):
        before, signature = _manifest(model_dir)
        model = Item2Vec.load(model_dir)
        after, _ = _manifest(model_dir)
        if before == after:
            break
    else:
        raise ReloadRefused(f"{model_dir} kept changing while it was loaded; try again")
    warm(model, scores)
    loaded_at = time.time()
    sha = hashlib.sha256(before).hexdigest()
    stamp = datetime.fromtimestamp(loaded_at, timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    descriptions = model.descriptions if isinstance(model.descriptions, dict) else None
    return Served(
        model=model,
        model_dir=os.fspath(model_dir),
        model_id=f"{sha[:12]}-{stamp}",
        manifest_sha256=sha,
        signature=signature,
        loaded_at=loaded_at,
        load_seconds=time.perf_counter() - start,
        n_items=len(model.vocabulary_),
        dim=int(model.item_vectors_.shape[1]),
        descriptions=descriptions or None,
    )


class ModelHolder:
    """The model in service (:attr:`current`) and the reloads that replace it.

    Reloads are serialised by a lock; queries never take it. ``scores`` collects the score
    names asked of the served models so that a reload warms the same ones.
    """

    def __init__(self, served: Served) -> None:
        self.current = served
        self.model_dir = served.model_dir
        self.scores: set[str] = set()
        self.reloads = 0
        self.refused = 0
        self.last_error: str | None = None
        self._failed: tuple[int, int, int] | None = None
        self._lock = threading.Lock()

    def note_score(self, score: str | None) -> None:
        """Remember a score name a request used (only those the model accepted)."""
        if score is not None and score not in self.scores:
            self.scores = {*self.scores, score}  # replaced, not mutated: a reload iterates it

    def reload(self) -> tuple[Served, Served]:
        """Load ``model_dir`` beside the model in service and swap them; returns (old, new).

        Raises :class:`ReloadRefused` (the old model keeps serving) when the new one fails
        to load, verify or answer.
        """
        with self._lock:
            old = self.current
            signature = manifest_signature(self.model_dir)
            try:
                new = load_served(self.model_dir, frozenset(self.scores))
            except Exception as e:  # any failure: the model in service stays
                self.refused += 1
                self._failed = signature
                self.last_error = f"{type(e).__name__}: {e}"
                logger.warning("reload refused, still serving %s: %s", old.model_id, e)
                raise ReloadRefused(str(e)) from e
            self.current = new  # the swap: one reference
            self.reloads += 1
            self.last_error = None
            self._failed = None
            logger.info(
                "reloaded %s in %.2f s (%d items), was %s",
                new.model_id,
                new.load_seconds,
                new.n_items,
                old.model_id,
            )
            return old, new

    def changed(self) -> bool:
        """True when ``meta.json`` differs from the served model's and from the last refused
        one's (a refused model is tried again only once it changes)."""
        signature = manifest_signature(self.model_dir)
        return signature is not None and signature not in (self.current.signature, self._failed)

    def status(self) -> dict[str, Any]:
        return {"reloads": self.reloads, "refused": self.refused, "last_error": self.last_error}
