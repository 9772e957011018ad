"""Queries at catalogue scale: fit, counts, save, load + first answer, per-score latency of
``recommend(history of 5)``, ``recommend_batch`` throughput and its peak memory.

Synthetic planted-cluster logs (``datasets.synthetic``, about 10 events per session) of
10k, 100k and 1M items (``I2V_BENCH_QUERY_ITEMS``, comma separated; 1M is on by default),
``I2V_BENCH_QUERY_EVENTS_PER_ITEM`` events per item (default 5; at most 5 M events), dim
64, one epoch, index ``"ivf"`` from 100k items (HNSW takes minutes to build at 1M on two
cores; exact search below). Each size runs in two fresh subprocesses:

* ``train``: fit, the neighbour counts (first access), one query per score (so that each
  score's index is built, and timed), save (the indexes go into the model directory);
* ``query``: load and the first default-score answer; then 200 histories of 5 items (the
  last 5 items before a session's last) one at a time per score (p50 / p99 after a warm-up
  of 20), and ``recommend_batch`` of 10,000 histories: histories per second and peak RSS
  above the loaded model (``VmHWM`` reset through ``/proc/self/clear_refs`` after load);
  plus, at 100k items and below, the agreement of the default score's top 10 with
  ``exact=True`` on 200 histories.

Run::

    pytest benchmarks/test_bench_queries.py --benchmark-only -s
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

ITEMS = [int(s) for s in os.environ.get("I2V_BENCH_QUERY_ITEMS", "10000,100000,1000000").split(",")]
PER_ITEM = int(os.environ.get("I2V_BENCH_QUERY_EVENTS_PER_ITEM", "5"))
TIMEOUT = 3600
RESULTS: dict[int, dict] = {}

COMMON = """
import json, os, sys, time
import numpy as np
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from item2vec.training.train import configure_threads
configure_threads()
import item2vec as i2v
from item2vec import datasets

def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024
n_items, events, where = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
data = datasets.synthetic(n_items=n_items, n_sessions=max(1000, events // 10), seed=0)
s = data.sessions
end = s.offsets[1:][s.lengths >= 6]
hist_rows = s.items[end[:, None] - 6 + np.arange(5)]
ids = s.vocabulary.ids
histories = [ids[r].tolist() for r in hist_rows[:10_000]]
out = {}
"""

TRAIN = """
kind = "ivf" if n_items >= 100_000 else "auto"
t = time.perf_counter()
model = i2v.Item2Vec(dim=64, epochs=1, progress=False, seed=0, index=kind).fit(s)
out["fit_s"] = time.perf_counter() - t
t = time.perf_counter(); _ = model.neighbour_counts_; out["counts_s"] = time.perf_counter() - t
for score in ("blend", "log_prob", "logit", "cosine"):
    t = time.perf_counter(); model.recommend(histories[0], 10, score=score)
    out[f"first_{score}_s"] = time.perf_counter() - t
t = time.perf_counter(); model.save(where); out["save_s"] = time.perf_counter() - t
out["indexes"] = model._query_engine().built
out["events"] = int(s.n_events)
print(json.dumps(out))
"""

QUERY = """
t = time.perf_counter()
model = i2v.Item2Vec.load(where)
out["load_s"] = time.perf_counter() - t
model.recommend(histories[0], 10)
out["first_answer_s"] = time.perf_counter() - t
out["default_score"] = model.default_score_
for score in ("blend", "log_prob", "logit", "cosine"):
    for h in histories[1:21]:
        model.recommend(h, 10, score=score)
    times = []
    for h in histories[21:221]:
        t = time.perf_counter(); model.recommend(h, 10, score=score)
        times.append(time.perf_counter() - t)
    out[f"{score}_p50_ms"] = float(np.percentile(times, 50) * 1e3)
    out[f"{score}_p99_ms"] = float(np.percentile(times, 99) * 1e3)
before = rss("VmRSS:")
open("/proc/self/clear_refs", "w").write("5")  # VmHWM := VmRSS
t = time.perf_counter()
model.recommend_batch(histories, 10)
out["batch_s"] = time.perf_counter() - t
out["batch_histories"] = len(histories)
out["batch_per_s"] = len(histories) / out["batch_s"]
out["batch_peak_above_mb"] = rss("VmHWM:") - before
out["loaded_rss_mb"] = before
if n_items <= 100_000:
    got = model.recommend_batch(histories[:200], 10)[0]
    want = model.recommend_batch(histories[:200], 10, exact=True)[0]
    out["top10_agreement"] = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, want)]))
print(json.dumps(out))
"""


def run(script: str, n_items: int, where: str) -> dict:
    events = min(5_000_000, PER_ITEM * n_items)
    code = textwrap.dedent(COMMON) + textwrap.dedent(script)
    done = subprocess.run([sys.executable, "-c", code, str(n_items), str(events), where],
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("n_items", ITEMS)
def test_queries_at_scale(benchmark, n_items, tmp_path):
    where = str(tmp_path / "model")

    def measure() -> dict:
        return {**run(TRAIN, n_items, where), **run(QUERY, n_items, where)}

    result = benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    RESULTS[n_items] = result
    print(f"\n{n_items} items: {json.dumps(result)}")
