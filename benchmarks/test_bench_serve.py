"""Serving load benchmark: requests/s and p50/p99 latency of ``item2vec serve`` on loopback.

    pytest benchmarks/test_bench_serve.py --benchmark-only -s
    pytest benchmarks/test_bench_serve.py --benchmark-only -s -m slow   # the 1M-item model

The server is the real one (``python -m item2vec.serving`` in a subprocess, default options
but the limits); the load comes from this process: ``clients`` threads, each on its own
keep-alive connection, sending the next request as soon as the previous answer is read
(closed loop). Each level stops after ``ITEM2VEC_BENCH_SERVE_REQUESTS`` requests (default
4,000) or ``ITEM2VEC_BENCH_SERVE_SECONDS`` seconds (default 5), whichever comes first. The
clients run on the same cores as the server: on a 2-core machine they take a share of the
CPU the server could use, so the figures are a floor for what remote clients would see.

Measured, on the Online Retail model (``online_retail("customers")``, 3.7 k items, 64
dims, one epoch: the answers' cost does not depend on the training length):

- ``/similar?item=ID&k=10`` and ``/recommend`` with a 5-item history, ``k=10`` and the
  default score (``blend``), at 1, 8 and 32 clients (ids drawn from the vocabulary);
- the same two at 8 clients with ``--threads`` 1, 2 and 4 (how it scales with threads);
- 8 clients on ``/recommend`` while ``/reload`` is called back to back, and the reloads'
  own time (as ``/reload`` answers it: load, verify, warm);
- start to first answer: from ``Popen`` to the first 200 of ``/similar`` (polled every
  10 ms), and to the ready line.

The slow test does the same on a 1M-item synthetic model (a gaussian mixture written as a
model directory, saved again with its IVF index, ``index="auto"``; no neighbour counts, so
``recommend`` uses ``log_prob``). Results go to ``.benchmarks/serve/`` as JSON.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import warnings
from pathlib import Path

import numpy as np
import pytest

import item2vec as i2v
from item2vec.serving.client import Client, ServerProcess

REQUESTS = int(os.environ.get("ITEM2VEC_BENCH_SERVE_REQUESTS", 4000))
SECONDS = float(os.environ.get("ITEM2VEC_BENCH_SERVE_SECONDS", 5))
CLIENTS = (1, 8, 32)
THREADS = (1, 2, 4)
HISTORY = 5
K = 10
OUT = Path(os.environ.get("ITEM2VEC_BENCH_OUT", ".benchmarks/serve"))  # git-ignored
RESULTS: dict[str, dict] = {}


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return platform.processor() or "unknown"
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


# ---------------------------------------------------------------------------- load generator
def _request(method: str, path: str, body: dict | None = None) -> bytes:
    data = b"" if body is None else json.dumps(body).encode()
    head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {len(data)}\r\n"
    return (head + "Content-Type: application/json\r\n\r\n").encode() + data


class RawClient:
    """Keep-alive HTTP/1.1 over a socket with pre-built requests: the least client CPU."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def send(self, request: bytes) -> int:
        """Send one request, read its whole answer; returns the status."""
        self.sock.sendall(request)
        while b"\r\n\r\n" not in self.buffer:
            self._read()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in lines
            if line.lower().startswith(b"content-length")
        )
        while len(self.buffer) < length:
            self._read()
        self.buffer = self.buffer[length:]
        return int(lines[0].split()[1])

    def _read(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buffer += chunk

    def close(self) -> None:
        self.sock.close()


def load(url: str, requests: list[bytes], clients: int, *, limit: int = REQUESTS,
         seconds: float = SECONDS, during=None) -> dict:  # fmt: skip
    """``clients`` closed-loop clients cycling through ``requests`` until ``limit``
    requests in all or ``seconds``; ``during()`` runs meanwhile in this thread (a reload
    loop) and ends the run when it returns."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures = [0] * clients
    stop = threading.Event()
    budget = iter(range(limit))
    lock = threading.Lock()

    def worker(i: int) -> None:
        client, n = RawClient(url), i
        try:
            while not stop.is_set():
                with lock:
                    if next(budget, None) is None and during is None:
                        break
                start = time.perf_counter()
                status = client.send(requests[n % len(requests)])
                latencies[i].append(time.perf_counter() - start)
                failures[i] += status != 200
                n += clients
        except OSError:
            failures[i] += 1
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    extra = None
    if during is not None:
        extra = during()
        stop.set()
    else:
        deadline = start + seconds
        while any(t.is_alive() for t in threads) and time.perf_counter() < deadline:
            time.sleep(0.01)
        stop.set()
    for t in threads:
        t.join(60)
    wall = time.perf_counter() - start
    lat = np.concatenate([np.asarray(x) for x in latencies]) * 1000
    out = {
        "clients": clients,
        "requests": int(lat.size),
        "failed": int(sum(failures)),
        "seconds": round(wall, 2),
        "rps": round(lat.size / wall, 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 2),
        "p99_ms": round(float(np.percentile(lat, 99)), 2),
    }
    if extra:
        out.update(extra)
    return out


def workload(ids: list, seed: int = 0, n: int = 2000) -> dict[str, list[bytes]]:
    """Pre-built requests: ``similar`` on random items, ``recommend`` on random 5-item
    histories."""
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(ids), (n, HISTORY))
    quote = urllib.parse.quote
    return {
        "similar": [_request("GET", f"/similar?item={quote(str(ids[r[0]]))}&k={K}") for r in pick],
        "recommend": [
            _request("POST", "/recommend", {"history": [ids[j] for j in r], "k": K}) for r in pick
        ],
    }


def start_server(model_dir: Path, *args: str) -> tuple[ServerProcess, dict]:
    """A started server, the seconds from Popen to its ready line and its /health."""
    server = ServerProcess(model_dir, *args).start(timeout=600)
    client = Client(server.url)
    _, health = client.get("/health")
    client.close()
    return server, {"ready_line_s": round(server.ready_seconds, 2), "health": health}


def time_to_first_answer(model_dir: Path, item: str) -> float:
    """Popen to the first 200 of ``/similar`` on ``--port PORT`` (a free port, polled)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [sys.executable, "-m", "item2vec.serving", str(model_dir), "--port", str(port)]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    path = f"/similar?item={urllib.parse.quote(item)}&k={K}"
    try:
        while proc.poll() is None and time.perf_counter() - start < 600:
            try:
                client = RawClient(f"http://127.0.0.1:{port}")
                status = client.send(_request("GET", path))
                client.close()
                if status == 200:
                    return round(time.perf_counter() - start, 2)
            except OSError:
                time.sleep(0.01)
        raise RuntimeError("the server never answered")
    finally:
        proc.terminate()
        proc.wait(30)


def reload_loop(url: str, seconds: float) -> dict:
    """POST /reload back to back for ``seconds``; the reloads' times."""
    client, times, refused = Client(url), [], 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        status, answer = client.post("/reload")
        if status == 200:
            times.append(answer["load_seconds"])
        else:
            refused += 1
    client.close()
    return {
        "reloads": len(times),
        "refused": refused,
        "reload_mean_s": round(float(np.mean(times)), 3) if times else None,
        "reload_max_s": round(float(np.max(times)), 3) if times else None,
    }


# ---------------------------------------------------------------------------- models
@pytest.fixture(scope="module")
def retail_model(tmp_path_factory) -> tuple[Path, list]:
    data = i2v.datasets.online_retail("customers")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one epoch is short on purpose
        model = i2v.Item2Vec(epochs=1, progress=False, descriptions=data.descriptions)
        model.fit(data.sessions)
    path = tmp_path_factory.mktemp("serve-bench") / "retail"
    model.save(path)
    return path, model.vocabulary_.ids.tolist()


def synthetic_model(path: Path, n: int = 1_000_000, dim: int = 64) -> list:
    """A model directory of ``n`` gaussian-mixture vectors with string ids (no training)."""
    from item2vec.data.datasets import vector_clusters
    from item2vec.io import save_model

    vectors, _ = vector_clusters(n, dim=dim, n_clusters=1000, seed=0)
    ids = np.asarray([f"s{i}" for i in range(n)], dtype=object)
    counts = np.sort(np.random.default_rng(0).zipf(1.5, n).astype(np.int64))[::-1].copy()
    config = {**i2v.Item2Vec(dim=dim, epochs=1).config().to_dict(), "epochs": 1}
    save_model(
        path,
        vectors=vectors,
        biases=np.zeros(n, np.float32),
        vocabulary=i2v.Vocabulary(ids, counts),
        config={**config, "index": "auto"},
        history=[],
    )
    model = i2v.Item2Vec.load(path)  # saved again with the index its queries need (IVF)
    model.save(path)
    return ids.tolist()


@pytest.fixture(scope="module", autouse=True)
def summary():
    yield
    if not RESULTS:
        return
    meta = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="minutes"),
        "load_average": os.getloadavg(),
        "requests_per_level": REQUESTS,
        "seconds_per_level": SECONDS,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    (OUT / f"serve-{stamp}.json").write_text(json.dumps({"meta": meta, **RESULTS}, indent=2))
    print(f"\n\nserving benchmark ({meta['cpu']}, {meta['cores']} cores, {meta['date']})")
    for name, r in RESULTS.items():
        print(f"  {name:36s} " + "  ".join(f"{k}={v}" for k, v in r.items()))


def run_levels(name: str, model_dir: Path, ids: list) -> None:
    """Every measurement of the module docstring on one model."""
    work = workload(ids)
    RESULTS[f"{name} start to first answer"] = {
        "first_answer_s": time_to_first_answer(model_dir, str(ids[0]))
    }
    server, info = start_server(model_dir, "--max-k", str(K))
    try:
        RESULTS[f"{name} start to first answer"]["ready_line_s"] = info["ready_line_s"]
        threads = info["health"]["threads"]
        for endpoint in ("similar", "recommend"):
            load(server.url, work[endpoint], 4, limit=200)  # warm-up
            for clients in CLIENTS:
                RESULTS[f"{name} {endpoint} c={clients} t={threads}"] = load(
                    server.url, work[endpoint], clients
                )
        RESULTS[f"{name} recommend c=8 during reloads"] = load(
            server.url, work["recommend"], 8, during=lambda: reload_loop(server.url, SECONDS)
        )
    finally:
        server.stop()


def run_threads(name: str, model_dir: Path, ids: list) -> None:
    work = workload(ids)
    for threads in THREADS:
        with ServerProcess(model_dir, "--threads", str(threads)) as server:
            for endpoint in ("similar", "recommend"):
                load(server.url, work[endpoint], 4, limit=200)
                RESULTS[f"{name} {endpoint} c=8 t={threads}"] = load(server.url, work[endpoint], 8)


def test_serve_online_retail(benchmark, retail_model):
    path, ids = retail_model
    benchmark.pedantic(lambda: run_levels("retail", path, ids), rounds=1, iterations=1)
    benchmark.extra_info.update({k: v for k, v in RESULTS.items() if k.startswith("retail")})
    assert all(r.get("failed", 0) == 0 for r in RESULTS.values())


def test_serve_online_retail_threads(benchmark, retail_model):
    path, ids = retail_model
    benchmark.pedantic(lambda: run_threads("retail", path, ids), rounds=1, iterations=1)
    assert all(r.get("failed", 0) == 0 for r in RESULTS.values())


@pytest.mark.slow
def test_serve_1m_items(benchmark, tmp_path):
    path = tmp_path / "synthetic-1m"
    ids = synthetic_model(path)
    benchmark.pedantic(lambda: run_levels("1M", path, ids), rounds=1, iterations=1)
    assert all(r.get("failed", 0) == 0 for r in RESULTS.values())
