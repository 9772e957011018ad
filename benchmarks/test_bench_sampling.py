"""Sampler benchmarks: couples/second vs Keras ``skipgrams``, corpus throughput, streaming RSS.

* Keras drop-in: ``tf.keras.preprocessing.sequence.skipgrams`` and our vectorised
  :func:`item2vec.sampling.skipgrams` on the same 300,000-word Zipf(1.2) sequence
  (vocabulary 10,000, window 3, one negative per positive, shuffled), in the same run.
* :func:`skipgram_couples` on that sequence as one session, with unigram^0.75 negatives and
  subsampling (sample=1e-3, fixed window 3, 1 negative per positive).
* Online Retail customer histories (bundled) and synthetic corpora of 5 M and 50 M events
  (``datasets.synthetic(n_items=100_000, n_sessions=...)``): :func:`window_units`,
  :func:`skipgram_couples` and :func:`stream_units` with word2vec defaults (window 5 shrunk,
  5 negatives, sample 1e-3).
* :func:`stream_units` beside the rate at which a fit consumes positive couples on the
  same corpus (:func:`test_stream_units_vs_trainer`): the sampler thread must keep ahead.
* Peak extra RSS of one streamed epoch, measured in a fresh subprocess per corpus (VmHWM
  after resetting it with ``/proc/self/clear_refs``, minus the RSS holding the corpus).
* Machine limits beside them (:func:`test_machine_limits`): writing fresh int32 couples and
  labels, ``Generator.integers`` (int32), ``random_raw``, alias-table draws, a uint64 sort,
  ``Generator.permutation`` and a random gather, all of 3.6 M elements: the primitives that
  tell one processor kind from another (``np.sort`` of 3.6 M keys took 32 ms on one, 58-70 ms
  on another and ~220 ms on a third; Fisher-Yates and gathers change less).
* The machine itself in the summary: ``lscpu``'s model name, the numpy version and numpy's
  SIMD dispatch.

Every Keras-ratio benchmark records the load average (1-minute) before and after it and
the summary prints ``ratio_vs_keras`` beside them: a loaded machine slows pure-Python Keras
more than numpy, so a ratio taken at load 5 is not a quiet-machine ratio.

Run::

    pytest benchmarks/test_bench_sampling.py --benchmark-only -s   # -s prints the summary

``I2V_BENCH_SAMPLER_SESSIONS=500000`` restricts the synthetic sizes (comma separated);
``I2V_BENCH_TRAIN_EVENTS`` caps the events the trainer-rate comparison trains on;
``I2V_BENCH_KERAS_ROUNDS=3`` times Keras ``skipgrams`` 3 times (the best round counts).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from item2vec import datasets
from item2vec.data.sessions import Sessions, Vocabulary
from item2vec.sampling import (
    NegativeSampler,
    skipgram_couples,
    skipgrams,
    stream_units,
    window_units,
)

V, N_WORDS, WINDOW = 10_000, 300_000, 3
W2V = dict(window=5, negatives=5, ns_exponent=0.75, sample=1e-3)
BATCH = 8192
SIZES = [int(s) for s in os.environ.get("I2V_BENCH_SAMPLER_SESSIONS", "500000,5000000").split(",")]
KERAS_ROUNDS = int(os.environ.get("I2V_BENCH_KERAS_ROUNDS", "1"))
KERAS = "keras skipgrams (zipf 300k, w3)"
RESULTS: dict[str, dict] = {}


def load_average() -> float:
    """The 1-minute load average (the machine has 2 cores: above ~1 other work competes)."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else float("nan")


@pytest.fixture(scope="module")
def zipf() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.minimum(rng.zipf(1.2, N_WORDS), V - 1).astype(np.int64)


@pytest.fixture(scope="module")
def retail() -> Sessions:
    return datasets.online_retail("customers").sessions


@pytest.fixture(scope="module", params=SIZES, ids=lambda n: f"{n // 100_000 / 10:g}M-sessions")
def synthetic(request) -> Sessions:
    return datasets.synthetic(n_items=100_000, n_sessions=request.param).sessions


def machine() -> dict:
    """The processor (``lscpu`` model name), numpy's version and its SIMD dispatch."""
    model = "unknown"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(x.split(":", 1)[1].strip() for x in out.splitlines() if "Model name" in x)
    except (OSError, subprocess.CalledProcessError, StopIteration):
        pass
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    except ImportError:  # numpy < 2
        from numpy.core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    simd = [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]
    return {"cpu": model, "numpy": np.__version__, "simd": simd or ["baseline only"]}


@pytest.fixture(scope="module", autouse=True)
def summary():
    start = load_average()
    yield
    if RESULTS:
        print(
            f"\n\nsampler benchmark summary (load average {start} at the start, "
            f"{load_average()} at the end), {machine()}"
        )
        for name, r in RESULTS.items():
            print(f"  {name:42s} " + "  ".join(f"{k}={v}" for k, v in r.items()))


def record(benchmark, name: str, n: int, what: str = "couples", **extra) -> float:
    seconds = benchmark.stats.stats.min
    rate = n / seconds
    info = {what: n, "seconds": round(seconds, 4), f"{what}_per_s": round(rate), **extra}
    info.setdefault("load", load_average())  # 1-minute load average when it finished
    benchmark.extra_info.update(info)
    RESULTS[name] = info
    return rate


def vs_keras(benchmark, name: str, rate: float, before: float) -> None:
    """Add the ratio to the Keras run of this session and the load around this benchmark."""
    info = {"load_before": before, "load_after": RESULTS[name].pop("load")}
    keras = RESULTS.get(KERAS)
    if keras:
        info["ratio_vs_keras"] = round(rate / keras["couples_per_s"], 1)
    benchmark.extra_info.update(info)
    RESULTS[name].update(info)
    print(f"\n{name}: " + "  ".join(f"{k}={v}" for k, v in RESULTS[name].items()))


# --------------------------------------------------------------------------- Keras drop-in
def test_keras_skipgrams(benchmark, zipf):
    tf = pytest.importorskip("tensorflow")
    keras_skipgrams = tf.keras.preprocessing.sequence.skipgrams
    seq = zipf.tolist()
    before = load_average()
    _, labels = benchmark.pedantic(
        keras_skipgrams, args=(seq, V), kwargs=dict(window_size=WINDOW, seed=0),
        rounds=KERAS_ROUNDS, iterations=1,
    )  # fmt: skip
    rate = record(benchmark, KERAS, len(labels))
    vs_keras(benchmark, KERAS, rate, before)


def test_skipgrams(benchmark, zipf):
    name = "item2vec skipgrams (zipf 300k, w3)"
    before = load_average()
    _, labels = benchmark.pedantic(
        skipgrams, args=(zipf, V), kwargs=dict(window_size=WINDOW, seed=0),
        rounds=9, iterations=1, warmup_rounds=1,
    )  # fmt: skip
    vs_keras(benchmark, name, record(benchmark, name, len(labels)), before)


def test_skipgram_couples_zipf(benchmark, zipf):
    name = "skipgram_couples (zipf 300k, w3, sample)"
    counts = np.bincount(zipf, minlength=V)
    vocab = Vocabulary(ids=np.arange(V, dtype=np.int64), counts=counts)
    s = Sessions(zipf.astype(np.int32), np.array([0, N_WORDS]), vocab)
    before = load_average()
    c = benchmark.pedantic(
        skipgram_couples, args=(s,),
        kwargs=dict(window=WINDOW, negatives=1, sample=1e-3, shrink_window=False, seed=0),
        rounds=9, iterations=1, warmup_rounds=1,
    )  # fmt: skip
    vs_keras(benchmark, name, record(benchmark, name, len(c)), before)


def best_of(fn, rounds: int = 7) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def test_machine_limits(benchmark):
    """What the machine allows for 3.6 M couples, beside the sampler's own rate."""
    n = 3_600_000
    rng = np.random.default_rng(0)
    counts = np.random.default_rng(1).zipf(1.3, V)
    sampler = NegativeSampler(counts, 0.75)
    keys = rng.bit_generator.random_raw(n)

    def write() -> None:
        couples, labels = np.empty((n, 2), np.int32), np.empty(n, np.int32)
        couples.fill(1)
        labels.fill(1)

    index = rng.permutation(n)
    before = load_average()
    limits = {
        "fresh int32 couples+labels": best_of(write),
        "Generator.integers int32": best_of(lambda: rng.integers(1, V, n, dtype=np.int32)),
        "bit_generator.random_raw": best_of(lambda: rng.bit_generator.random_raw(n)),
        "alias-table draws (10k items)": best_of(lambda: sampler.sample(n, rng)),
        "uint64 sort": best_of(lambda: np.sort(keys)),
        "Generator.permutation": best_of(lambda: rng.permutation(n)),
        "uint64 gather (take, random index)": best_of(lambda: np.take(keys, index)),
    }
    benchmark.pedantic(write, rounds=1, iterations=1)
    info = {k: f"{n / v / 1e6:.0f} M/s ({v * 1e3:.1f} ms)" for k, v in limits.items()}
    info |= {"load_before": before, "load_after": load_average()}
    benchmark.extra_info.update(info)
    RESULTS["machine limits (3.6 M elements)"] = info


# --------------------------------------------------------------------------- corpora
def consume(sessions: Sessions) -> tuple[int, int]:
    units = pos = 0
    for b in stream_units(sessions, batch_size=BATCH, seed=0, **W2V):
        units += len(b)
        pos += b.n_positive
    return units, pos


@pytest.mark.parametrize("form", ["window_units", "skipgram_couples", "stream_units"])
def test_online_retail(benchmark, retail, form):
    name = f"{form} (retail customers, {retail.n_events:,} events)"
    if form == "stream_units":
        units, pos = benchmark.pedantic(consume, args=(retail,), rounds=3, iterations=1)
        record(benchmark, name, pos, "positives", units=units)
    elif form == "window_units":
        u = benchmark.pedantic(window_units, args=(retail,), kwargs=W2V, rounds=3, iterations=1)
        record(benchmark, name, u.n_positive, "positives", units=len(u))
    else:
        c = benchmark.pedantic(skipgram_couples, args=(retail,), kwargs=W2V, rounds=3)
        record(benchmark, name, len(c), positives=int(c.labels.sum()))


@pytest.mark.parametrize("form", ["window_units", "skipgram_couples", "stream_units"])
def test_synthetic(benchmark, synthetic, form):
    name = f"{form} (synthetic, {synthetic.n_events / 1e6:.0f}M events)"
    if form == "stream_units":
        units, pos = benchmark.pedantic(consume, args=(synthetic,), rounds=1, iterations=1)
        record(benchmark, name, pos, "positives", units=units)
    elif form == "window_units":
        u = benchmark.pedantic(window_units, args=(synthetic,), kwargs=W2V, rounds=1)
        record(benchmark, name, u.n_positive, "positives", units=len(u))
    else:
        if synthetic.n_events > 10_000_000:
            pytest.skip("~1.9 G couples (22 GB) do not fit: use stream_couples")
        c = benchmark.pedantic(skipgram_couples, args=(synthetic,), kwargs=W2V, rounds=1)
        record(benchmark, name, len(c), positives=int(c.labels.sum()))


# --------------------------------------------------------------------------- vs the trainer
TRAIN_EVENTS = int(os.environ.get("I2V_BENCH_TRAIN_EVENTS", "5000000"))


def trainer_rate(sessions: Sessions, epochs: int) -> tuple[float, int, float]:
    """Positive couples per second a fit consumes (word2vec settings as W2V, dim 64, 2
    workers, the default batch), its couples and its seconds: the whole fit, TensorFlow's
    tracing and the trainer's own sampler thread included, so the rate is if anything low
    (and if the sampler were the bottleneck, this rate would show it)."""
    from item2vec import Item2Vec

    model = Item2Vec(dim=64, epochs=epochs, workers=2, seed=0, **W2V)
    t = time.perf_counter()
    model.fit(sessions)
    seconds = time.perf_counter() - t
    couples = sum(int(e["couples"]) for e in model.history_)
    return couples / seconds, couples, seconds


def prefix(sessions: Sessions, n_events: int) -> Sessions:
    """The first sessions of ``sessions`` holding up to ``n_events`` events."""
    n = int(np.searchsorted(sessions.offsets, n_events, side="right")) - 1
    if n >= len(sessions):
        return sessions
    off = sessions.offsets[: n + 1]
    return Sessions(sessions.items[: off[-1]], off, sessions.vocabulary)


def vs_trainer(benchmark, s: Sessions, corpus: str, epochs: int) -> None:
    """``stream_units`` (one thread, as the trainer's sampler thread runs it) against the
    rate at which the trainer consumes units, on the same corpus; issue 23 asks for >= 3x.
    On the synthetic corpora the trainer runs on the first ``I2V_BENCH_TRAIN_EVENTS`` events
    (an epoch of the 50 M-event log would take minutes; the rate per unit does not grow
    with the log: same items, same windows)."""
    name = f"stream_units vs trainer ({corpus}, {s.n_events / 1e6:.1f}M events)"
    before = load_average()
    units, pos = benchmark.pedantic(consume, args=(s,), rounds=1, iterations=1)
    sampler = pos / benchmark.stats.stats.min
    train_on = prefix(s, TRAIN_EVENTS)
    rate, couples, seconds = trainer_rate(train_on, epochs)
    info = dict(
        sampler_positives_per_s=round(sampler), trainer_positives_per_s=round(rate),
        sampler_vs_trainer=round(sampler / rate, 1), trainer_events=train_on.n_events,
        trainer_epochs=epochs, trainer_seconds=round(seconds, 2), load_before=before,
        load_after=load_average(),
    )  # fmt: skip
    benchmark.extra_info.update(info)
    RESULTS[name] = info


def test_stream_units_vs_trainer_retail(benchmark, retail):
    vs_trainer(benchmark, retail, "retail customers", epochs=5)


def test_stream_units_vs_trainer_synthetic(benchmark, synthetic):
    vs_trainer(benchmark, synthetic, "synthetic", epochs=1)


# --------------------------------------------------------------------------- memory
RSS_SCRIPT = textwrap.dedent(
    """
    import gc, json, sys, time
    from item2vec import datasets
    from item2vec.sampling import stream_units

    def status(key):
        with open("/proc/self/status") as f:
            return next(int(x.split()[1]) * 1024 for x in f if x.startswith(key))

    s = datasets.synthetic(n_items=100_000, n_sessions=int(sys.argv[1])).sessions
    gc.collect()
    base = status("VmRSS:")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # peak RSS (VmHWM) := current RSS
    t = time.perf_counter()
    units = pos = 0
    for b in stream_units(s, batch_size=int(sys.argv[2]), seed=0, **json.loads(sys.argv[3])):
        units += len(b)
        pos += b.n_positive
    seconds = time.perf_counter() - t
    print(json.dumps(dict(events=s.n_events, corpus=s.items.nbytes + s.offsets.nbytes,
                          base=base, extra=status("VmHWM:") - base, seconds=seconds,
                          units=units, positives=pos)))
    """
)


@pytest.mark.parametrize("n_sessions", SIZES, ids=lambda n: f"{n // 100_000 / 10:g}M-sessions")
def test_stream_peak_rss(benchmark, n_sessions):
    if not os.path.exists("/proc/self/clear_refs"):
        pytest.skip("needs Linux /proc/self/clear_refs")

    def run() -> dict:
        args = [sys.executable, "-c", RSS_SCRIPT, str(n_sessions), str(BATCH), json.dumps(W2V)]
        out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    r = benchmark.pedantic(run, rounds=1, iterations=1)
    mib = 1 << 20
    info = dict(
        events=r["events"],
        corpus_MiB=round(r["corpus"] / mib),
        base_rss_MiB=round(r["base"] / mib),
        peak_extra_MiB=round(r["extra"] / mib),
        stream_seconds=round(r["seconds"], 2),
        positives_per_s=round(r["positives"] / r["seconds"]),
    )
    benchmark.extra_info.update(info)
    RESULTS[f"stream_units peak extra RSS ({r['events'] / 1e6:.0f}M events)"] = info
