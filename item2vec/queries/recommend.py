"""The query engine behind ``Item2Vec.similar``, ``recommend`` and ``recommend_batch``.

:class:`QueryEngine` answers on vocabulary rows; the estimator maps ids to rows and back.

**Scores** (:mod:`item2vec.queries.scoring`, the definitions ``evaluate`` and ``tune`` rank
by, through :func:`~item2vec.queries.scoring.history_scores`): a history ``h`` (oldest first)
with recency weights ``w`` (:func:`~item2vec.queries.scoring.recency_weights`) is ranked by

- ``cosine``: ``sum_j w_j cos(E[h_j], E[t])``; ``logit``: ``sum_j w_j E[h_j] . E[t] + b[t]``:
  the score of one query vector, computed exactly on candidates: an index search of that
  vector and each history item's own top items by the same score (an approximate index
  searched with the blended vector alone misses some of the answers: at 1M items logit
  agreed with the exhaustive ranking on 0.906 of the top 10);
- ``log_prob`` / ``blend``: the mixture of the items' next-item distributions, computed
  exactly (:func:`~item2vec.queries.candidates.mixture_scores`) on candidates: each item's
  strongest count neighbours (``blend``), its own top items by the model, and an index search
  of the history's query vector ``[sum_j w_j E[h_j], 1]`` over ``[E, b + log prior]``
  (:mod:`item2vec.queries.candidates`). Each item's softmax normaliser is computed once and
  cached (:class:`~item2vec.queries.normaliser.Normalisers`).

A query's cost is therefore the index search plus ``O(len(history) x candidates x dim)``,
whatever the catalogue's size. Every item is a candidate in catalogues of up to
:data:`ALL_ITEMS` items, and every allowed item when ``allowed`` holds up to
:data:`ALLOWED_EXACT`: those answers are the exhaustive ones. ``exact=True`` scores the whole
catalogue (``history_scores``, in chunks of histories): the check of the candidate path.

**Filters**: ``allowed``, ``exclude`` and a history's own items (``exclude_context``) as in
:mod:`item2vec.queries.filters`; ``k`` is clamped once, with one warning. A history whose
candidates leave fewer than ``k`` eligible rows is answered exhaustively.

**Memory**: histories are scored in chunks of :meth:`QueryEngine.chunk_size` (at most
:data:`CHUNK_FLOATS` candidate floats gathered at once); no ``(histories x n_items)`` array
exists outside ``exact=True`` (whose chunks hold about 2**24 scores).

**Indexes** (:class:`~item2vec.queries.index.ItemIndex`): ``"cosine"`` over ``E`` (``similar``,
``score="cosine"``), ``"logit"`` over ``[E, b]``, ``"log_prob"`` over ``[E, b + log prior]``
(``log_prob`` and ``blend`` above :data:`ALL_ITEMS` items). Each is built when a query first
needs it, once (a lock; concurrent queries wait for the one build), and an approximate one is
stored with the model (:meth:`QueryEngine.index_arrays`, :meth:`QueryEngine.adopt`).
"""

from __future__ import annotations

import hashlib
import json
import threading
import warnings
from typing import Any

import faiss
import numpy as np

from ..exceptions import ModelFormatError
from .candidates import count_tops, merge, mixture_scores, row_sums
from .filters import Eligible, clamp_k, eligible_rows
from .index import AUTO_THRESHOLD, ItemIndex
from .normaliser import EXACT_ITEMS, Normalisers, RowCache
from .scoring import MIXTURES, history_scores, recency_weights, score_biases, top_k

__all__ = [
    "ALLOWED_EXACT",
    "ALL_ITEMS",
    "CANDIDATE_NPROBE",
    "CHUNK_FLOATS",
    "COUNT_CANDIDATES",
    "INDEX_CANDIDATES",
    "ITEM_CANDIDATES",
    "QueryEngine",
    "pad_histories",
]

INDEX_CANDIDATES = 64
"""Rows an index search of the history's query vector adds to the candidates."""
ITEM_CANDIDATES = 32
"""Each history item's own top items added to the candidates: by ``log_prob`` for the
mixtures, by the score itself for ``logit`` and ``cosine``."""
COUNT_CANDIDATES = 128
"""Each history item's strongest count neighbours added to the candidates (``blend``)."""
ALL_ITEMS = 2_048
"""Catalogues up to this size: every item is a candidate (the exhaustive answer)."""
ALLOWED_EXACT = 4_096
"""``allowed`` sets up to this size are scored whole (the exhaustive answer)."""
CHUNK_FLOATS = 1 << 23
"""Candidate vector floats gathered per chunk of histories (32 MB)."""
CACHE_ITEMS = 65_536
"""Items whose candidate lists are cached (:class:`~item2vec.queries.normaliser.RowCache`)."""
INDEX_OF = {"cosine": "cosine", "logit": "logit", "log_prob": "log_prob", "blend": "log_prob"}
CANDIDATE_NPROBE = 16
"""IVF lists the ``log_prob`` index probes: it gathers the candidates of ``log_prob`` and
``blend``, which are then scored exactly (the ``cosine`` and ``logit`` indexes, which
``similar`` also answers from, keep :class:`ItemIndex`'s default, ``nlist // 64``). At 1M
items 16 of 4,000 lists found every one of a history item's top 32 rows (recall 1.000, 300
items), at about 4x the rate of 62."""


def pad_histories(histories: list[np.ndarray]) -> np.ndarray:
    """Histories (each rows oldest first) as int64 ``(m, N)`` padded with -1 on the left."""
    width = max(len(h) for h in histories)
    out = np.full((len(histories), width), -1, np.int64)
    for i, h in enumerate(histories):
        out[i, width - len(h) :] = h
    return out


class QueryEngine:
    """``similar`` and ``recommend`` over the rows of fitted tables; see the module docstring.

    Parameters
    ----------
    vectors : float32 (n, dim); biases, log_prior : float32 (n,)
    kind : the :class:`ItemIndex` kind of the indexes (the estimator's ``index``)
    known : optional bool (n,): the rows that may be returned; the others (items of the
        vocabulary never trained on, as in a model fitted on a split) never are, as
        ``evaluate`` leaves them out (:func:`~item2vec.queries.scoring.vector_recommender`)
    all_items, allowed_exact, exact_items : default (None) :data:`ALL_ITEMS`,
        :data:`ALLOWED_EXACT`, :data:`~item2vec.queries.normaliser.EXACT_ITEMS`, read when
        the engine is made (tests lower them to reach the candidate path on small data)
    """

    def __init__(
        self,
        vectors: np.ndarray,
        biases: np.ndarray,
        log_prior: np.ndarray,
        *,
        kind: str = "auto",
        known: np.ndarray | None = None,
        all_items: int | None = None,
        allowed_exact: int | None = None,
        exact_items: int | None = None,
    ) -> None:
        self.vectors, self.n, self.kind = vectors, len(vectors), kind
        self._unknown = None if known is None or known.all() else np.flatnonzero(~known)
        self.all_items = ALL_ITEMS if all_items is None else all_items
        self.allowed_exact = ALLOWED_EXACT if allowed_exact is None else allowed_exact
        exact_items = EXACT_ITEMS if exact_items is None else exact_items
        self.terms = {s: score_biases(biases, log_prior, s) for s in ("logit", "log_prob")}
        self._b = {s: t.astype(np.float64) for s, t in self.terms.items()}
        self._indexes: dict[str, ItemIndex] = {}
        self._lock = threading.Lock()
        self._norms: np.ndarray | None = None
        self._tops: dict[str, RowCache] = {}
        self.item_tops = self._item_tops("log_prob")
        self.normalisers = Normalisers(
            vectors, self.terms["log_prob"], self.item_tops.get, exact_items=exact_items
        )
        self._counts: tuple[Any, RowCache, np.ndarray] | None = None

    # ------------------------------------------------------------------ indexes
    def index(self, name: str) -> ItemIndex:
        """The index ``name`` (``"cosine"``, ``"logit"``, ``"log_prob"``), built once."""
        found = self._indexes.get(name)
        if found is None:
            with self._lock:  # one build; others wait for it, then read the reference
                found = self._indexes.get(name)
                if found is None:
                    knobs = {"nprobe": CANDIDATE_NPROBE} if name == "log_prob" else {}
                    found = ItemIndex(self._matrix(name), metric=_metric(name), kind=self.kind,
                                      **knobs)  # fmt: skip
                    self._indexes[name] = found
        return found

    @property
    def built(self) -> list[str]:
        """Names of the indexes built or loaded so far."""
        return sorted(self._indexes)

    def needed_index(self, score: str) -> str | None:
        """The index a query with ``score`` searches (None: it searches none)."""
        if score in MIXTURES and self.n <= self.all_items:
            return None
        return INDEX_OF[score]

    def _matrix(self, name: str) -> np.ndarray:
        if name == "cosine":
            return self.vectors
        return np.hstack([self.vectors, self.terms[name][:, None]])

    def _fingerprint(self, name: str) -> str:
        h = hashlib.sha256(memoryview(np.ascontiguousarray(self.vectors)))
        if name != "cosine":
            h.update(memoryview(np.ascontiguousarray(self.terms[name], np.float32)))
        return h.hexdigest()

    def index_arrays(self, score: str) -> dict[str, np.ndarray]:
        """What a model directory stores: the indexes of ``similar`` and of ``recommend``
        with ``score`` (built now if they are not yet: a served model answers both, and a
        1M-item IVF index takes ~30 s to build) and any other built one, each as
        ``index_<name>`` (serialised FAISS bytes) and ``index_<name>_meta`` (JSON as
        bytes). Exact indexes are not stored: they are a copy of the vectors and take no
        build."""
        exact = self.kind == "exact" or (self.kind == "auto" and self.n < AUTO_THRESHOLD)
        for needed in ("cosine", self.needed_index(score)):
            if needed is not None and not exact:
                self.index(needed)
        out = {}
        for name, ix in sorted(self._indexes.items()):
            if ix.kind == "exact":
                continue
            data, params = ix.to_array()
            meta = {"params": params, "fingerprint": self._fingerprint(name),
                    "faiss_version": faiss.__version__}  # fmt: skip
            out[f"index_{name}"] = data
            out[f"index_{name}_meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
        return out

    def adopt(self, extras: dict[str, np.ndarray], where: str) -> None:
        """Take the indexes of :meth:`index_arrays` from a loaded model's ``extras``; one
        that does not match the vectors (or this kind) is dropped with a warning, to be
        rebuilt on first use. A corrupt one raises :class:`ModelFormatError`."""
        for name in ("cosine", "logit", "log_prob"):
            if f"index_{name}" not in extras:
                continue
            what = f"{where}: index {name!r}"
            try:
                meta = json.loads(bytes(extras[f"index_{name}_meta"]).decode())
                params, fingerprint = meta["params"], meta["fingerprint"]
            except (KeyError, ValueError, TypeError) as e:
                raise ModelFormatError(f"{what} has no valid metadata: {e}") from None
            if fingerprint != self._fingerprint(name) or params.get("kind") == "exact":
                warnings.warn(f"{what} does not match the vectors; rebuilt on first use",
                              UserWarning, stacklevel=3)  # fmt: skip
                continue
            self._indexes[name] = ItemIndex.from_array(extras[f"index_{name}"], params, what)

    # ------------------------------------------------------------------ similar
    def similar(
        self, rows: np.ndarray, k: int, exclude: np.ndarray | None, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Nearest rows by cosine of each of ``rows``, itself and ``exclude`` left out."""
        exclude = self._excluded(exclude)
        per_query = rows[:, None]
        if exclude is not None:
            per_query = np.hstack([per_query, np.broadcast_to(exclude, (len(rows), len(exclude)))])
        return self.index("cosine").search(
            self.vectors[rows], k, exclude=per_query, allowed=allowed
        )

    # ------------------------------------------------------------------ recommend
    def chunk_size(self, width: int, score: str, n_allowed: int | None = None) -> int:
        """Histories scored together: at most :data:`CHUNK_FLOATS` candidate floats."""
        return max(1, CHUNK_FLOATS // (self._max_candidates(width, score, n_allowed) * (
            self.vectors.shape[1] + 2 * width)))  # fmt: skip

    def _max_candidates(self, width: int, score: str, n_allowed: int | None) -> int:
        if n_allowed is not None and n_allowed <= self.allowed_exact:
            return max(1, n_allowed)
        if self.n <= self.all_items:
            return self.n
        per_item = ITEM_CANDIDATES + (COUNT_CANDIDATES if score == "blend" else 0)
        return INDEX_CANDIDATES + width * per_item

    def recommend(
        self,
        histories: list[np.ndarray],
        k: int,
        score: str,
        *,
        counts: Any = None,
        exclude_context: bool = True,
        exclude: np.ndarray | None = None,
        allowed: np.ndarray | None = None,
        exact: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` rows after each history: int64 and float32 ``(m, k)``."""
        hist = pad_histories(histories)
        exclude = self._excluded(exclude)
        el = eligible_rows(self.n, allowed, exclude, hist if exclude_context else None)
        k = clamp_k(k, el.limit, stacklevel=4)
        rows, best = np.empty((len(hist), k), np.int64), np.empty((len(hist), k), np.float32)
        if k == 0:
            return rows, best
        if score == "blend":
            self._use_counts(counts)
        n_allowed = None if el.rows is None else len(el.rows)
        step = len(hist) if exact else self.chunk_size(hist.shape[1], score, n_allowed)
        for a in range(0, len(hist), step):
            h = hist[a : a + step]
            if exact:
                rows[a : a + step], best[a : a + step] = self._exhaustive(h, k, score, el)
            else:
                rows[a : a + step], best[a : a + step] = self._chunk(h, k, score, el)
        return rows, best

    def _excluded(self, exclude: np.ndarray | None) -> np.ndarray | None:
        """``exclude`` and the rows that are not ``known``."""
        if self._unknown is None:
            return exclude
        return self._unknown if exclude is None else np.union1d(exclude, self._unknown)

    def _use_counts(self, counts: Any) -> None:
        """The neighbour counts of ``blend``, their cached strongest neighbours and sums."""
        if self._counts is None or self._counts[0] is not counts:
            tops = RowCache(
                self.n,
                COUNT_CANDIDATES,
                lambda r: count_tops(counts, r, COUNT_CANDIDATES),
                CACHE_ITEMS,
            )
            self._counts = (counts, tops, row_sums(counts))  # fmt: skip

    def _chunk(self, hist: np.ndarray, k: int, score: str, el: Eligible) -> tuple[np.ndarray, ...]:
        """One chunk of histories on their candidates; exhaustive where those fall short."""
        cand = self._candidates(hist, k, score, el)
        scores = self._scores(hist, cand, score)
        bad = ~el.mask[np.maximum(cand, 0)] | (cand < 0)
        if el.per_query is not None:
            bad |= (cand[:, :, None] == hist[:, None, :]).any(axis=2)
        scores[bad] = -np.inf
        at, best = top_k(scores, k)
        rows = np.take_along_axis(cand, np.maximum(at, 0).astype(np.int64), axis=1)
        short = (at < 0).any(axis=1)
        if short.any():
            rows[short], best[short] = self._exhaustive(hist[short], k, score, el)
        return rows, best

    def _candidates(self, hist: np.ndarray, k: int, score: str, el: Eligible) -> np.ndarray:
        m = len(hist)
        if el.rows is not None and len(el.rows) <= self.allowed_exact:
            return np.broadcast_to(el.rows, (m, len(el.rows)))
        if self.n <= self.all_items:
            return np.broadcast_to(np.arange(self.n), (m, self.n))
        name, valid = INDEX_OF[score], hist >= 0
        q = self._query(hist, score)
        if name != "cosine":
            q = np.hstack([q, np.ones((m, 1), np.float32)])
        per_query = None
        if el.per_query is not None or not el.mask.all():
            shared = np.flatnonzero(~el.mask) if el.rows is None else np.empty(0, np.int64)
            per_query = merge(hist if el.per_query is not None else hist[:, :0],
                              np.broadcast_to(shared, (m, len(shared))))  # fmt: skip
        fetch = min(max(k, INDEX_CANDIDATES), el.limit)
        found = self.index(name).search(q, fetch, exclude=per_query, allowed=el.rows)[0]
        flat = hist[valid]
        parts = [found, _spread(self._item_tops(name).get(flat), valid)]
        if score == "blend" and self._counts is not None:
            parts.append(_spread(self._counts[1].get(flat), valid))
        return merge(*parts)

    def _query(self, hist: np.ndarray, score: str) -> np.ndarray:
        """The history's query vector: ``sum_j w_j E[h_j]`` (unit rows for cosine)."""
        v = self.vectors[np.maximum(hist, 0)]
        if score == "cosine":
            v = v / self._unit_norms()[np.maximum(hist, 0)][:, :, None]
        return np.einsum("mn,mnd->md", recency_weights(hist), v).astype(np.float32)

    def _unit_norms(self) -> np.ndarray:
        if self._norms is None:
            norms = np.linalg.norm(self.vectors, axis=1)
            self._norms = np.maximum(norms, np.finfo(np.float32).tiny)
        return self._norms

    def _scores(self, hist: np.ndarray, cand: np.ndarray, score: str) -> np.ndarray:
        """Exact scores of the candidates ``(m, C)``, float64 (any value at ``-1``)."""
        c = np.maximum(cand, 0)
        if score in MIXTURES:
            z = np.zeros(hist.shape)
            z[hist >= 0] = self.normalisers.get(hist[hist >= 0])
            counts = None if score != "blend" else self._counts
            return mixture_scores(
                hist, recency_weights(hist), cand, self.vectors, self._b["log_prob"], z,
                counts=None if counts is None else counts[0],
                sums=None if counts is None else counts[2],
            )  # fmt: skip
        q = self._query(hist, score)
        s = np.einsum("md,mcd->mc", q, self.vectors[c]).astype(np.float64)
        if score == "cosine":
            return s / self._unit_norms()[c]
        return s + self._b["logit"][c]

    def _exhaustive(
        self, hist: np.ndarray, k: int, score: str, el: Eligible
    ) -> tuple[np.ndarray, ...]:
        """The whole catalogue scored by :func:`history_scores` (what ``evaluate`` ranks by)."""
        n, width = self.n, hist.shape[1]
        vectors = self.vectors
        if score == "cosine":
            vectors = (self.vectors / self._unit_norms()[:, None]).astype(np.float32)
        biases = None if score == "cosine" else self.terms[INDEX_OF[score]]
        counts = self._counts[0] if score == "blend" and self._counts is not None else None
        rows, best = np.empty((len(hist), k), np.int64), np.empty((len(hist), k), np.float32)
        step = max(1, 2**24 // (n * width))
        for a in range(0, len(hist), step):
            h = hist[a : a + step]
            s = history_scores(h, vectors, biases, known=np.ones(n, bool), counts=counts,
                               mixture=score in MIXTURES)  # fmt: skip
            s[:, ~el.mask] = -np.inf
            if el.per_query is not None:
                r, c = np.nonzero(h >= 0)
                s[r, h[r, c]] = -np.inf
            found, best[a : a + step] = top_k(s, k)
            rows[a : a + step] = found
        return rows, best

    def _item_tops(self, name: str) -> RowCache:
        """The cache of each row's own top items by the index ``name``'s score."""
        tops = self._tops.get(name)
        if tops is None:
            with self._lock:  # one cache per score, as one index
                tops = self._tops.get(name)
                if tops is None:
                    tops = RowCache(self.n, ITEM_CANDIDATES,
                                    lambda r: self._model_tops(r, name), CACHE_ITEMS)  # fmt: skip
                    self._tops[name] = tops
        return tops

    def _model_tops(self, rows: np.ndarray, name: str) -> np.ndarray:
        """Each row's top items by the score of the index ``name`` (an index search):
        ``E[r] . E[t] + b[t] (+ log prior[t])``, or the cosine of ``E[r]`` and ``E[t]``."""
        q = self.vectors[rows]
        if name != "cosine":
            q = np.hstack([q, np.ones((len(rows), 1), np.float32)])
        return self.index(name).search(q, min(ITEM_CANDIDATES, self.n))[0]


def _spread(per_item: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Per-item lists ``(valid.sum(), w)`` laid out per history: ``(m, N * w)``."""
    out = np.full((*valid.shape, per_item.shape[1]), -1, np.int64)
    out[valid] = per_item
    return out.reshape(len(valid), -1)


def _metric(name: str) -> str:
    return "cosine" if name == "cosine" else "ip"
