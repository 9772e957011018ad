"""Data sets: the bundled UCI Online Retail log and a synthetic generator with planted clusters."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import pandas as pd

from .data import Sessions, Vocabulary
from .exceptions import ParameterError

__all__ = ["online_retail", "online_retail_frame", "synthetic", "RetailData", "SyntheticData"]

#: Product stock codes start with five digits (``85123A``, ``22423``); everything else
#: (POST, DOT, M, C2, BANK CHARGES, AMAZONFEE, CRUK, gift vouchers, DCGS...) is a fee,
#: postage, manual adjustment or voucher.
PRODUCT_CODE = re.compile(r"^\d{5}")

_DATA = "online_retail.parquet"


@dataclass
class RetailData:
    """What :func:`online_retail` returns.

    Attributes
    ----------
    sessions : Sessions
        Invoices (``kind="baskets"``) or customer histories ordered by time (``"customers"``).
    descriptions : pandas.Series
        Human-readable product name per StockCode (the most frequent description).
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
    report["cancelled invoices (InvoiceNo starting with C)"] = int(
        invoice[cancelled].nunique()
    )
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
    if kind not in ("baskets", "customers"):
        raise ParameterError(f"kind must be 'baskets' or 'customers', got {kind!r}")
    raw = online_retail_frame()
    df, report = clean_online_retail(raw, require_customer=kind == "customers")
    if kind == "baskets":
        sessions = Sessions.from_frame(
            df, session="InvoiceNo", item="StockCode", min_count=min_count,
            min_length=min_length, collapse_repeats=collapse_repeats,
        )
    else:
        sessions = Sessions.from_frame(
            df, user="CustomerID", item="StockCode", time="InvoiceDate", min_count=min_count,
            min_length=min_length, collapse_repeats=collapse_repeats,
        )
    desc = (
        raw.groupby("StockCode")["Description"]
        .agg(lambda s: s.value_counts().index[0] if s.notna().any() else "")
        .astype(str)
    )
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
    """

    sessions: Sessions
    clusters: np.ndarray

    def same_cluster_precision(self, neighbour_rows: np.ndarray) -> float:
        """Share of neighbour rows (n_items, k) that are in the query row's cluster."""
        q = self.clusters[:, None]
        return float(np.mean(self.clusters[neighbour_rows] == q))


def synthetic(
    n_items: int = 1000,
    n_clusters: int = 20,
    n_sessions: int = 5000,
    mean_length: float = 10.0,
    noise: float = 0.05,
    zipf: float = 1.0,
    seed: int = 0,
) -> SyntheticData:
    """Generate sessions whose items come from one planted cluster each.

    Item ``i`` belongs to cluster ``i % n_clusters``. Every session picks a cluster, a
    length ``2 + Poisson(mean_length - 2)``, and draws each event from its cluster with
    Zipf(``zipf``) popularity inside the cluster; with probability ``noise`` an event is
    replaced by an item drawn uniformly from the whole catalogue. Fully vectorised, so a
    corpus of 50 M events takes seconds. Item ids are the integers ``0..n_items-1``.
    """
    for name, v, lo in (("n_items", n_items, 2), ("n_clusters", n_clusters, 1),
                        ("n_sessions", n_sessions, 1)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < lo:
            raise ParameterError(f"{name} must be an integer >= {lo}, got {v!r}")
    if n_clusters > n_items // 2:
        raise ParameterError(f"n_clusters must be <= n_items // 2, got {n_clusters}")
    if not mean_length >= 2:
        raise ParameterError(f"mean_length must be >= 2, got {mean_length!r}")
    if not 0 <= noise <= 1:
        raise ParameterError(f"noise must be in [0, 1], got {noise!r}")
    rng = np.random.default_rng(seed)
    lengths = 2 + rng.poisson(mean_length - 2, size=n_sessions)
    n_events = int(lengths.sum())
    session_cluster = rng.integers(0, n_clusters, size=n_sessions)
    event_cluster = np.repeat(session_cluster, lengths)
    # items of cluster c are c, c + n_clusters, c + 2 n_clusters, ...
    size = (n_items - np.arange(n_clusters) + n_clusters - 1) // n_clusters
    max_size = int(size.max())
    ranks = np.arange(1, max_size + 1, dtype=np.float64)
    weights = ranks ** -zipf
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
    counts = np.bincount(items, minlength=n_items)
    present = np.flatnonzero(counts)
    order = present[np.argsort(-counts[present], kind="stable")]
    row_of_item = np.full(n_items, -1, np.int64)
    row_of_item[order] = np.arange(len(order))
    vocab = Vocabulary(ids=order.astype(np.int64), counts=counts[order])
    report = {"sessions": n_sessions, "events": n_events, "items": len(vocab)}
    sessions = Sessions(row_of_item[items].astype(np.int32), offsets, vocab, report)
    return SyntheticData(sessions=sessions, clusters=(order % n_clusters).astype(np.int64))
