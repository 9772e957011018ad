"""Index benchmarks: queries/second and recall@10 of approximate FAISS indexes vs exact search.

Catalogues are seeded gaussian mixtures (1,000 clusters, 64 dims, within-cluster spread 1.0
around unit-normal centres) of 100k and 1M items; 1,000 held-out queries from the same
mixture; cosine metric. Exact search (``IndexFlatIP``) is the peer, timed in the same run.
Built indexes are cached per module, so each is built once (HNSW on 1M x 64 takes minutes on
2 cores). Run::

    OMP_WAIT_POLICY=PASSIVE pytest benchmarks/test_bench_index.py --benchmark-only -s

(``-s`` prints the summary table; ``OMP_WAIT_POLICY=PASSIVE`` stops idle OpenMP threads from
spinning, which matters when other work shares the cores.)

``I2V_BENCH_INDEX_SIZES=100000`` restricts the sizes (comma separated).
"""

from __future__ import annotations

import os
import time

import faiss
import numpy as np
import pytest

from item2vec.data.datasets import vector_clusters
from item2vec.queries.index import ItemIndex

DIM = 64
N_QUERIES = 1000  # batch
N_SINGLE = 200  # one-at-a-time queries
K = 10
SIZES = [int(s) for s in os.environ.get("I2V_BENCH_INDEX_SIZES", "100000,1000000").split(",")]
BUILD = {  # build knobs (the class defaults, spelled out)
    "hnsw": {"kind": "hnsw", "hnsw_m": 32, "ef_construction": 80},
    "ivf": {"kind": "ivf"},
    "ivfpq": {"kind": "ivfpq", "rerank": 10},
}
VARIANTS = {  # name: (built index, search knobs); {} = the class defaults
    "hnsw": ("hnsw", {}),
    "hnsw-ef64": ("hnsw", {"ef_search": 64}),
    "ivf": ("ivf", {}),
    "ivf-nprobe16": ("ivf", {"nprobe": 16}),
    "ivfpq": ("ivfpq", {}),
    "ivfpq-nprobe16": ("ivfpq", {"nprobe": 16}),
}
RESULTS: dict[tuple[int, str], dict] = {}


def clustered(n: int, n_queries: int = N_QUERIES, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded gaussian mixture: vectors (n, 64) and held-out queries (n_queries, 64), float32."""
    return vector_clusters(n, dim=DIM, n_clusters=1000, spread=1.0, n_queries=n_queries, seed=seed)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    hits = (found[:, :, None] == truth[:, None, :]).any(axis=2).sum()
    return float(hits / truth.size)


def timed(fn, *args, repeat: int = 1) -> tuple[float, object]:
    """Best wall time of ``repeat`` calls and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t)
    return best, out


def single_queries(index: ItemIndex, q: np.ndarray) -> np.ndarray:
    return np.stack([index.search(qi, K)[0] for qi in q])


class Catalogue:
    """One size: data, the exact peer (timed once) and a cache of built indexes."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.x, self.q = clustered(n)
        t = time.perf_counter()
        self.exact = ItemIndex(self.x, kind="exact")
        self.exact_build = time.perf_counter() - t
        t_batch, (self.truth, _) = timed(self.exact.search, self.q, K, repeat=2)
        self.exact_qps = N_QUERIES / t_batch
        t_single, _ = timed(single_queries, self.exact, self.q[:N_SINGLE])
        self.exact_single_qps = N_SINGLE / t_single
        self.built: dict[str, tuple[ItemIndex, float]] = {}
        self.defaults: dict[str, dict[str, int]] = {}

    def index(self, variant: str) -> tuple[ItemIndex, float, str]:
        """The built index of a variant with its search knobs set, its build time, knobs."""
        name, knobs = VARIANTS[variant]
        if name not in self.built:
            t = time.perf_counter()
            index = ItemIndex(self.x, **BUILD[name])
            self.built[name] = (index, time.perf_counter() - t)
            self.defaults[name] = {"ef_search": index.ef_search, "nprobe": index.nprobe}
        index, build_s = self.built[name]
        knobs = {**self.defaults[name], **knobs}
        index.ef_search, index.nprobe = knobs["ef_search"], knobs["nprobe"]
        shown = f"ef_search={index.ef_search}" if name == "hnsw" else f"nprobe={index.nprobe}"
        if name != "hnsw":
            shown += f" of nlist={index.params.nlist}"
        if name == "ivfpq":
            shown += f", pq_m={index.params.pq_m}, rerank={index.rerank}"
        return index, build_s, shown


def mib_per_million(index: ItemIndex, n: int) -> float:
    return faiss.serialize_index(index._index).nbytes / n * 1e6 / 2**20


@pytest.fixture(scope="module")
def catalogues():
    cache: dict[int, Catalogue] = {}
    print(f"\nload average at the start: {os.getloadavg()}")

    def get(n: int) -> Catalogue:
        if n not in cache:
            cache[n] = Catalogue(n)
        return cache[n]

    yield get
    print_summary()


def record(benchmark, n: int, name: str, **figures) -> None:
    RESULTS.setdefault((n, name), {}).update(figures)
    benchmark.extra_info.update({k: round(v, 4) for k, v in figures.items()})


@pytest.mark.parametrize("n", SIZES)
def test_exact(benchmark, catalogues, n):
    cat = catalogues(n)
    rows, _ = benchmark.pedantic(cat.exact.search, (cat.q, K), rounds=1, iterations=1)
    record(  # the peer's figures are those taken with the ground truth (best of 2 batches)
        benchmark,
        n,
        "exact",
        build_s=cat.exact_build,
        qps_batch=cat.exact_qps,
        qps_single=cat.exact_single_qps,
        recall=recall_at_k(rows, cat.truth),
        ratio_batch=1.0,
        ratio_single=1.0,
        mib_per_million=mib_per_million(cat.exact, n),
    )


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("n", SIZES)
def test_approximate_batch(benchmark, catalogues, n, variant):
    cat = catalogues(n)
    index, build_s, knobs = cat.index(variant)
    rows, _ = benchmark.pedantic(index.search, (cat.q, K), rounds=3, iterations=1)
    qps = N_QUERIES / benchmark.stats.stats.min
    record(
        benchmark,
        n,
        variant,
        build_s=build_s,
        qps_batch=qps,
        recall=recall_at_k(rows, cat.truth),
        ratio_batch=qps / cat.exact_qps,
        mib_per_million=mib_per_million(index, n),
    )
    RESULTS[n, variant]["knobs"] = knobs


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("n", SIZES)
def test_approximate_single(benchmark, catalogues, n, variant):
    cat = catalogues(n)
    index, _, knobs = cat.index(variant)
    q = cat.q[:N_SINGLE]
    rows = benchmark.pedantic(single_queries, (index, q), rounds=3, iterations=1)
    qps = N_SINGLE / benchmark.stats.stats.min
    record(
        benchmark,
        n,
        variant,
        qps_single=qps,
        recall_single=recall_at_k(rows, cat.truth[:N_SINGLE]),
        ratio_single=qps / cat.exact_single_qps,
    )
    RESULTS[n, variant]["knobs"] = knobs


def print_summary() -> None:
    head = (
        "| items | index | knobs | build s | QPS batch | x exact | QPS single | x exact | "
        "recall@10 | MiB / M items |"
    )
    lines = [head, "|" + "---|" * 10]
    order = ["exact", *VARIANTS]
    for (n, name), r in sorted(RESULTS.items(), key=lambda kv: (kv[0][0], order.index(kv[0][1]))):
        lines.append(
            f"| {n:,} | {name} | {r.get('knobs', '')} | {r.get('build_s', 0):.1f} | "
            f"{r.get('qps_batch', 0):,.0f} | {r.get('ratio_batch', 0):.1f} | "
            f"{r.get('qps_single', 0):,.0f} | {r.get('ratio_single', 0):.1f} | "
            f"{r.get('recall', 0):.3f} | {r.get('mib_per_million', 0):,.0f} |"
        )
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    lines.append(f"\nload average at the end (1, 5, 15 min): {load}; cores: {os.cpu_count()}")
    print("\n" + "\n".join(lines))
