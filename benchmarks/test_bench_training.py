"""Training speed and quality vs gensim Word2Vec(sg=1), same data, same hyperparameters.

    pytest benchmarks/test_bench_training.py --benchmark-only -s

On the bundled Online Retail customer histories, next-event split (2,000 held-out
customers, seed 0). Both get the same dim, window, negatives, sample, ns_exponent, epochs
and 2 threads; each is trained ``ROUNDS`` times, alternating, and the median wall time of
the whole fit is compared. Positive couples per second use the couples our sampler drew
(gensim draws from the same window/subsampling distribution, so the expected count is the
same for both).

``ITEM2VEC_BENCH_PARAMS`` (JSON) overrides hyperparameters, e.g.
``ITEM2VEC_BENCH_PARAMS='{"dim": 128, "window": 5}'``.
"""

from __future__ import annotations

import json
import os
import platform
import time

import numpy as np
import pytest

from item2vec import Item2Vec, datasets
from item2vec.evaluation.protocols import (
    evaluate,
    gensim_recommender,
    next_event_split,
    vector_recommender,
)

pytest.importorskip("gensim")

ROUNDS = int(os.environ.get("ITEM2VEC_BENCH_ROUNDS", 3))
PARAMS = dict(dim=64, window=3, negatives=5, ns_exponent=0.75, sample=1e-3, epochs=10)
PARAMS.update(json.loads(os.environ.get("ITEM2VEC_BENCH_PARAMS", "{}")))


@pytest.fixture(scope="module")
def split():
    sessions = datasets.online_retail("customers").sessions
    return next_event_split(sessions, n_test=2000, seed=0)


def _ours(split, seed):
    t0 = time.perf_counter()
    model = Item2Vec(**PARAMS, workers=2, progress=False, seed=seed).fit(split.train)
    seconds = time.perf_counter() - t0
    known = split.train.vocabulary.counts > 0
    metrics = evaluate(vector_recommender(model.item_vectors_, known=known), split, ks=(10,))
    couples = sum(h["couples"] for h in model.history_)
    return seconds, couples, metrics


def _gensim(split, seed):
    t0 = time.perf_counter()
    rec, _ = gensim_recommender(split.train, **PARAMS, workers=2, seed=seed)
    seconds = time.perf_counter() - t0
    return seconds, evaluate(rec, split, ks=(10,))


def test_training_vs_gensim(benchmark, split):
    ours, theirs = [], []
    # warm-up: TensorFlow start-up and the step's tracing, which later fits of the same
    # shapes share, are paid once per process; reported apart as the first fit
    first_fit = _ours(split, 99)[0]
    for r in range(ROUNDS):
        theirs.append(_gensim(split, r))
        ours.append(_ours(split, r))
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    t_ours = float(np.median([o[0] for o in ours]))
    t_gensim = float(np.median([g[0] for g in theirs]))
    couples = float(np.median([o[1] for o in ours]))
    res = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        # benchmarks/conftest.py: one TensorFlow thread per op unless set to "default"
        "tensorflow_threads": os.environ.get("ITEM2VEC_BENCH_TF_THREADS", "one per op"),
        "rounds": ROUNDS,
        "params": PARAMS,
        "item2vec_first_fit_seconds": first_fit,
        "item2vec_seconds": t_ours,
        "gensim_seconds": t_gensim,
        "wall_time_ratio": t_ours / t_gensim,
        "positive_couples": couples,
        "item2vec_couples_per_s": couples / t_ours,
        "gensim_couples_per_s": couples / t_gensim,
    }
    for name, runs in (("item2vec", [o[2] for o in ours]), ("gensim", [g[1] for g in theirs])):
        for m in ("HR@10", "NDCG@10"):
            vals = [r[m] for r in runs]
            res[f"{name}_{m}"] = float(np.mean(vals))
            res[f"{name}_{m}_sd"] = float(np.std(vals))
    benchmark.extra_info.update(res)
    print(json.dumps(res, indent=2))
    assert res["item2vec_HR@10"] > 0.1 and res["gensim_HR@10"] > 0.1  # both really trained
