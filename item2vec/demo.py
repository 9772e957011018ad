"""``item2vec demo``: train on the bundled Online Retail data, show neighbours, write a report."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

#: Well-known products of the Online Retail catalogue, shown with their neighbours.
SHOWCASE = ("85123A", "22423", "85099B", "47566", "23203", "22386")

#: Settings of the demo run: the best configuration `item2vec tune` found on a validation
#: split of this data (benchmarks/README.md), with 20 epochs to keep the demo short.
DEMO_PARAMS = dict(dim=128, window=3, negatives=5, ns_exponent=0.5, sample=1e-3, epochs=20)


def run_demo(out: str | os.PathLike = "item2vec-demo", epochs: int | None = None,
             quick: bool = False) -> int:  # fmt: skip
    """Train, evaluate against baselines, print neighbours, write ``out/`` (model + report)."""
    from .datasets import online_retail
    from .estimator import Item2Vec
    from .evaluate import BASELINES, evaluate, model_recommender, next_event_split

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
        params.update(epochs=1, dim=16)
    if epochs is not None:
        params["epochs"] = epochs
    split = next_event_split(sessions, n_test=min(2000, len(sessions) // 2), seed=0)
    print(f"\ntraining {params} on {split.train.n_events:,} events; "
          f"validating on the next purchase of {len(split):,} held-out customers")  # fmt: skip
    model = Item2Vec(**params, progress=True, seed=0).fit(split.train, validation=split)
    for h in model.history_:
        speed = h["couples_per_second"]
        print(f"  epoch {h['epoch']:>2}  loss {h['loss']:.4f}  HR@10 {h['HR@10']:.3f}  "
              f"NDCG@10 {h['NDCG@10']:.3f}  {speed:>11,.0f} couples/s")  # fmt: skip

    # the same held-out purchases, queried with the previous purchase, then the last five
    history = next_event_split(sessions, n_test=len(split), seed=0, history=5)
    tables = {}
    for protocol, sp in (("previous purchase", split), ("last 5 purchases", history)):
        methods = {f"item2vec ({s})": model_recommender(model, split.train, s)
                   for s in ("blend", "log_prob", "cosine")}  # fmt: skip
        methods.update({name: make(split.train) for name, make in BASELINES.items()})
        results = {name: evaluate(rec, sp) for name, rec in methods.items()}
        tables[protocol] = pd.DataFrame(results).T[["HR@10", "NDCG@10", "HR@20", "MRR"]]
        left_out = results["popularity"].get("answer in history", 0)
        note = f"; {left_out} whose answer is among them left out" if left_out else ""
        print(f"\nnext purchase after the {protocol}, {results['popularity']['n_cases']:,} "
              f"held-out customers{note}")  # fmt: skip
        print(tables[protocol].round(3).to_string())
    table = pd.concat(tables, names=["query", "method"])

    desc = data.descriptions
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

    model.save(out / "model")
    pd.DataFrame(rows).to_csv(out / "neighbours.csv", index=False)
    table.to_csv(out / "metrics.csv")
    (out / "history.json").write_text(json.dumps(model.history_, indent=2))
    _plots(out, model, desc, shown)
    print(f"\nwrote {out}/: model/, neighbours.csv, metrics.csv, history.json, "
          f"loss.png, hr.png, map.png  ({time.perf_counter() - t0:.0f} s)")  # fmt: skip
    return 0


def _plots(out: Path, model, desc: pd.Series, shown: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h = pd.DataFrame(model.history_)
    titles = {"loss": "training loss per epoch",
              "hr": "next purchase of the held-out customers (log_prob)"}  # fmt: skip
    for name, cols in (("loss", ["loss"]), ("hr", ["HR@10", "NDCG@10"])):
        fig, ax = plt.subplots(figsize=(5, 3.2))
        for c in cols:
            ax.plot(h["epoch"], h[c], marker="o", label=c)
        ax.set_title(titles[name], fontsize=9)
        ax.set_xlabel("epoch")
        ax.legend()
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / f"{name}.png", dpi=120)
        plt.close(fig)
    xy = pca_2d(model.item_vectors_)
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.scatter(xy[:, 0], xy[:, 1], s=3, alpha=0.3, color="grey")
    for i, item in enumerate(shown):
        r = model.vocabulary_.index(item)
        ax.scatter(*xy[r], s=25, color="C3")
        # labels of close products would overlap: alternate them above and below the point
        ax.annotate(str(desc.get(item, item))[:28], xy[r], xytext=(4, 8 if i % 2 else -12),
                    textcoords="offset points", fontsize=7,
                    arrowprops=dict(arrowstyle="-", color="C3", lw=0.5))  # fmt: skip
    ax.set_title("item vectors, first two principal components")
    fig.tight_layout()
    fig.savefig(out / "map.png", dpi=120)
    plt.close(fig)


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """Project normalised vectors (n, dim) on their first two principal components (n, 2)."""
    x = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    x = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return x @ vt[:2].T
