"""Negative-sampler tables: build time of the alias table vs an inverse-CDF table, draw rates.

For a Zipf(1.3) count vector of 1 M and 10 M items at ``ns_exponent=0.75``, in the same run:

* ``NegativeSampler(counts, 0.75)``: weights in log space plus the Walker alias table
  (:func:`item2vec.sampling.negatives.alias_table`, vectorised, exact);
* the peer: the table inverse-CDF sampling needs (``np.cumsum`` of the same probabilities), which
  is what ``numpy.random.Generator.choice(p=...)`` builds on every call;
* draws of 10 M negatives from each table (alias: one variate and two gathers per draw;
  inverse CDF: a binary search per draw).

Run::

    pytest benchmarks/test_bench_negatives.py --benchmark-only -s
"""

from __future__ import annotations

import numpy as np
import pytest

from item2vec.sampling.negatives import NegativeSampler

DRAWS = 10_000_000
RESULTS: dict[str, float] = {}


@pytest.fixture(scope="module", params=[1_000_000, 10_000_000], ids=["1M-items", "10M-items"])
def counts(request) -> np.ndarray:
    return np.random.default_rng(0).zipf(1.3, request.param)


@pytest.fixture(scope="module", autouse=True)
def summary():
    yield
    for key, seconds in sorted(RESULTS.items()):
        print(f"{key:32s} {seconds:8.3f} s")


def test_alias_build(benchmark, counts):
    benchmark.pedantic(NegativeSampler, args=(counts, 0.75), rounds=3, iterations=1)
    RESULTS[f"alias build {len(counts):>10,}"] = benchmark.stats.stats.min


def test_cdf_build(benchmark, counts):
    p = NegativeSampler(counts, 0.75).probabilities
    benchmark.pedantic(np.cumsum, args=(p,), rounds=3, iterations=1)
    RESULTS[f"cdf build   {len(counts):>10,}"] = benchmark.stats.stats.min


def test_alias_draws(benchmark, counts):
    ns = NegativeSampler(counts, 0.75)
    rng = np.random.default_rng(0)
    benchmark.pedantic(ns.sample, args=(DRAWS, rng), rounds=3, iterations=1)
    RESULTS[f"alias 10M draws {len(counts):>10,}"] = benchmark.stats.stats.min


def test_cdf_draws(benchmark, counts):
    cdf = np.cumsum(NegativeSampler(counts, 0.75).probabilities)
    rng = np.random.default_rng(0)

    def draw():
        return np.searchsorted(cdf, rng.random(DRAWS) * cdf[-1], side="right")

    benchmark.pedantic(draw, rounds=3, iterations=1)
    RESULTS[f"cdf 10M draws   {len(counts):>10,}"] = benchmark.stats.stats.min
