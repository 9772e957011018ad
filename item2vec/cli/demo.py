"""``item2vec demo``: train on the bundled Online Retail data, show neighbours, write a report."""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .plots import pca_2d  # noqa: F401  (the quickstart notebook imports it from here)

#: Well-known products of the Online Retail catalogue, shown with their neighbours.
SHOWCASE = ("85123A", "22423", "85099B", "47566", "23203", "22386")

#: Settings of the demo run: the best configuration `item2vec tune` found on a validation
#: split of this data (benchmarks/README.md), for 5 epochs: on this log the demo's HR@10
#: is the same after 5, 10 and 20 epochs (blend 0.300 / 0.313 after 5, 0.300 / 0.312 after
#: 20, previous purchase / last five), so more only costs time. One worker thread, so that a
#: seed gives the same vectors, and the same printed numbers, on every run.
DEMO_PARAMS = dict(dim=128, window=3, negatives=5, ns_exponent=0.5, sample=1e-3, epochs=5,
                   workers=1)  # fmt: skip

#: ``--quick``: a smoke run of every step, in seconds rather than tens of seconds.
QUICK_PARAMS = dict(epochs=1, dim=16)
QUICK_TEST = 500

#: The next-item scores of the model shown against the baselines: the default (counts
#: smoothed by the model) and the model alone. ``cosine`` is what ``similar`` ranks by.
SCORES = ("blend", "log_prob")
DEFAULT = "item2vec (blend)"
PROTOCOLS = {"previous purchase": None, "last 5 purchases": 5}


def run_demo(out: str | os.PathLike = "item2vec-demo", epochs: int | None = None,
             quick: bool = False, progress: bool = True) -> int:  # fmt: skip
    """Train, evaluate against baselines, print neighbours, write ``out/`` (model + report)."""
    from ..data.datasets import online_retail, retail_features
    from ..estimator import Item2Vec
    from ..evaluation.baselines import BASELINES
    from ..evaluation.protocols import evaluate_cases, model_recommender, next_event_split

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data = online_retail("customers")
    sessions = data.sessions
    print("UCI Online Retail (Chen, Sain & Guo 2012; CC BY 4.0), customer histories")
    for key in ("rows", "rows of cancelled invoices", "rows with non-positive quantity"):
        print(f"  {key:<58} {data.report[key]:>9,}")
    for key, value in data.report.items():
        if key.startswith(("rows with non-product", "rows without CustomerID", "rows kept")):
            print(f"  {key:<58} {value:>9,}")
    print(f"  -> {len(sessions):,} customers, {sessions.n_events:,} events, "
          f"{len(sessions.vocabulary):,} products")  # fmt: skip

    params = dict(DEMO_PARAMS)
    if quick:
        params.update(QUICK_PARAMS)
    if epochs is not None:
        params["epochs"] = epochs
    n_test = min(QUICK_TEST if quick else 2000, len(sessions) // 2)
    # the same held-out purchases, queried with the previous purchase, then the last five
    splits = {name: next_event_split(sessions, n_test=n_test, seed=0, history=h)
              for name, h in PROTOCOLS.items()}  # fmt: skip
    split = splits["previous purchase"]
    shown_params = {k: v for k, v in params.items() if k != "workers"}
    print(f"\ntraining {shown_params} on {split.train.n_events:,} events; "
          f"validating on the next purchase of {len(split):,} held-out customers")  # fmt: skip
    desc = data.descriptions
    model = Item2Vec(**params, descriptions=desc, progress=progress, seed=0)
    with warnings.catch_warnings():
        if quick:  # a smoke run is short on purpose: no "likely too short" warning
            warnings.filterwarnings("ignore", message=r"epochs=.*likely too short")
        # every product's description words: those bought only in the held-out purchases
        # are cold items, known from their descriptions alone
        words = retail_features(desc, sessions.vocabulary.ids)
        model.fit(split.train, validation=split, item_features=words)
    for h in model.history_:
        speed = h["couples_per_second"]
        print(f"  epoch {h['epoch']:>2}  loss {h['loss']:.4f}  HR@10 {h['HR@10']:.3f}  "
              f"NDCG@10 {h['NDCG@10']:.3f}  {speed:>11,.0f} couples/s")  # fmt: skip

    methods = {f"item2vec ({s})": model_recommender(model, split.train, s) for s in SCORES}
    methods.update({name: make(split.train) for name, make in BASELINES.items()})
    tables, verdicts = {}, {}
    for protocol, sp in splits.items():
        results, cases = {}, {}
        for name, rec in methods.items():
            results[name], cases[name] = evaluate_cases(rec, sp)
        tables[protocol] = pd.DataFrame(results).T[["HR@10", "NDCG@10", "HR@20", "MRR"]]
        left_out = results["popularity"].get("answer in history", 0)
        note = f"; {left_out} whose answer is among them left out" if left_out else ""
        n_cases = int(results["popularity"]["n_cases"])
        print(f"\nnext purchase after the {protocol}, {n_cases:,} held-out customers{note}")
        print(tables[protocol].round(3).to_string())
        verdicts[protocol] = verdict(results, cases, list(BASELINES))
        print(verdicts[protocol]["text"])
    table = pd.concat(tables, names=["query", "method"])

    rows = []
    shown = [i for i in SHOWCASE if i in model.vocabulary_]
    ids, scores = model.similar(shown, 5)
    for item, nb, sc in zip(shown, ids, scores, strict=True):
        print(f"\n{item}  {desc.get(item, '')}")
        for rank, (n, s) in enumerate(zip(nb, sc, strict=True), 1):
            print(f"  {rank}. {n:<8} {s:.3f}  {desc.get(n, '')}")
            rows.append({"item": item, "description": desc.get(item, ""), "rank": rank,
                         "neighbour": n, "neighbour_description": desc.get(n, ""),
                         "cosine": float(s)})  # fmt: skip

    _cold(model, desc)
    model.save(out / "model")
    pd.DataFrame(rows).to_csv(out / "neighbours.csv", index=False)
    table.to_csv(out / "metrics.csv")
    summary = {p: {k: v for k, v in d.items() if k != "text"} for p, d in verdicts.items()}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "history.json").write_text(json.dumps(model.history_, indent=2))
    _plots(out, model, desc, shown, tables["previous purchase"], len(split), params)
    print(f"\nwrote {out}/: model/, neighbours.csv, metrics.csv, summary.json, history.json, "
          f"loss.png, hr.png, map.png  ({time.perf_counter() - t0:.0f} s)")  # fmt: skip
    return 0


def _cold(model: Any, desc: pd.Series, n: int = 2) -> None:
    """The neighbours of products never bought in training, from their descriptions."""
    cold = [i for i in model.cold_items_.tolist() if desc.get(i, "Unknown") != "Unknown"]
    if not cold:
        return
    print(f"\n{len(model.cold_items_):,} products were bought only in the held-out purchases: "
          "the model knows them from their descriptions alone (cold items)")  # fmt: skip
    ids, scores = model.similar(cold[:n], 5)
    for item, nb, sc in zip(cold[:n], ids, scores, strict=True):
        print(f"\n{item}  {desc.get(item, '')}  (never bought in training)")
        for rank, (i, c) in enumerate(zip(nb, sc, strict=True), 1):
            print(f"  {rank}. {i:<8} {c:.3f}  {desc.get(i, '')}")


def verdict(
    results: dict[str, dict[str, float]],
    cases: dict[str, dict[str, np.ndarray]],
    baselines: list[str],
    model: str = DEFAULT,
    metric: str = "HR@10",
) -> dict[str, Any]:
    """``model``'s ``metric`` minus the best baseline's, with a 95% bootstrap interval of
    the paired per-case difference (the same customers for both), and a sentence saying
    whether the model is ahead, behind, or not told apart from it on this sample."""
    from ..evaluation.metrics import bootstrap_interval

    best = max(baselines, key=lambda b: (results[b][metric], b))
    diff = cases[model][metric] - cases[best][metric]
    lo, hi = bootstrap_interval(diff, 1000, 0)
    where = ("ahead of it" if lo > 0 else "behind it" if hi < 0
             else "not told apart from it on these customers (the interval spans 0)")  # fmt: skip
    text = (f"  {model} {metric} minus the best baseline's ({best}): {diff.mean():+.3f} "
            f"(95% interval {lo:+.3f} to {hi:+.3f}, paired over the same "
            f"{len(diff):,} customers): {where}")  # fmt: skip
    return {"model": model, "metric": metric, "model value": float(results[model][metric]),
            "best baseline": best, "baseline value": float(results[best][metric]),
            "difference": float(diff.mean()), "low": lo, "high": hi, "n_cases": len(diff),
            "text": text}  # fmt: skip


def _plots(out: Path, model: Any, desc: pd.Series, shown: list[str], table: pd.DataFrame,
           n_cases: int, params: dict) -> None:  # fmt: skip
    from ..evaluation.baselines import BASELINES
    from .plots import plot_loss, plot_map, plot_quality

    plot_loss(model.history_, out / "loss.png", params["negatives"])
    plot_quality(
        model.history_,
        {name: table.loc[name] for name in BASELINES},
        out / "hr.png",
        title=f"Next purchase of {n_cases:,} held-out customers, queried with the previous one",
        final=table.loc[DEFAULT],
    )
    ids = model.vocabulary_.ids
    texts = [str(desc.get(i, i)) for i in ids]
    plot_map(model.item_vectors_, model.vocabulary_.counts, texts, out / "map.png",
             first=[model.vocabulary_.index(i) for i in shown], noun="products")  # fmt: skip
