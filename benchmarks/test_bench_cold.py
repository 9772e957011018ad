"""Cold items: next items never seen in training, ranked from their attributes.

    pytest benchmarks/test_bench_cold.py --benchmark-only -s

Logs, each with attributes:

* ``customers`` / ``baskets``: Online Retail (one history per customer / one session per
  invoice); attributes: the words of each product's description
  (:func:`item2vec.data.datasets.retail_features`);
* ``clusters``: ``datasets.synthetic`` (2,000 items in 20 planted clusters, 20,000
  sessions); attributes: the item's cluster, replaced by a random one for 20% of the items,
  and two uninformative tags (:func:`item2vec.data.datasets.synthetic_features`).

Per log and seed: :func:`item2vec.evaluation.cold.cold_split` holds 10% of the items out of
training entirely (2,000 test cases at most), ``Item2Vec(seed=seed)`` with its defaults is
fitted with ``item_features=`` and answers with ``recommend_batch(..., allowed=...)`` (its
default score), beside the four baselines. Reported per log: HR@10 among the cold items
and among all items (mean over the seeds' cases, 95% bootstrap), and the paired difference
to the best baseline, case by case, with its 95% bootstrap interval; plus the fit time with
and without attributes (same sessions, same seed). ``ITEM2VEC_BENCH_SEEDS`` (default 5) and
``ITEM2VEC_BENCH_LOGS`` narrow the run; results go to ``.benchmarks/cold/`` as JSON.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import time
from pathlib import Path

import pytest

import item2vec as i2v
from item2vec.data.datasets import retail_features, synthetic_features
from item2vec.evaluation.cold import compare_cold

SEEDS = tuple(range(int(os.environ.get("ITEM2VEC_BENCH_SEEDS", "5"))))
LOGS = os.environ.get("ITEM2VEC_BENCH_LOGS", "customers,baskets,clusters").split(",")
OUT = Path(".benchmarks/cold")


def _log(name: str):
    if name == "clusters":
        data = i2v.datasets.synthetic(n_items=2000, n_clusters=20, n_sessions=20_000, seed=0)
        return data.sessions, synthetic_features(data, noise=0.2, tags=2, seed=0)
    rd = i2v.datasets.online_retail(name)
    return rd.sessions, retail_features(rd.descriptions, rd.sessions.vocabulary.ids)


def _model(train, features, seed):
    fitted = i2v.Item2Vec(seed=seed, progress=False).fit(train, item_features=features)
    return lambda histories, k, allowed: fitted.recommend_batch(histories, k, allowed=allowed)[0]


def _fit_seconds(sessions, features) -> tuple[float, float]:
    """Fit time (best of 2) without and with attributes, on the same sessions and seed."""
    times = {False: [], True: []}
    for _ in range(2):
        for with_features in (False, True):
            t = time.perf_counter()
            i2v.Item2Vec(seed=0, progress=False).fit(
                sessions, item_features=features if with_features else None
            )
            times[with_features].append(time.perf_counter() - t)
    return min(times[False]), min(times[True])


@pytest.mark.parametrize("log", LOGS)
def test_cold_items(benchmark, log):
    sessions, features = _log(log)

    def run():
        return compare_cold(_model, sessions, features, SEEDS)

    tables = benchmark.pedantic(run, rounds=1, iterations=1)
    plain, with_features = _fit_seconds(sessions, features)
    record = {
        "log": log,
        "seeds": list(SEEDS),
        "date": datetime.date.today().isoformat(),
        "machine": platform.processor() or platform.machine(),
        "fit seconds": {"without attributes": plain, "with attributes": with_features},
        **{among: json.loads(t.to_json(orient="index")) for among, t in tables.items()},
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{log}.json").write_text(json.dumps(record, indent=1))
    for among, t in tables.items():
        row = t.loc["item2vec"]
        print(
            f"\n{log}, among {among}: item2vec HR@10 {row['HR@10']:.3f}, best baseline "
            f"{row['best baseline']} {t.loc[row['best baseline'], 'HR@10']:.3f}, diff "
            f"{row['HR@10 diff']:+.3f} ({row['HR@10 diff low']:+.3f} to "
            f"{row['HR@10 diff high']:+.3f}), {int(row['n_cases'])} cases"
        )
        print(t[["HR@10", "HR@20", "n_cases"]].round(3).to_string())
    print(f"fit {plain:.1f} s without attributes, {with_features:.1f} s with")
    benchmark.extra_info.update(
        cold_hr10=float(tables["cold"].loc["item2vec", "HR@10"]),
        cold_diff=float(tables["cold"].loc["item2vec", "HR@10 diff"]),
        fit_ratio=with_features / plain,
    )
