"""Tests of the ranking metrics and intervals (moved from test_evaluate.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from item2vec.evaluation.metrics import (
    answer_ranks,
    bootstrap_interval,
    case_metrics,
    rank_metrics,
    t_interval,
    t_quantile,
)
from item2vec.exceptions import DataError, ParameterError

# ----------------------------------------------------------------------------- metrics
RANKED = np.array([[5, 1, 2], [1, 2, 5], [1, 2, 3]])
ANSWERS = np.array([5, 5, 5])


def test_metrics_hand_computed():
    assert answer_ranks(RANKED, ANSWERS).tolist() == [1, 3, 0]
    m = rank_metrics(RANKED, ANSWERS, ks=(1, 3), n_items=10)
    assert m["HR@1"] == pytest.approx(1 / 3)
    assert m["HR@3"] == pytest.approx(2 / 3)
    assert m["NDCG@1"] == pytest.approx(1 / 3)
    assert m["NDCG@3"] == pytest.approx((1 + 1 / math.log2(4)) / 3)
    assert m["MRR"] == pytest.approx((1 + 1 / 3) / 3)
    assert m["coverage@1"] == pytest.approx(2 / 10)  # items 5 and 1
    assert m["coverage@3"] == pytest.approx(4 / 10)  # items 1, 2, 3, 5
    assert m["n_cases"] == 3


def test_metrics_rank_two_and_mrr_cut_at_largest_k():
    ranked = np.array([[9, 4, 7, 8]])
    m = rank_metrics(ranked, [4], ks=(1, 2))
    assert m["HR@1"] == 0 and m["HR@2"] == 1
    assert m["NDCG@2"] == pytest.approx(1 / math.log2(3))
    assert m["MRR"] == pytest.approx(0.5)
    assert rank_metrics(ranked, [8], ks=(1, 2))["MRR"] == 0  # rank 4 > largest K
    assert rank_metrics(ranked, [8], ks=(4,))["MRR"] == pytest.approx(0.25)


def test_query_equal_to_answer_counts_as_hit():
    ranked = np.array([[1, 2], [1, 2]])
    m = rank_metrics(ranked, [7, 8], ks=(1,), queries=[7, 3])
    assert m["HR@1"] == pytest.approx(0.5) and m["NDCG@1"] == pytest.approx(0.5)
    assert answer_ranks(ranked, [7, 2], queries=[7, 3]).tolist() == [1, 2]
    assert rank_metrics(ranked, [7, 8], ks=(1,))["HR@1"] == 0  # without queries: no hit


def test_padding_never_matches():
    m = rank_metrics(np.array([[3, -1, -1]]), [4], ks=(3,), n_items=5)
    assert m["HR@3"] == 0 and m["coverage@3"] == pytest.approx(1 / 5)


def test_case_metrics_per_case_vectors():
    c = case_metrics(np.array([1, 3, 0]), ks=(2,))
    assert c["HR@2"].tolist() == [1, 0, 0]
    assert c["NDCG@2"].tolist() == [1, 0, 0]
    assert c["MRR"].tolist() == [1, 0, 0]


def test_metric_errors():
    with pytest.raises(ParameterError, match="k must be an integer >= 1, got 0"):
        rank_metrics(RANKED, ANSWERS, ks=(0, 3))
    with pytest.raises(ParameterError, match="ks must name at least one cutoff"):
        rank_metrics(RANKED, ANSWERS, ks=())
    with pytest.raises(ParameterError, match=r"ranked must be an integer array of shape"):
        rank_metrics(RANKED, ANSWERS, ks=(10,))
    with pytest.raises(ParameterError, match="ranked must be"):
        rank_metrics(np.array([1, 2, 3]), ANSWERS, ks=(1,))
    with pytest.raises(ParameterError, match="ranked must be"):
        rank_metrics(RANKED.astype(float), ANSWERS, ks=(1,))
    with pytest.raises(ParameterError, match="answers has 2 entries, expected 3"):
        rank_metrics(RANKED, ANSWERS[:2], ks=(1,))
    with pytest.raises(ParameterError, match="queries has 1 entries, expected 3"):
        rank_metrics(RANKED, ANSWERS, ks=(1,), queries=[1])
    with pytest.raises(DataError, match="no test cases"):
        rank_metrics(np.zeros((0, 3), int), np.zeros(0, int), ks=(1,))
    with pytest.raises(ParameterError, match="n_items must be an integer >= 1, got 0"):
        rank_metrics(RANKED, ANSWERS, ks=(1,), n_items=0)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_metrics_match_naive_loop(data):
    n, k = data.draw(st.integers(1, 8)), data.draw(st.integers(1, 6))
    ranked = np.array(
        data.draw(
            st.lists(st.lists(st.integers(-1, 7), min_size=k, max_size=k), min_size=n, max_size=n)
        )
    )
    answers = np.array(data.draw(st.lists(st.integers(0, 7), min_size=n, max_size=n)))
    queries = np.array(data.draw(st.lists(st.integers(0, 7), min_size=n, max_size=n)))
    m = rank_metrics(ranked, answers, ks=(k,), queries=queries)
    hr = ndcg = rr = 0.0
    for row, a, q in zip(ranked.tolist(), answers.tolist(), queries.tolist(), strict=True):
        rank = 1 if q == a else (row.index(a) + 1 if a in row else 0)
        if rank:
            hr, ndcg, rr = hr + 1, ndcg + 1 / math.log2(rank + 1), rr + 1 / rank
    assert m[f"HR@{k}"] == pytest.approx(hr / n)
    assert m[f"NDCG@{k}"] == pytest.approx(ndcg / n)
    assert m["MRR"] == pytest.approx(rr / n)


def test_intervals():
    lo, hi = t_interval(np.array([1.0, 2.0, 3.0]))
    assert (lo + hi) / 2 == pytest.approx(2.0)
    assert (hi - lo) / 2 == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)
    assert t_quantile(0.975, 1) == pytest.approx(12.7062, rel=1e-4)
    assert t_quantile(0.975, 30) == pytest.approx(2.0423, rel=1e-4)
    assert bootstrap_interval(np.full(50, 0.3)) == pytest.approx((0.3, 0.3))
    hits = (np.arange(1000) % 4 == 0).astype(float)
    a = bootstrap_interval(hits, n_boot=500, seed=1)
    assert a == bootstrap_interval(hits, n_boot=500, seed=1)
    assert a[0] < 0.25 < a[1] and a[1] - a[0] == pytest.approx(2 * 1.96 * 0.0137, rel=0.2)
    with pytest.raises(ParameterError, match="values must be 1-D with >= 2 entries"):
        t_interval(np.array([1.0]))
    with pytest.raises(ParameterError, match="level must be in"):
        t_interval(np.array([1.0, 2.0]), level=1.5)
    with pytest.raises(ParameterError, match="values must be 1-D and non-empty"):
        bootstrap_interval(np.zeros(0))
    with pytest.raises(ParameterError, match="n_boot must be an integer >= 1, got 0"):
        bootstrap_interval(hits, n_boot=0)
