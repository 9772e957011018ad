"""Peak memory while training from a Parquet corpus that grows 10x.

Synthetic planted-cluster logs (``datasets.synthetic(n_items=100_000)``, 10 events per
session on average) are written to Parquet with a session and an item column (int64),
sorted by session, in row groups of 1,000,000 rows. Every measurement runs in a fresh
subprocess (under a hard timeout) and reports its peak RSS (``VmHWM`` of
``/proc/self/status``: imports and everything; not ``ru_maxrss``, which a child inherits
from its parent's high-water mark) next to the RSS right after the imports:

* ``scan``: ``ParquetCorpus(...)`` (the vocabulary pass);
* ``stream``: the scan plus one epoch of ``ParquetCorpus.stream_units`` (word2vec defaults:
  window 5 shrunk, 5 negatives, sample 1e-3; batches of 8,192 units, chunk_events 1M),
  sampler only;
* ``train``: the scan plus one epoch of training (``train_distributed`` as a single worker,
  dim 64), for the smaller sizes only: on 2 cores an epoch of 50 M events takes too long;
* peer ``in-memory``: ``Sessions.from_parquet`` plus one epoch of ``stream_units``, the same
  sampler on the corpus held in memory.

Run::

    pytest benchmarks/test_bench_memory.py --benchmark-only -s   # -s prints the summary

``I2V_BENCH_MEMORY_EVENTS`` (comma separated, default ``5000000,50000000``) sets the sizes
of the stream benchmarks and ``I2V_BENCH_MEMORY_TRAIN_EVENTS`` (default
``500000,5000000``) those of the training one; ``I2V_BENCH_DATA`` keeps the generated
Parquet files in that folder between runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

EVENTS = [int(s) for s in os.environ.get("I2V_BENCH_MEMORY_EVENTS", "5000000,50000000").split(",")]
TRAIN_EVENTS = [
    int(s) for s in os.environ.get("I2V_BENCH_MEMORY_TRAIN_EVENTS", "500000,5000000").split(",")
]
N_ITEMS = 100_000
ROW_GROUP = 1_000_000
TIMEOUT = 1800  # seconds per measurement subprocess
RESULTS: dict[str, dict] = {}


def write_log(path: str, n_events: int, seed: int = 0) -> int:
    """Write about ``n_events`` synthetic events to ``path``, 5 M at a time; returns rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from item2vec import datasets

    schema = pa.schema([("session", pa.int64()), ("item", pa.int64())])
    rows, first_session, part = 0, 0, 0
    with pq.ParquetWriter(path, schema) as writer:
        while rows < n_events:
            n_sessions = max(1, min(500_000, (n_events - rows) // 10))
            d = datasets.synthetic(n_items=N_ITEMS, n_sessions=n_sessions, seed=seed + part)
            s = d.sessions
            session = np.repeat(np.arange(n_sessions, dtype=np.int64) + first_session, s.lengths)
            item = s.vocabulary.ids[s.items].astype(np.int64)
            writer.write_table(
                pa.table({"session": session, "item": item}, schema=schema),
                row_group_size=ROW_GROUP,
            )
            rows += len(item)
            first_session += n_sessions
            part += 1
    return rows


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> str:
    where = os.environ.get("I2V_BENCH_DATA")
    if where:
        os.makedirs(where, exist_ok=True)
        return where
    return str(tmp_path_factory.mktemp("memory-bench"))


def log_for(data_dir: str, n_events: int) -> str:
    path = os.path.join(data_dir, f"synthetic-{n_events}.parquet")
    if not os.path.exists(path):
        write_log(path + ".tmp", n_events)
        os.replace(path + ".tmp", path)
    return path


@pytest.fixture(scope="module", autouse=True)
def summary():
    yield
    if RESULTS:
        print("\n\nmemory benchmark summary (peak RSS of a fresh process)")
        for name, r in RESULTS.items():
            print(f"  {name:34s} " + "  ".join(f"{k}={v}" for k, v in r.items()))


SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "train":
        import tensorflow as tf  # noqa: F401 (imports count in the baseline)
        from item2vec.config import Config
        from item2vec.distributed import train_distributed
    from item2vec.sampling.corpus import ParquetCorpus
    from item2vec.data.sessions import Sessions
    from item2vec.sampling import stream_units

    def rss(key):
        with open("/proc/self/status") as f:
            return next(int(x.split()[1]) * 1024 for x in f if x.startswith(key))

    W2V = dict(window=5, negatives=5, ns_exponent=0.75, sample=1e-3)
    base = rss("VmRSS:")
    t = time.perf_counter()
    units = positives = 0
    if mode == "train":
        config = Config(dim=64, epochs=1, batch_size=8192, **W2V)
        r = train_distributed(path, session="session", item="item", config=config, out=None,
                              aggregation="sparse")
        events, couples = r.shard_events, r.history[-1]["couples"]
        positives = couples
    else:
        if mode == "in-memory":
            corpus = Sessions.from_parquet(path, session="session", item="item")
            events = corpus.n_events
            batches = stream_units(corpus, batch_size=8192, seed=0, **W2V)
        else:
            corpus = ParquetCorpus(path, session="session", item="item")
            events = corpus.n_events
            batches = corpus.stream_units(batch_size=8192, seed=0, **W2V)
        if mode != "scan":
            for b in batches:
                units += len(b)
                positives += b.n_positive
    seconds = time.perf_counter() - t
    # VmHWM, not ru_maxrss: a child's ru_maxrss starts at its parent's high-water mark
    # (here the pytest process, TensorFlow imported), so small peaks read as the parent's
    with open("/proc/self/status") as f:
        peak = next(int(x.split()[1]) * 1024 for x in f if x.startswith("VmHWM:"))
    print(json.dumps(dict(events=events, base=base, peak=peak, seconds=seconds, units=units,
                          positives=positives)))
    """
)


def measure(benchmark, mode: str, path: str) -> dict:
    def run() -> dict:
        args = [sys.executable, "-c", SCRIPT, mode, path]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        env.pop("TF_CONFIG", None)
        out = subprocess.run(
            args, check=True, capture_output=True, text=True, timeout=TIMEOUT, env=env
        ).stdout
        return json.loads(out.strip().splitlines()[-1])

    r = benchmark.pedantic(run, rounds=1, iterations=1)
    mib = 1 << 20
    info = dict(
        events=r["events"],
        base_rss_MiB=round(r["base"] / mib),
        peak_rss_MiB=round(r["peak"] / mib),
        seconds=round(r["seconds"], 1),
    )
    if r["positives"]:
        info["positives_per_s"] = round(r["positives"] / r["seconds"])
    benchmark.extra_info.update(info)
    RESULTS[f"{mode} {r['events'] / 1e6:.1f}M events"] = info
    return info


@pytest.mark.parametrize("n_events", EVENTS, ids=lambda n: f"{n / 1e6:g}M-events")
@pytest.mark.parametrize("mode", ["scan", "stream", "in-memory"])
def test_stream_peak_rss(benchmark, data_dir, mode, n_events):
    measure(benchmark, mode, log_for(data_dir, n_events))


@pytest.mark.parametrize("n_events", TRAIN_EVENTS, ids=lambda n: f"{n / 1e6:g}M-events")
def test_train_peak_rss(benchmark, data_dir, n_events):
    pytest.importorskip("tensorflow")
    measure(benchmark, "train", log_for(data_dir, n_events))
