"""Bundled Online Retail data (known counts) and the synthetic generator (planted clusters)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import check_corpus

from item2vec import ParameterError, datasets


# ----------------------------------------------------------------- Online Retail
@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return datasets.online_retail_frame()


@pytest.fixture(scope="module")
def baskets():
    return datasets.online_retail("baskets")


@pytest.fixture(scope="module")
def customers():
    return datasets.online_retail("customers")


def product_rows(raw: pd.DataFrame) -> pd.DataFrame:
    """The cleaning rules, written again with plain pandas."""
    cancelled = raw["InvoiceNo"].str.startswith("C")
    product = raw["StockCode"].str.contains(r"^[0-9]{5}", regex=True)
    return raw[~cancelled & (raw["Quantity"] > 0) & product]


def reference_sessions(rows: pd.DataFrame, key: str, time: str | None) -> list[list[str]]:
    """Group, order (stable), collapse consecutive repeats, keep sessions of 2 or more."""
    rows = rows.assign(_first=rows.groupby(key, sort=False).ngroup(), _pos=np.arange(len(rows)))
    order = ["_first", time, "_pos"] if time else ["_first", "_pos"]
    rows = rows.sort_values(order)
    same = (rows["StockCode"] == rows["StockCode"].shift()) & (rows[key] == rows[key].shift())
    rows = rows[~same]
    out = rows.groupby("_first", sort=False)["StockCode"].agg(list).tolist()
    return [s for s in out if len(s) >= 2]


def test_raw_table(raw):
    assert raw.shape == (541_909, 8)
    assert list(raw.columns) == [
        "InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
        "CustomerID", "Country",
    ]  # fmt: skip


def test_cleaning_counts_are_known_answers(raw, baskets, customers):
    cancelled = raw["InvoiceNo"].str.startswith("C")
    rest = raw[~cancelled]
    nonpos = rest["Quantity"] <= 0
    rest = rest[~nonpos]
    nonproduct = ~rest["StockCode"].str.contains(r"^[0-9]{5}", regex=True)
    rest = rest[~nonproduct]
    no_customer = rest["CustomerID"].isna()
    expected = {
        "rows": len(raw),
        "cancelled invoices (InvoiceNo starting with C)": raw["InvoiceNo"][cancelled].nunique(),
        "rows of cancelled invoices": int(cancelled.sum()),
        "rows with non-positive quantity": int(nonpos.sum()),
        "rows with non-product codes (POST, DOT, M, BANK CHARGES, ...)": int(nonproduct.sum()),
    }
    pinned = [541_909, 3_836, 9_288, 1_336, 2_399]
    assert list(expected.values()) == pinned
    for data in (baskets, customers):
        for key, value in expected.items():
            assert data.report[key] == value, key
    assert baskets.report["  of which POST"] == 1_130
    assert no_customer.sum() == 132_516
    assert baskets.report["rows without CustomerID (kept)"] == 132_516
    assert customers.report["rows without CustomerID (dropped)"] == 132_516
    assert baskets.report["rows kept"] == len(rest) == 528_886
    assert customers.report["rows kept"] == int((~no_customer).sum()) == 396_370


def test_baskets_match_a_pandas_reference(raw, baskets):
    s = baskets.sessions
    check_corpus(s, min_length=2)
    assert (len(s), s.n_events, len(s.vocabulary)) == (18_292, 525_307, 3_896)
    assert s.report["consecutive repeats collapsed"] == 1_333
    assert s.report["sessions shorter than 2 dropped"] == 2_246
    assert s.to_lists() == reference_sessions(product_rows(raw), "InvoiceNo", None)


def test_customers_match_a_pandas_reference(raw, customers):
    s = customers.sessions
    check_corpus(s, min_length=2)
    assert (len(s), s.n_events, len(s.vocabulary)) == (4_240, 394_814, 3_659)
    rows = product_rows(raw)
    rows = rows[rows["CustomerID"].notna()]
    assert s.to_lists() == reference_sessions(rows, "CustomerID", "InvoiceDate")


def test_descriptions_name_the_top_items(raw, baskets):
    desc = baskets.descriptions
    assert desc.index.name == "StockCode" and desc.index.is_unique
    assert len(desc) == raw["StockCode"].nunique() == 4_070
    top = baskets.sessions.vocabulary.ids[:100]
    names = desc.reindex(top)
    assert names.notna().all() and not names.isin(["Unknown", ""]).any()
    assert names.iloc[0] == "WHITE HANGING HEART T-LIGHT HOLDER"  # not the rare "CREAM ..."
    assert (names == names.str.strip()).all()


def test_descriptions_avoid_the_unknown_placeholder(raw, baskets):
    desc = baskets.descriptions
    # 21661: three "Unknown" rows and three real ones; the real name wins the tie
    assert desc["21661"] == "VINTAGE GLASS TEA CADDY"
    # 23084: "Unknown" 10 times, otherwise "RABBIT NIGHT LIGHT"
    assert desc["23084"] == "RABBIT NIGHT LIGHT"
    # 10123G has nothing but the placeholder
    assert desc["10123G"] == "Unknown"
    real = raw[raw["Description"] != "Unknown"]["StockCode"].unique()
    assert not desc[real].eq("Unknown").any()
    assert desc.eq("Unknown").sum() == raw["StockCode"].nunique() - len(real) == 112


def test_online_retail_options():
    with pytest.raises(
        ParameterError, match="kind must be one of 'baskets', 'customers', got 'users'"
    ):
        datasets.online_retail("users")
    with pytest.raises(ParameterError, match="min_count must be an integer >= 1, got 0"):
        datasets.online_retail(min_count=0)


def test_descriptions_prefer_the_most_frequent_real_name():
    df = pd.DataFrame(
        {
            "StockCode": ["1", "1", "1", "1", "2", "2", "3", "3"],
            "Description": ["Unknown", "Unknown", "B ", "A", None, "Unknown", "X", "Y"],
        }
    )
    desc = datasets.retail_descriptions(df)
    assert desc.to_dict() == {"1": "B", "2": "Unknown", "3": "X"}


# ----------------------------------------------------------------- synthetic
def test_synthetic_is_reproducible():
    a, b = datasets.synthetic(seed=3, n_sessions=500), datasets.synthetic(seed=3, n_sessions=500)
    np.testing.assert_array_equal(a.sessions.items, b.sessions.items)
    np.testing.assert_array_equal(a.sessions.offsets, b.sessions.offsets)
    assert a.sessions.vocabulary == b.sessions.vocabulary
    c = datasets.synthetic(seed=4, n_sessions=500)
    assert not np.array_equal(a.sessions.items[:100], c.sessions.items[:100])


def test_synthetic_clusters_align_with_vocabulary_rows():
    d = datasets.synthetic(n_items=200, n_clusters=7, n_sessions=2000, seed=1)
    s = d.sessions
    check_corpus(s, min_length=2)
    assert s.vocabulary.ids.dtype == np.int64
    np.testing.assert_array_equal(d.clusters, s.vocabulary.ids % 7)
    assert len(d.clusters) == len(s.vocabulary)
    assert s.report == {"sessions": 2000, "events": s.n_events, "items": len(s.vocabulary)}


@pytest.mark.parametrize("noise", [0.0, 0.2])
def test_synthetic_sessions_share_one_cluster(noise):
    n_clusters = 10
    d = datasets.synthetic(n_items=300, n_clusters=n_clusters, n_sessions=3000, noise=noise)
    s = d.sessions
    session_of = np.repeat(np.arange(len(s)), s.lengths)
    labels = d.clusters[s.items]
    majority = np.zeros(len(s), np.int64)
    for k in range(n_clusters):
        majority = np.maximum(majority, np.bincount(session_of[labels == k], minlength=len(s)))
    share = majority.sum() / s.n_events
    expected = 1 - noise + noise / n_clusters  # a noisy draw can land in the cluster too
    assert abs(share - expected) < 0.02 if noise else share == 1.0


def test_same_cluster_precision():
    d = datasets.synthetic(n_items=40, n_clusters=4, n_sessions=200)
    n = len(d.clusters)
    same = np.array([np.flatnonzero(d.clusters == d.clusters[r])[:2] for r in range(n)])
    assert d.same_cluster_precision(same) == 1.0
    other = np.array([[np.flatnonzero(d.clusters != d.clusters[r])[0]] for r in range(n)])
    assert d.same_cluster_precision(other) == 0.0
    half = np.concatenate([same[:, :1], np.full((n, 1), -1)], axis=1)  # -1: missing result
    assert d.same_cluster_precision(half) == 0.5
    assert d.same_cluster_precision(same[3:5], query_rows=np.array([3, 4])) == 1.0
    with pytest.raises(ParameterError, match=r"shape \(n_queries, k\) with n_queries = 40"):
        d.same_cluster_precision(same[:5])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_items": 1}, "n_items must be an integer >= 2, got 1"),
        ({"n_items": 10.0}, "n_items must be an integer >= 2, got 10.0"),
        ({"n_clusters": 0}, "n_clusters must be an integer >= 1, got 0"),
        ({"n_sessions": 0}, "n_sessions must be an integer >= 1, got 0"),
        ({"n_items": 10, "n_clusters": 6}, "n_clusters must be <= n_items // 2 .* n_clusters=6"),
        ({"mean_length": 1.5}, r"mean_length must be a finite number in \[2, 1e\+09\], got 1.5"),
        ({"mean_length": float("nan")}, "mean_length must be a finite number .* got nan"),
        ({"mean_length": "10"}, "mean_length must be a finite number .* got '10'"),
        ({"noise": 1.5}, r"noise must be a finite number in \[0, 1\], got 1.5"),
        ({"noise": -0.1}, "noise must be a finite number .* got -0.1"),
        ({"zipf": float("inf")}, "zipf must be a finite number .* got inf"),
        ({"seed": "abc"}, "seed must be an integer or a numpy Generator, got 'abc'"),
    ],
)
def test_synthetic_parameter_errors(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        datasets.synthetic(**kwargs)


def test_synthetic_walks_follow_the_planted_successors():
    d = datasets.synthetic(n_items=200, n_clusters=10, n_sessions=3000, successors=3, seed=0)
    s = d.sessions
    assert d.successors.shape == (len(s.vocabulary), 3)
    rows = np.arange(len(s.vocabulary))[:, None]
    assert (d.successors != rows).all()  # never the item itself
    assert (d.clusters[d.successors] == d.clusters[rows]).all()  # from its own cluster
    same = np.repeat(np.arange(len(s)), s.lengths)
    same = same[:-1] == same[1:]
    a, b = s.items[:-1][same], s.items[1:][same]
    planted = (d.successors[a] == b[:, None]).any(axis=1).mean()
    # a step is planted unless noisy (5%), and a uniform noise item can still be a successor
    assert abs(planted - (0.95 + 0.05 * 3 / 200)) < 0.01
    first = (d.successors[a, 0] == b).mean()  # weight 1 of 1 + 1/2 + 1/3
    assert abs(first - 0.95 * 6 / 11) < 0.02
    again = datasets.synthetic(n_items=200, n_clusters=10, n_sessions=3000, successors=3, seed=0)
    np.testing.assert_array_equal(again.sessions.items, s.items)


def test_synthetic_without_successors_has_no_graph_and_bad_successors_are_named():
    assert datasets.synthetic(n_items=20, n_clusters=2, n_sessions=10).successors is None
    with pytest.raises(ParameterError, match="successors must be an integer >= 1, got 0"):
        datasets.synthetic(successors=0)
