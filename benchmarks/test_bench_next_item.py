"""Next-item quality across logs: item2vec with its defaults against every count baseline.

    pytest benchmarks/test_bench_next_item.py --benchmark-only -s

Logs (each seed draws its own subsample, split and model seed):

* ``customers``: Online Retail, one time-ordered history per customer (4.3 k, 395 k events);
* ``baskets``: Online Retail, one session per invoice (18.5 k baskets, unordered);
* ``customers-300`` / ``customers-1000`` / ``baskets-2000``: random subsamples, the small and
  sparse logs users start with;
* ``walks``: ``datasets.synthetic(successors=3)``, sessions that walk a planted item graph
  (5,000 items, 20,000 sessions of ~8 events).

Per log and seed: one next-event split (every session minus its last item is training data;
up to 1,000 sessions held out, at least 20% of the eligible ones on the small logs), one
``Item2Vec(seed=seed)`` fit with every setting at its default (``epochs=None``: from the log
size), then both protocols on the same training data: **previous item** (the query is the
item before the held-out one) and **history** (the last <= 5 items; history items never
recommended; cases whose answer is in the history left out). item2vec answers with its
default score (``recommend``'s, ``"blend"``) and, for reference, with ``"log_prob"`` and,
in the history protocol, with the last history item alone (same cases).

Reported: HR@10 / NDCG@10 mean over seeds with a 95% t interval, and the paired difference
(item2vec minus the best baseline of that log and protocol, seed by seed) with its t
interval. ``ITEM2VEC_BENCH_SEEDS`` (default 10) and ``ITEM2VEC_BENCH_LOGS`` (comma-separated
names) narrow the run; results go to ``.benchmarks/next_item/`` as JSON and Markdown.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pytest

from item2vec import Item2Vec, Sessions, datasets
from item2vec.data.split import next_event_split
from item2vec.evaluation.baselines import BASELINES
from item2vec.evaluation.metrics import t_interval
from item2vec.evaluation.protocols import evaluate
from item2vec.evaluation.recommenders import model_recommender

SEEDS = tuple(range(int(os.environ.get("ITEM2VEC_BENCH_SEEDS", 10))))
LOGS = ("customers", "baskets", "customers-300", "customers-1000", "baskets-2000", "walks")
LOGS = tuple(os.environ.get("ITEM2VEC_BENCH_LOGS", ",".join(LOGS)).split(","))
HISTORY = 5
METRICS = ("HR@10", "NDCG@10")
OUT = Path(os.environ.get("ITEM2VEC_BENCH_OUT", ".benchmarks/next_item"))  # git-ignored


def _subsample(full: Sessions, n: int, seed: int) -> Sessions:
    pick = np.sort(np.random.default_rng(1000 + seed).choice(len(full), n, replace=False))
    return full.subset(pick)


def make_log(name: str, seed: int, cache: dict) -> Sessions:
    kind, _, size = name.partition("-")
    if kind == "walks":
        return datasets.synthetic(
            n_items=5000, n_clusters=100, n_sessions=20_000, mean_length=8.0, successors=3,
            seed=seed,
        ).sessions  # fmt: skip
    if kind not in cache:
        cache[kind] = datasets.online_retail(kind).sessions
    full = cache[kind]
    return full if not size else _subsample(full, int(size), seed)


def run_log(name: str, cache: dict) -> dict:
    per_seed: list[dict[str, dict[str, float]]] = []
    info: dict = {"seeds": list(SEEDS)}
    for seed in SEEDS:
        sessions = make_log(name, seed, cache)
        eligible = int((sessions.lengths >= 3).sum())
        n_test = min(1000, max(eligible // 5, 1))
        prev = next_event_split(sessions, n_test=n_test, seed=seed)
        hist = next_event_split(sessions, n_test=n_test, seed=seed, history=HISTORY)
        train = prev.train  # the same training data for both protocols
        t0 = time.perf_counter()
        model = Item2Vec(seed=seed, progress=False).fit(train)
        fit_s = time.perf_counter() - t0
        rows: dict[str, dict[str, float]] = {}
        for proto, split in (("previous item", prev), ("history", hist)):
            recs = {f"item2vec ({model.default_score_})": model_recommender(model, train)}
            recs["item2vec (log_prob)"] = model_recommender(model, train, "log_prob")
            recs.update({b: make(train) for b, make in BASELINES.items()})
            for method, rec in recs.items():
                rows[f"{proto} | {method}"] = evaluate(rec, split)
            if proto == "history":
                default = recs[f"item2vec ({model.default_score_})"]
                last = evaluate(lambda h, k, f=default: f(h[:, -1:], k), split)
                rows[f"{proto} | item2vec, last item only"] = last
        rows["fit"] = {"seconds": fit_s, "epochs": model.epochs_, "events": train.n_events,
                       "sessions": len(train), "items": int((train.vocabulary.counts > 0).sum()),
                       "cases prev": len(prev), "answer in history":
                       rows["history | popularity"]["answer in history"]}  # fmt: skip
        per_seed.append(rows)
        print(f"{name} seed {seed}: fit {fit_s:.1f} s, epochs {model.epochs_}", flush=True)
    info["per_seed"] = per_seed
    return info


def summarise(name: str, info: dict) -> list[str]:
    per_seed = info["per_seed"]
    lines = []
    fit = per_seed[0]["fit"]
    lines.append(
        f"**{name}** ({fit['sessions']:,} sessions, {fit['events']:,} training events, "
        f"{fit['items']:,} items; {fit['cases prev']} test cases per split, "
        f"{np.mean([r['fit']['answer in history'] for r in per_seed]):.0f} left out of the "
        f"history protocol; {len(per_seed)} seeds; epochs {fit['epochs']}, fit "
        f"{np.mean([r['fit']['seconds'] for r in per_seed]):.1f} s)"
    )
    lines.append("")
    lines.append("| protocol | method | HR@10 | NDCG@10 | HR@10 minus best baseline |")
    lines.append("|---|---|---|---|---|")
    for proto in ("previous item", "history"):
        methods = [k.split(" | ", 1)[1] for k in per_seed[0] if k.startswith(proto + " |")]
        base = [m for m in methods if m in BASELINES]
        mean = {m: np.mean([r[f"{proto} | {m}"]["HR@10"] for r in per_seed]) for m in methods}
        best = max(base, key=lambda m: mean[m])
        for m in methods:
            cells = []
            for metric in METRICS:
                v = np.array([r[f"{proto} | {m}"][metric] for r in per_seed])
                lo, hi = t_interval(v) if len(v) > 1 else (v[0], v[0])
                cells.append(f"{v.mean():.3f} ± {(hi - lo) / 2:.3f}")
            d = np.array(
                [r[f"{proto} | {m}"]["HR@10"] - r[f"{proto} | {best}"]["HR@10"] for r in per_seed]
            )
            lo, hi = t_interval(d) if len(d) > 1 else (d[0], d[0])
            diff = "" if m == best else f"{d.mean():+.3f} ({lo:+.3f} .. {hi:+.3f})"
            label = f"**{m}** (best baseline)" if m == best else m
            lines.append(f"| {proto} | {label} | {cells[0]} | {cells[1]} | {diff} |")
    lines.append("")
    return lines


@pytest.mark.parametrize("name", LOGS)
def test_next_item_quality(benchmark, name):
    cache: dict = {}
    info = benchmark.pedantic(run_log, args=(name, cache), rounds=1, iterations=1)
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    info.update(log=name, date=stamp, machine=f"{platform.machine()}, {os.cpu_count()} cores",
                load=os.getloadavg())  # fmt: skip
    (OUT / f"{name}.json").write_text(json.dumps(info, indent=1, default=float))
    text = "\n".join(summarise(name, info))
    (OUT / f"{name}.md").write_text(text + "\n")
    print("\n" + text)
