"""Data sets: the bundled UCI Online Retail log and a synthetic generator with planted clusters."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from ..checks import RETAIL_KINDS, check_choice, check_int, check_real
from ..exceptions import ParameterError
from .features import ItemFeatures, tokenize
from .sessions import Sessions, Vocabulary

__all__ = [
    "online_retail",
    "online_retail_frame",
    "clean_online_retail",
    "retail_descriptions",
    "retail_features",
    "synthetic",
    "synthetic_features",
    "RetailData",
    "SyntheticData",
]

#: Product stock codes start with five digits (``85123A``, ``22423``); everything else
#: (POST, DOT, M, C2, BANK CHARGES, AMAZONFEE, CRUK, gift vouchers, DCGS...) is a fee,
#: postage, manual adjustment or voucher.
PRODUCT_CODE = re.compile(r"^\d{5}")

_DATA = "online_retail.parquet"

#: Descriptions that name no product: the copy fills missing ones with "Unknown".
PLACEHOLDERS = frozenset({"", "Unknown"})


@dataclass
class RetailData:
    """What :func:`online_retail` returns.

    Attributes
    ----------
    sessions : Sessions
        Invoices (``kind="baskets"``) or customer histories ordered by time (``"customers"``).
    descriptions : pandas.Series
        Human-readable product name per StockCode (the most frequent real description,
        see :func:`retail_descriptions`).
    report : dict[str, int]
        What the cleaning removed, with counts (before sessionisation; ``sessions.report``
        continues from there).
    """

    sessions: Sessions
    descriptions: pd.Series
    report: dict[str, int] = field(default_factory=dict)


def online_retail_frame() -> pd.DataFrame:
    """The raw bundled table (541,909 rows), all columns as in the UCI release.

    Columns: InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice,
    CustomerID, Country. Data: Chen, Sain & Guo (2012), UCI ML Repository, CC BY 4.0.
    """
    path = resources.files("item2vec") / "data" / _DATA
    with resources.as_file(path) as p:
        return pd.read_parquet(p)


def clean_online_retail(df: pd.DataFrame, *, require_customer: bool) -> tuple[pd.DataFrame, dict]:
    """Drop cancelled invoices, non-positive quantities and non-product codes, counting each.

    Rules apply in the order listed; each count is of rows still present at that step.
    """
    report: dict[str, int] = {"rows": len(df)}
    invoice = df["InvoiceNo"].astype(str)
    cancelled = invoice.str.startswith("C").to_numpy()
    report["cancelled invoices (InvoiceNo starting with C)"] = int(invoice[cancelled].nunique())
    report["rows of cancelled invoices"] = int(cancelled.sum())
    keep = ~cancelled
    nonpos = (df["Quantity"] <= 0).to_numpy() & keep
    report["rows with non-positive quantity"] = int(nonpos.sum())
    keep &= ~nonpos
    code = df["StockCode"].astype(str)
    nonproduct = ~code.str.match(PRODUCT_CODE).to_numpy() & keep
    report["rows with non-product codes (POST, DOT, M, BANK CHARGES, ...)"] = int(nonproduct.sum())
    for c, n in code[nonproduct].value_counts().head(8).items():
        report[f"  of which {c}"] = int(n)
    keep &= ~nonproduct
    no_customer = df["CustomerID"].isna().to_numpy() & keep
    report["rows without CustomerID" + (" (dropped)" if require_customer else " (kept)")] = int(
        no_customer.sum()
    )
    if require_customer:
        keep &= ~no_customer
    report["rows kept"] = int(keep.sum())
    return df[keep], report


def retail_descriptions(df: pd.DataFrame) -> pd.Series:
    """One product name per StockCode: its most frequent real description.

    Real means not missing and not the placeholder ``"Unknown"`` (which this copy of the data
    uses for missing descriptions); a code with no real description keeps ``"Unknown"``.
    Ties go to the description seen first; surrounding blanks are stripped.
    """
    desc = df["Description"].astype(str).str.strip()
    placeholder = (desc.isin(PLACEHOLDERS) | df["Description"].isna()).to_numpy()
    rows = pd.DataFrame(
        {
            "code": df["StockCode"].astype(str).to_numpy(),
            "desc": np.where(placeholder, "Unknown", desc.to_numpy(object)),
            "placeholder": placeholder,
            "pos": np.arange(len(df)),
        }
    )
    best = (
        rows.groupby(["code", "desc"], sort=False)
        .agg(placeholder=("placeholder", "first"), n=("pos", "size"), first=("pos", "min"))
        .reset_index()
        .sort_values(["code", "placeholder", "n", "first"], ascending=[True, True, False, True])
        .drop_duplicates("code")
    )
    index = pd.Index(best["code"].to_numpy(), name="StockCode")
    return pd.Series(best["desc"].to_numpy(), index=index, name="Description").astype(str)


def online_retail(
    kind: str = "baskets",
    *,
    min_count: int = 1,
    min_length: int = 2,
    collapse_repeats: bool = True,
) -> RetailData:
    """The bundled UCI Online Retail log, cleaned and sessionised.

    Parameters
    ----------
    kind : ``"baskets"`` (one session per invoice, items in invoice line order) or
        ``"customers"`` (one session per customer, items ordered by invoice date; rows
        without a CustomerID are dropped).
    min_count, min_length, collapse_repeats : passed to :meth:`Sessions.from_frame`.
    """
    check_choice("kind", kind, RETAIL_KINDS)
    check_int("min_count", min_count, 1)  # before loading half a million rows
    check_int("min_length", min_length, 1)
    raw = online_retail_frame()
    df, report = clean_online_retail(raw, require_customer=kind == "customers")
    if kind == "baskets":
        sessions = Sessions.from_frame(
            df,
            session="InvoiceNo",
            item="StockCode",
            min_count=min_count,
            min_length=min_length,
            collapse_repeats=collapse_repeats,
        )
    else:
        sessions = Sessions.from_frame(
            df,
            user="CustomerID",
            item="StockCode",
            time="InvoiceDate",
            min_count=min_count,
            min_length=min_length,
            collapse_repeats=collapse_repeats,
        )
    desc = retail_descriptions(raw)
    return RetailData(sessions=sessions, descriptions=desc, report=report)


@dataclass
class SyntheticData:
    """Sessions with planted structure.

    Attributes
    ----------
    sessions : Sessions
    clusters : ndarray of int, shape (n_items,)
        Cluster of each vocabulary row of ``sessions`` (the known answer: an item's true
        neighbours are the other items of its cluster).
    successors : ndarray of int64, shape (n_items, successors), or None
        With ``synthetic(successors=s)``: the planted next items of each vocabulary row, as
        rows (-1 for a successor that never occurs), most likely first. The known answer of
        next-item prediction: after row ``r``, the next event is ``successors[r, j]`` with
        probability ``(1 - noise) * w_j`` (``w_j`` proportional to ``1 / (j + 1)``).
    """

    sessions: Sessions
    clusters: np.ndarray
    successors: np.ndarray | None = None

    def same_cluster_precision(
        self, neighbour_rows: np.ndarray, query_rows: np.ndarray | None = None
    ) -> float:
        """Share of neighbours that are in their query's cluster.

        ``neighbour_rows`` has shape (n_queries, k); the queries are ``query_rows`` (default:
        every vocabulary row, in order). A missing neighbour (-1, as FAISS returns) counts
        as a miss.
        """
        nb = np.asarray(neighbour_rows)
        q = np.arange(len(self.clusters)) if query_rows is None else np.asarray(query_rows)
        if nb.ndim != 2 or q.ndim != 1 or len(nb) != len(q):
            raise ParameterError(
                f"neighbour_rows must have shape (n_queries, k) with n_queries = {len(q)}, "
                f"got {nb.shape}"
            )
        if nb.dtype.kind not in "iu" or nb.size and nb.max() >= len(self.clusters):
            raise ParameterError(f"neighbour_rows must be rows in [0, {len(self.clusters)}) or -1")
        hit = (self.clusters[np.maximum(nb, 0)] == self.clusters[q][:, None]) & (nb >= 0)
        return float(hit.mean()) if hit.size else 0.0


def synthetic(
    n_items: int = 1000,
    n_clusters: int = 20,
    n_sessions: int = 5000,
    mean_length: float = 10.0,
    noise: float = 0.05,
    zipf: float = 1.0,
    seed: int = 0,
    successors: int | None = None,
) -> SyntheticData:
    """Generate sessions whose items come from one planted cluster each.

    Item ``i`` belongs to cluster ``i % n_clusters``. Every session picks a cluster, a
    length ``2 + Poisson(mean_length - 2)``, and draws each event from its cluster with
    Zipf(``zipf``) popularity inside the cluster; with probability ``noise`` an event is
    replaced by an item drawn uniformly from the whole catalogue. Fully vectorised, so a
    corpus of 50 M events takes seconds. Item ids are the integers ``0..n_items-1``.

    ``successors=s`` makes the sessions ordered: every item gets ``s`` planted next items
    drawn from its own cluster (``SyntheticData.successors``), a session starts at an item
    of its cluster drawn with the Zipf popularity above, and each later event is one of the
    previous event's successors, the ``j``-th with weight ``1 / (j + 1)`` (or, with
    probability ``noise``, a uniform item of the catalogue; the walk goes on from there). The
    order then carries what the next item is, as in a log of clicks or plays; vectorised over
    sessions (one step of every session at a time).
    """
    check_int("n_items", n_items, 2)
    check_int("n_clusters", n_clusters, 1)
    check_int("n_sessions", n_sessions, 1)
    if n_clusters > n_items // 2:
        raise ParameterError(
            f"n_clusters must be <= n_items // 2 (every cluster needs two items), got "
            f"n_clusters={n_clusters} for n_items={n_items}"
        )
    check_real("mean_length", mean_length, 2, maximum=1e9)
    check_real("noise", noise, 0, maximum=1)
    check_real("zipf", zipf, -10, maximum=10)
    if successors is not None:
        check_int("successors", successors, 1)
    try:
        rng = np.random.default_rng(seed)
    except (TypeError, ValueError) as e:
        raise ParameterError(f"seed must be an integer or a numpy Generator, got {seed!r}") from e
    lengths = 2 + rng.poisson(mean_length - 2, size=n_sessions)
    n_events = int(lengths.sum())
    session_cluster = rng.integers(0, n_clusters, size=n_sessions)
    event_cluster = np.repeat(session_cluster, lengths)
    # items of cluster c are c, c + n_clusters, c + 2 n_clusters, ...
    size = (n_items - np.arange(n_clusters) + n_clusters - 1) // n_clusters
    max_size = int(size.max())
    ranks = np.arange(1, max_size + 1, dtype=np.float64)
    weights = ranks**-zipf
    # rank within cluster: inverse CDF of the truncated Zipf for each cluster size
    u = rng.random(n_events)
    cdf_all = np.cumsum(weights)
    totals = cdf_all[size[event_cluster] - 1]
    rank = np.searchsorted(cdf_all, u * totals, side="right")
    rank = np.minimum(rank, size[event_cluster] - 1)
    items = event_cluster + rank * n_clusters
    noisy = rng.random(n_events) < noise
    items[noisy] = rng.integers(0, n_items, size=int(noisy.sum()))
    offsets = np.zeros(n_sessions + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    graph = None
    if successors is not None:
        graph = _plant_successors(n_items, n_clusters, size, successors, rng)
        _walk(items, offsets, noisy, graph, rng)
    counts = np.bincount(items, minlength=n_items)
    first = np.full(n_items, n_events, np.int64)
    np.minimum.at(first, items, np.arange(n_events))
    present = np.flatnonzero(counts)  # rows: descending count, ties by first appearance
    order = present[np.lexsort((first[present], -counts[present]))]
    row_of_item = np.full(n_items, -1, np.int64)
    row_of_item[order] = np.arange(len(order))
    vocab = Vocabulary(ids=order.astype(np.int64), counts=counts[order])
    report = {"sessions": n_sessions, "events": n_events, "items": len(vocab)}
    sessions = Sessions(row_of_item[items].astype(np.int32), offsets, vocab, report)
    succ_rows = None if graph is None else row_of_item[graph[order]]
    return SyntheticData(
        sessions=sessions, clusters=(order % n_clusters).astype(np.int64), successors=succ_rows
    )


def _plant_successors(
    n_items: int, n_clusters: int, size: np.ndarray, s: int, rng: np.random.Generator
) -> np.ndarray:
    """``s`` next items per item, from its own cluster (other items first); (n_items, s)."""
    item = np.arange(n_items)
    cluster, rank = item % n_clusters, item // n_clusters
    other = size[cluster] - 1  # the other members of the cluster
    pick = rng.integers(0, np.maximum(other, 1)[:, None], size=(n_items, s))
    pick += pick >= rank[:, None]  # skip the item itself
    pick = np.where(other[:, None] > 0, pick, rank[:, None])  # a one-item cluster loops
    return cluster[:, None] + pick * n_clusters


def _walk(
    items: np.ndarray,
    offsets: np.ndarray,
    noisy: np.ndarray,
    graph: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Rewrite ``items`` in place as walks: each session keeps its first event; every later
    one is a successor of the previous event (kept as drawn where ``noisy``)."""
    s = graph.shape[1]
    cdf = np.cumsum(1.0 / np.arange(1, s + 1))
    cdf /= cdf[-1]
    starts, lengths = offsets[:-1], np.diff(offsets)
    for step in range(1, int(lengths.max(initial=0))):
        at = starts[lengths > step] + step
        j = np.minimum(np.searchsorted(cdf, rng.random(len(at)), side="right"), s - 1)
        walked = graph[items[at - 1], j]
        items[at] = np.where(noisy[at], items[at], walked)


def vector_clusters(
    n: int,
    *,
    dim: int = 64,
    n_clusters: int = 1000,
    spread: float = 1.0,
    n_queries: int = 0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """A seeded gaussian mixture of item vectors, for index tests and benchmarks.

    ``n_clusters`` unit-normal centres in ``dim`` dimensions; each vector is a centre plus
    ``spread`` times unit-normal noise. Returns ``(vectors (n, dim), queries (n_queries,
    dim))``, float32, the queries drawn from the same mixture.
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, dim), dtype=np.float32)
    labels = rng.integers(0, n_clusters, n + n_queries)
    x = centres[labels]
    x += spread * rng.standard_normal((n + n_queries, dim), dtype=np.float32)
    return x[:n], x[n:]


def retail_features(descriptions: pd.Series, ids: Any = None) -> ItemFeatures:
    """The words of each product's description as its attributes (``tokenize``: lower
    case, punctuation splits), for the items ``ids`` (default: every code of
    ``descriptions``); the placeholder ``"Unknown"`` gives no word."""
    codes = descriptions.index.tolist() if ids is None else list(ids)
    text = descriptions.reindex(codes).fillna("").astype(str).tolist()
    words = [[] if t in PLACEHOLDERS else tokenize(t) for t in text]
    return ItemFeatures.from_mapping(dict(zip(codes, words)))


def synthetic_features(
    data: SyntheticData, noise: float = 0.2, tags: int = 2, seed: int = 0
) -> ItemFeatures:
    """Attributes for a :func:`synthetic` log: each item's planted cluster as the token
    ``"cluster=c"`` (with probability ``noise`` a uniformly drawn cluster instead) and
    ``tags`` tokens ``"tag=j"`` drawn uniformly from 100, which say nothing."""
    check_real("noise", noise, 0.0, maximum=1.0)
    check_int("tags", tags, 0)
    rng = np.random.default_rng(seed)
    clusters = np.asarray(data.clusters)
    n_clusters = int(clusters.max()) + 1
    shown = np.where(
        rng.random(len(clusters)) < noise, rng.integers(n_clusters, size=len(clusters)), clusters
    )
    tag = rng.integers(100, size=(len(clusters), tags))
    ids = np.asarray(data.sessions.vocabulary.ids).tolist()
    return ItemFeatures.from_mapping(
        {i: [f"cluster={c}", *(f"tag={t}" for t in ts)] for i, c, ts in zip(ids, shown, tag)}
    )
