"""FAISS index over item vectors: exact or approximate top-k by cosine or inner product.

:class:`ItemIndex` works on **row numbers** ``0..n_items-1`` of the matrix it was built from;
mapping rows to item ids is the caller's job (the estimator does it with its vocabulary).

- ``metric="cosine"`` (similar items): stored vectors and queries are L2-normalised and
  compared by inner product; scores are cosine similarities. Zero vectors stay zero.
- ``metric="ip"`` (next-item candidates): raw inner product. For ``score = q . E[t] + b[t]``
  build on ``[E, b]`` (n, dim + 1) and query with ``[q, 1]``.

Rules every search follows, whatever the kind:

- **No missing results.** FAISS pads with row ``-1`` when an approximate index finds fewer
  than ``k`` eligible rows (short IVF lists, HNSW under a filter). Such a query is answered
  again by a complete search (every stored vector, same filters), so every returned row is
  a real, eligible row; the other queries of the batch keep their approximate answers.
- **k is clamped.** ``k < 1`` raises :class:`ParameterError`; a ``k`` above the number of
  eligible rows (after ``allowed`` and ``exclude``; the smallest over a batch) is lowered to
  it with a ``UserWarning``, so every row of a batch has the same length.
- **Selective filters go exhaustive.** When fewer than :data:`EXACT_FILTER_FRACTION` of the
  rows are eligible, an approximate index would mostly miss: the search is complete.

FAISS runs batch searches and builds on all cores with OpenMP (limit it with
``faiss.omp_set_num_threads(n)``); up to :data:`SMALL_BATCH` queries run on one thread, where
more only cost (six IVF queries at 100k items: 4.5 ms on two shared cores, 1 ms on one).
On shared cores, ``OMP_WAIT_POLICY=PASSIVE`` keeps idle threads from spinning. HNSW builds
on several threads are not bit-reproducible.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from ..arrays import as_matrix, as_row_set, equal_norms, normalise, per_query_rows
from ..checks import check_choice, check_int, check_k
from ..exceptions import ModelFormatError, ParameterError
from .filters import clamp_k

__all__ = [
    "ItemIndex",
    "IndexParams",
    "KINDS",
    "METRICS",
    "AUTO_THRESHOLD",
    "EXACT_FILTER_FRACTION",
]

#: Index kinds (``"auto"`` resolves to ``"exact"`` or ``"ivf"`` at build).
KINDS = ("auto", "exact", "hnsw", "ivf", "ivfpq")
#: Similarities: cosine (normalised inner product) or raw inner product.
METRICS = ("cosine", "ip")
#: ``kind="auto"`` builds exact indexes below this many rows and IVF from it on. Exact
#: needs no build and answers one query in ~2 ms at 100k x 64 on 2 cores; at 1M items IVF
#: built in 32 s against HNSW's 357 s, for recall@10 1.000 against 0.993 and 46x exact's
#: single-query rate against 115x (benchmarks/README.md, "Index"): a model's
#: save builds its index, so the build time is what a user waits for.
AUTO_THRESHOLD = 100_000
#: below this share of eligible rows (``allowed`` / shared ``exclude``) a search is complete.
EXACT_FILTER_FRACTION = 0.05
#: batches of up to this many queries search on one thread.
SMALL_BATCH = 16
FORMAT = "item2vec.ItemIndex"
FORMAT_VERSION = 1


@dataclass
class IndexParams:
    """Knobs of an :class:`ItemIndex`, as resolved at build (saved in the JSON sidecar)."""

    metric: str
    kind: str
    auto_threshold: int
    hnsw_m: int
    ef_construction: int
    ef_search: int
    nlist: int
    nprobe: int
    pq_m: int
    rerank: int
    seed: int
    augmented: bool = False
    """Approximate inner-product kinds store :func:`~item2vec.arrays.equal_norms` rows and
    search ``[q, 0]`` (same inner products, rows of equal norm: what IVF and HNSW assume)."""


class ItemIndex:
    """Top-k search over item vectors by row number; the module docstring states the rules.

    Parameters
    ----------
    vectors : array-like (n, dim)
        Item vectors, finite (copied). For next-item scores: ``[E, b]`` with ``metric="ip"``.
    metric : ``"cosine"`` | ``"ip"``
    kind : ``"auto"`` | ``"exact"`` | ``"hnsw"`` | ``"ivf"`` | ``"ivfpq"``
        ``exact``: ``IndexFlatIP``. ``auto``: exact below ``auto_threshold`` rows, else ivf.
        ``hnsw``: ``IndexHNSWFlat`` (inner product). ``ivf``: ``IndexIVFFlat``.
        ``ivfpq``: ``IndexIVFPQ``, re-ranked against a float copy (``IndexRefineFlat``).
    auto_threshold : int
        Rows from which ``kind="auto"`` builds IVF (default :data:`AUTO_THRESHOLD`).
    hnsw_m, ef_construction, ef_search : int
        HNSW graph degree, build beam and search beam (``ef_search`` can be set after build).
    nlist : int, optional
        IVF lists; default ``4 * sqrt(n)``, at most ``n // 39`` (FAISS's training minimum).
    nprobe : int, optional
        Lists visited per query (settable); default ``max(16, nlist // 64)``; at most nlist.
    pq_m : int, optional
        PQ sub-quantizers (must divide dim); default the largest divisor of dim <= dim / 4.
        Codes have 8 bits (fewer when too few rows to train 256 centroids).
    rerank : int
        ``ivfpq``: ``rerank * k`` PQ candidates are re-scored exactly (settable); ``0`` keeps
        the approximate PQ scores and stores no float copy.
    seed : int
        Seeds the IVF training sample and its k-means.
    """

    def __init__(
        self,
        vectors: Any,
        *,
        metric: str = "cosine",
        kind: str = "auto",
        auto_threshold: int = AUTO_THRESHOLD,
        hnsw_m: int = 32,
        ef_construction: int = 80,
        ef_search: int = 128,
        nlist: int | None = None,
        nprobe: int | None = None,
        pq_m: int | None = None,
        rerank: int = 10,
        seed: int = 0,
    ) -> None:
        check_choice("metric", metric, METRICS)
        check_choice("kind", kind, KINDS)
        knobs = {"auto_threshold": auto_threshold, "hnsw_m": hnsw_m, "ef_search": ef_search,
                 "ef_construction": ef_construction, "rerank": rerank, "seed": seed}  # fmt: skip
        for name, value in knobs.items():
            check_int(name, value, 0 if name in ("rerank", "seed") else 1)
        x, _ = as_matrix(vectors, "vectors")
        if metric == "cosine":
            x = normalise(x)
        n, d = x.shape
        if kind == "auto":
            kind = "exact" if n < auto_threshold else "ivf"
        if nlist is None:
            nlist = max(1, min(round(4 * math.sqrt(n)), n // 39))
        elif check_int("nlist", nlist, 1) > n and kind in ("ivf", "ivfpq"):
            raise ParameterError(f"nlist must be <= the number of vectors ({n}), got {nlist}")
        if pq_m is None:
            pq_m = max(m for m in range(1, max(1, d // 4) + 1) if d % m == 0)
        elif (check_int("pq_m", pq_m, 1) > d or d % pq_m) and kind == "ivfpq":
            raise ParameterError(f"pq_m must divide the vector dim {d}, got {pq_m}")
        nprobe = max(16, nlist // 64) if nprobe is None else check_int("nprobe", nprobe, 1)
        nlist, nprobe = min(nlist, n), min(nprobe, nlist, n)
        augmented = metric == "ip" and kind != "exact"
        self.params = IndexParams(metric, kind, nlist=nlist, nprobe=nprobe, pq_m=pq_m,
                                  augmented=augmented, **knobs)  # fmt: skip
        self._setup(self._build(equal_norms(x) if augmented else x))

    def _build(self, x: np.ndarray) -> faiss.Index:
        p, (n, d) = self.params, x.shape
        if p.kind == "exact":
            index = faiss.IndexFlatIP(d)
        elif p.kind == "hnsw":
            index = faiss.IndexHNSWFlat(d, p.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = p.ef_construction
        else:
            n_train = min(n, max(64 * p.nlist, 10_000))  # a seeded sample of the rows
            sample = np.sort(np.random.default_rng(p.seed).choice(n, n_train, replace=False))
            quantizer = faiss.IndexFlatIP(d)
            if p.kind == "ivf":
                index = faiss.IndexIVFFlat(quantizer, d, p.nlist, faiss.METRIC_INNER_PRODUCT)
            else:  # 8-bit codes unless too few rows to train 256 centroids (39 points each)
                nbits = min(8, max(1, int(math.log2(max(2, n_train // 39)))))
                index = faiss.IndexIVFPQ(
                    quantizer, d, p.nlist, p.pq_m, nbits, faiss.METRIC_INNER_PRODUCT
                )
                index.pq.cp.seed = p.seed
            index.cp.seed = p.seed
            index.own_fields = True
            quantizer.this.disown()  # freed by the IVF index
            if p.kind == "ivfpq" and p.rerank:
                base, index = index, faiss.IndexRefineFlat(index)  # adds a float copy
                index.own_fields = True
                base.this.disown()
            index.train(x[sample])
        index.add(x)
        return index

    def _setup(self, index: faiss.Index) -> None:
        """Handles on the parts: ``_ivf`` (IVF kinds), ``_complete`` (exact flat, or None)."""
        self._index, kind = index, self.params.kind
        if kind == "ivfpq" and self.params.rerank:
            self._ivf = faiss.downcast_index(index.base_index)
            self._complete = faiss.downcast_index(index.refine_index)
            n, d = self._complete.ntotal, self._complete.d  # (n, d) view of its floats:
            self._floats = faiss.rev_swig_ptr(self._complete.get_xb(), n * d).reshape(n, d)
        elif kind in ("ivf", "ivfpq"):
            self._ivf, self._complete = faiss.downcast_index(index), None  # all lists instead
        elif kind == "hnsw":
            self._complete = faiss.downcast_index(index.storage)  # IndexFlat, inner product
        else:
            self._complete = index

    @property
    def kind(self) -> str:
        """The built kind (``"auto"`` resolved)."""
        return self.params.kind

    @property
    def metric(self) -> str:
        return self.params.metric

    @property
    def n_items(self) -> int:
        """Number of stored rows."""
        return int(self._index.ntotal)

    @property
    def dim(self) -> int:
        """Width of the vectors and queries (the stored rows hold one more when
        ``params.augmented``)."""
        return int(self._index.d) - int(self.params.augmented)

    @property
    def ef_search(self) -> int:
        """HNSW search beam (``kind="hnsw"``): larger is slower and finds more."""
        return self.params.ef_search

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        self.params.ef_search = check_int("ef_search", value, 1)

    @property
    def nprobe(self) -> int:
        """IVF lists visited per query (``kind="ivf"|"ivfpq"``), 1..nlist."""
        return self.params.nprobe

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        if check_int("nprobe", value, 1) > self.params.nlist:
            raise ParameterError(f"nprobe must be <= nlist ({self.params.nlist}), got {value}")
        self.params.nprobe = int(value)

    @property
    def rerank(self) -> int:
        """``ivfpq``: PQ candidates per result re-scored exactly (0: none, fixed at build)."""
        return self.params.rerank

    @rerank.setter
    def rerank(self, value: int) -> None:
        if self.kind == "ivfpq" and not self.params.rerank:
            raise ParameterError("rerank: this ivfpq index was built with rerank=0; rebuild it")
        self.params.rerank = check_int("rerank", value, 1)

    def __repr__(self) -> str:
        return (
            f"ItemIndex(n_items={self.n_items}, dim={self.dim}, metric={self.metric!r}, "
            f"kind={self.kind!r})"
        )

    def search(
        self, queries: Any, k: int = 10, *, exclude: Any = None, allowed: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k rows by score, best first.

        Parameters
        ----------
        queries : array-like (dim,) or (m, dim)
        k : int >= 1, clamped with a warning to the number of eligible rows.
        exclude : optional
            Rows never returned. Shared by all queries: an int, a set or a 1-D array-like.
            Per query: a 2-D array (m, e) padded with ``-1``, or a list of m sequences.
        allowed : optional set or 1-D array-like
            Only these rows may be returned (all queries).

        Returns
        -------
        rows : int64 array (k,) for a 1-D query, (m, k) for 2-D queries
        scores : float32 array of the same shape: cosine similarities or inner products
        """
        q, single = as_matrix(queries, "queries", self.dim)
        if self.metric == "cosine":
            q = normalise(q)
        if self.params.augmented:  # [q, 0] . [x, sqrt(M^2 - |x|^2)] = q . x
            q = np.hstack([q, np.zeros((len(q), 1), np.float32)])
        k, m, n = check_k(k), len(q), self.n_items
        per_row = None if exclude is None else per_query_rows(exclude, m, n)
        shared = (
            None if exclude is None or per_row is not None else as_row_set(exclude, "exclude", n)
        )
        keep: list[Any] = []  # FAISS selectors, alive until the search is done
        eligible, excluded = n, np.zeros(m, np.int64)
        if allowed is not None:
            base = as_row_set(allowed, "allowed", n)
            base = base if shared is None else np.setdiff1d(base, shared, assume_unique=True)
            eligible = len(base)
            keep.append(faiss.IDSelectorBatch(base))
        elif shared is not None and len(shared):
            eligible = n - len(shared)
            keep.append(faiss.IDSelectorBatch(shared))
            keep.append(faiss.IDSelectorNot(keep[0]))
        if per_row is not None:  # per query: excluded rows that are otherwise eligible
            hit = per_row >= 0
            if allowed is not None:
                hit &= np.isin(per_row, base)
            elif shared is not None:
                hit &= ~np.isin(per_row, shared)
            excluded = hit.sum(axis=1)
        k = clamp_k(k, int(eligible - excluded.max()))
        if k == 0:
            rows, scores = np.empty((m, 0), np.int64), np.empty((m, 0), np.float32)
            return (rows[0], scores[0]) if single else (rows, scores)
        fetch = min(k + int(excluded.max()), eligible)  # room to drop per-query exclusions
        sel = keep[-1] if keep else None
        complete = self.kind == "exact" or eligible < EXACT_FILTER_FRACTION * n
        with _omp_threads(1 if m <= SMALL_BATCH else None):  # few queries: threads only cost
            rows, scores, short = _take(*self._search(q, fetch, sel, complete), per_row, k, n)
            if short.any():  # the approximate index found fewer than k: search completely
                found = self._search(q[short], fetch, sel, complete=True)
                sub = None if per_row is None else per_row[short]
                rows[short], scores[short], still = _take(*found, sub, k, n)
        if short.any() and still.any():  # cannot happen while k <= eligible: never return -1
            raise RuntimeError("a complete FAISS search returned fewer rows than eligible")
        return (rows[0], scores[0]) if single else (rows, scores)

    def _search(
        self, q: np.ndarray, k: int, sel: Any, complete: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """One FAISS call: scores float32 (m, k), rows int64 (m, k), ``-1`` for missing."""
        p = self.params
        if complete and self._complete is None:  # IVF without floats: probe every list
            params = faiss.SearchParametersIVF(nprobe=p.nlist, sel=sel)
            return self._ivf.search(q, k, params=params)
        if complete:
            params = None if sel is None else faiss.SearchParameters(sel=sel)
            return self._complete.search(q, k, params=params)
        if p.kind == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=p.ef_search, sel=sel)
        elif p.kind == "ivf" or not p.rerank:
            params = faiss.SearchParametersIVF(nprobe=p.nprobe, sel=sel)
        else:  # re-rank: PQ candidates re-scored in numpy (IndexRefine is slower on 2 cores)
            return self._rerank(q, k, faiss.SearchParametersIVF(nprobe=p.nprobe, sel=sel))
        return self._index.search(q, k, params=params)

    def _rerank(self, q: np.ndarray, k: int, params: Any) -> tuple[np.ndarray, np.ndarray]:
        """``rerank * k`` PQ candidates per query re-scored against the stored floats."""
        kc = min(k * self.params.rerank, self.n_items)
        scores, rows = np.empty((len(q), k), np.float32), np.empty((len(q), k), np.int64)
        step = max(1, (1 << 24) // (kc * self.dim))  # queries per chunk: <= 64 MiB gathered
        for i in range(0, len(q), step):
            cand = self._ivf.search(q[i : i + step], kc, params=params)[1]  # (c, kc)
            s = np.einsum("cd,ckd->ck", q[i : i + step], self._floats[np.maximum(cand, 0)])
            s[cand < 0] = -np.inf
            top = np.argsort(-s, axis=1, kind="stable")[:, :k]
            scores[i : i + step] = np.take_along_axis(s, top, 1)
            rows[i : i + step] = np.take_along_axis(cand, top, 1)
        return scores, rows

    def save(self, path: str | os.PathLike) -> None:
        """Write the FAISS index to ``path`` and its parameters to ``path + ".json"``.

        Each file is written aside and renamed into place. The sidecar holds the format and
        FAISS versions, the knobs, and the index file's size and SHA-256 (checked on load).
        """
        path = Path(path)
        sidecar = path.with_name(path.name + ".json")
        tmp, tmp_sidecar = (f.with_name(f".{f.name}.{os.getpid()}.tmp") for f in (path, sidecar))
        faiss.write_index(self._index, str(tmp))
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "faiss_version": faiss.__version__,
            "n_items": self.n_items,
            "dim": self.dim,
            "size": tmp.stat().st_size,
            "sha256": _sha256(tmp),
            "params": asdict(self.params),
        }
        tmp_sidecar.write_text(json.dumps(meta, indent=1))
        os.replace(tmp, path)
        os.replace(tmp_sidecar, sidecar)

    @classmethod
    def load(cls, path: str | os.PathLike) -> ItemIndex:
        """Read an index written by :meth:`save`; a bad file raises :class:`ModelFormatError`
        naming it (missing, truncated, corrupt, or from a newer format version)."""
        path = Path(path)
        sidecar = path.with_name(path.name + ".json")
        for f in (path, sidecar):
            if not f.is_file():
                raise ModelFormatError(f"index file {f} does not exist")
        try:
            meta = json.loads(sidecar.read_text())
            if meta.get("format") != FORMAT or meta["format_version"] > FORMAT_VERSION:
                raise ValueError(f"not a {FORMAT} sidecar of format <= {FORMAT_VERSION}")
            params = IndexParams(**meta["params"])
            if params.kind not in KINDS[1:] or params.metric not in METRICS:
                raise ValueError(f"unknown kind {params.kind!r} or metric {params.metric!r}")
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise ModelFormatError(f"index sidecar {sidecar} is corrupt: {e}") from e
        size = path.stat().st_size
        if size != meta["size"] or _sha256(path) != meta["sha256"]:
            raise ModelFormatError(
                f"index file {path} is truncated or corrupt: {size} bytes, "
                f"expected {meta['size']} with the recorded SHA-256"
            )
        try:
            index = faiss.read_index(str(path))
        except (RuntimeError, MemoryError) as e:
            raise ModelFormatError(f"cannot read FAISS index file {path}: {e}") from e
        if (index.ntotal, index.d - int(params.augmented)) != (meta["n_items"], meta["dim"]):
            raise ModelFormatError(
                f"index file {path} holds {index.ntotal} x {index.d} vectors, "
                f"its sidecar says {meta['n_items']} x {meta['dim']}"
            )
        return cls._adopt(index, params, f"index file {path}")

    def to_array(self) -> tuple[np.ndarray, dict[str, Any]]:
        """The index as a uint8 array (``faiss.serialize_index``) and its parameters: what a
        model directory stores (:mod:`item2vec.queries.recommend`); :meth:`from_array` reads
        them back."""
        return faiss.serialize_index(self._index), asdict(self.params)

    @classmethod
    def from_array(cls, data: np.ndarray, params: dict[str, Any], where: str) -> ItemIndex:
        """An index back from :meth:`to_array`; :class:`ModelFormatError` naming ``where``
        when the bytes or the parameters are not such an index."""
        try:
            p = IndexParams(**params)
            if p.kind not in KINDS[1:] or p.metric not in METRICS:
                raise ValueError(f"unknown kind {p.kind!r} or metric {p.metric!r}")
            index = faiss.deserialize_index(np.ascontiguousarray(data, dtype=np.uint8))
        except (ValueError, TypeError, RuntimeError, MemoryError) as e:
            raise ModelFormatError(f"{where} is not a FAISS index: {e}") from e
        return cls._adopt(index, p, where)

    @classmethod
    def _adopt(cls, index: faiss.Index, params: IndexParams, where: str) -> ItemIndex:
        """An :class:`ItemIndex` around a read FAISS ``index`` whose type must be the kind's."""
        want = {
            "exact": faiss.IndexFlat,
            "hnsw": faiss.IndexHNSWFlat,
            "ivf": faiss.IndexIVFFlat,
            "ivfpq": faiss.IndexRefineFlat if params.rerank else faiss.IndexIVFPQ,
        }
        if not isinstance(index, want[params.kind]):
            raise ModelFormatError(
                f"{where} holds a {type(index).__name__}, its sidecar says kind={params.kind!r}"
            )
        self = cls.__new__(cls)
        self.params = params
        self._setup(index)
        return self


@contextmanager
def _omp_threads(n: int | None) -> Iterator[None]:
    """FAISS's OpenMP threads set to ``n`` for this thread while inside (None: unchanged)."""
    before = faiss.omp_get_max_threads()
    if n is not None:
        faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def _take(
    scores: np.ndarray, rows: np.ndarray, per_row: np.ndarray | None, k: int, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop ``-1`` and per-query excluded rows; first k rows, scores, and which have < k."""
    bad = rows < 0
    if per_row is None and not bad.any():  # the common case
        return rows[:, :k], scores[:, :k], np.zeros(len(rows), bool)
    if per_row is not None:  # (query, row) pairs coded as one int64
        q = np.arange(len(rows), dtype=np.int64)[:, None]
        bad |= np.isin(q * n + rows, (q * n + per_row)[per_row >= 0])
    order = np.argsort(bad, axis=1, kind="stable")[:, :k]
    short = (~bad).sum(axis=1) < k
    return np.take_along_axis(rows, order, 1), np.take_along_axis(scores, order, 1), short


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()
