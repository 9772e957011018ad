"""Updating a model with a new period of data vs retraining on everything, and vs gensim's
``build_vocab(update=True)`` path, on the same split and the same settings (issue 21).

    pytest benchmarks/test_bench_updates.py --benchmark-only -s

- **Online Retail by date**: customer histories (time-ordered, consecutive repeats
  collapsed) up to 2011-10-31 train the first model; November's purchases are the update
  (its customers' November histories as new sessions); every December purchase is a test
  case, queried with the purchase before it in the customer's whole history (the
  previous-item protocol). A query item a model does not know is a miss.
- **Synthetic**: planted clusters with ordered walks (``datasets.synthetic(successors=5)``);
  the first sessions, with a tenth of the catalogue held back, train the first model; the
  next sessions (every item) are the update; the last sessions' last items are the test
  cases (queried with the item before).

item2vec runs three updates from the same first model: the default (existing rows at
their items' share of new events), ``freeze_existing=True``, and ``existing_rate=1``
(every row at the full rate, as gensim's update trains). Every method gets the same
hyperparameters (:data:`PARAMS`), 2 threads. Reported: wall
time of the update and of the retrain (and their ratio, same run), HR@10 / NDCG@10 ranked
by item2vec's default score (``blend``) and by cosine (the only score gensim has), and the
test cases whose query or answer is an item new in the update.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
import warnings

import numpy as np
import pandas as pd
import pytest

from item2vec import Item2Vec, Sessions, datasets

pytest.importorskip("gensim")

PARAMS = dict(dim=64, window=3, negatives=5, ns_exponent=0.75, sample=1e-3, epochs=10)
PARAMS.update(json.loads(os.environ.get("ITEM2VEC_BENCH_PARAMS", "{}")))
K = 10


def _machine() -> dict:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "load_average": load}


# ----------------------------------------------------------------------------- the splits
def _retail_split():
    raw = datasets.online_retail_frame()
    df, _ = datasets.clean_online_retail(raw, require_customer=True)
    t = pd.to_datetime(df["InvoiceDate"])
    nov, dec = pd.Timestamp("2011-11-01"), pd.Timestamp("2011-12-01")
    kw = dict(user="CustomerID", item="StockCode", time="InvoiceDate", collapse_repeats=True)
    old = Sessions.from_frame(df[t < nov], **kw)
    update = Sessions.from_frame(df[(t >= nov) & (t < dec)], **kw)
    both = Sessions.from_frame(df[t < dec], **kw)
    # every December purchase after the previous one in the customer's collapsed history
    d = pd.DataFrame({"c": df["CustomerID"].to_numpy(), "i": df["StockCode"].astype(str).to_numpy(),
                      "t": t.to_numpy()})  # fmt: skip
    d = d.sort_values(["c", "t"], kind="stable")
    d = d[~((d["c"] == d["c"].shift()) & (d["i"] == d["i"].shift()))]
    prev_same = d["c"] == d["c"].shift()
    case = prev_same & (d["t"] >= dec)
    queries = d["i"].shift()[case].tolist()
    answers = d["i"][case].tolist()
    return old, update, both, queries, answers


def _synthetic_split():
    data = datasets.synthetic(n_items=5000, n_clusters=100, n_sessions=60_000, mean_length=8,
                              successors=5, seed=0)  # fmt: skip
    lists = [[str(i) for i in s] for s in data.sessions.to_lists()]
    new = {str(i) for i in range(4500, 5000)}  # a tenth of the catalogue appears on day 2
    first = [s for s in ([i for i in s if i not in new] for s in lists[:50_000]) if len(s) >= 2]
    second, test = lists[50_000:55_000], lists[55_000:]
    old, update = Sessions.from_lists(first), Sessions.from_lists(second)
    both = Sessions.from_lists(first + second)
    return old, update, both, [s[-2] for s in test], [s[-1] for s in test]


# ----------------------------------------------------------------------------- scoring
def _metrics(ranked: list, answers: list) -> dict:
    hits = np.zeros(len(answers))
    gains = np.zeros(len(answers))
    for j, (row, a) in enumerate(zip(ranked, answers, strict=True)):
        if row is not None and a in row:
            r = row.index(a)
            hits[j], gains[j] = 1.0, 1.0 / np.log2(r + 2)
    return {f"HR@{K}": float(hits.mean()), f"NDCG@{K}": float(gains.mean())}


def _item2vec_ranked(model: Item2Vec, queries: list, score: str) -> list:
    known = [q in model.vocabulary_ for q in queries]
    asked = [q for q, k in zip(queries, known, strict=True) if k]
    if score == "cosine":
        ids, _ = model.similar(asked, K)
    else:
        ids, _ = model.recommend_batch([[q] for q in asked], K, score=score)
    rows = iter(ids.tolist())
    return [[str(x) for x in next(rows)] if k else None for k in known]


def _gensim_ranked(g, queries: list) -> list:
    keys = g.wv.index_to_key
    v = g.wv.get_normed_vectors()
    rows = [g.wv.key_to_index.get(q, -1) for q in queries]
    out: list = [None] * len(queries)
    asked = [j for j, r in enumerate(rows) if r >= 0]
    for s in range(0, len(asked), 4096):
        part = asked[s : s + 4096]
        r = np.array([rows[j] for j in part])
        sims = v[r] @ v.T
        sims[np.arange(len(r)), r] = -np.inf  # never the query itself
        top = np.argpartition(-sims, K, axis=1)[:, :K]
        order = np.take_along_axis(sims, top, 1).argsort(axis=1)[:, ::-1]
        for j, row in zip(part, np.take_along_axis(top, order, 1), strict=True):
            out[j] = [keys[x] for x in row]
    return out


def _sentences(sessions: Sessions) -> list:
    return [[str(i) for i in s] for s in sessions.to_lists()]


def _gensim(sentences: list, seed: int = 0):
    from gensim.models import Word2Vec

    p = PARAMS
    return Word2Vec(sentences=sentences, vector_size=p["dim"], window=p["window"],
                    negative=p["negatives"], hs=0, ns_exponent=p["ns_exponent"],
                    sample=p["sample"], epochs=p["epochs"], min_count=1, workers=2, seed=seed,
                    sg=1)  # fmt: skip


def _run(split) -> dict:
    old, update, both, queries, answers = split
    seen_before = set(old.vocabulary.ids.astype(str).tolist())
    new_q = [q not in seen_before for q in queries]
    new_a = [a not in seen_before for a in answers]
    res: dict = {
        **_machine(), "params": PARAMS, "cases": len(answers),
        "cases_query_new": int(sum(new_q)), "cases_answer_new": int(sum(new_a)),
        "events_old": old.n_events, "events_update": update.n_events,
        "items_old": len(old.vocabulary), "items_after": len(both.vocabulary),
    }  # fmt: skip
    ours = dict(workers=2, progress=False, seed=0, **PARAMS)

    def score(name: str, ranked: list) -> None:
        for key, v in _metrics(ranked, answers).items():
            res[f"{name} {key}"] = round(v, 4)
        sub = [r for r, a in zip(ranked, new_a, strict=True) if a]
        res[f"{name} HR@{K} answer new"] = round(
            _metrics(sub, [a for a, n in zip(answers, new_a, strict=True) if n])[f"HR@{K}"], 4
        ) if sub else None  # fmt: skip
        res[f"{name} unknown queries"] = sum(r is None for r in ranked)

    Item2Vec(**{**ours, "epochs": 1}).fit(old)  # warm-up: TensorFlow start and tracing
    t0 = time.perf_counter()
    stale = Item2Vec(**ours).fit(old)
    res["item2vec fit old seconds"] = time.perf_counter() - t0
    for sc in ("blend", "cosine"):
        score(f"item2vec old model {sc}", _item2vec_ranked(stale, queries, sc))
    with tempfile.TemporaryDirectory() as tmp:
        stale.save(os.path.join(tmp, "m"))
        # what a daily job starts from: the saved model (queries run at workers=2 anyway)
        copies = [Item2Vec.load(os.path.join(tmp, "m")).set_params(workers=2) for _ in "ab"]
    runs = (
        ("update", stale, {}),
        ("update frozen", copies[0], {"freeze_existing": True}),
        ("update existing_rate=1", copies[1], {"existing_rate": 1.0}),  # gensim's choice
    )
    for label, model, kw in runs:
        before = model.item_vectors_.copy()
        t0 = time.perf_counter()
        model.update(update, **kw)
        res[f"item2vec {label} seconds"] = time.perf_counter() - t0
        for sc in ("blend", "cosine"):
            score(f"item2vec {label} {sc}", _item2vec_ranked(model, queries, sc))
        if "freeze_existing" in kw:
            res["frozen rows bit-identical"] = bool(
                model.item_vectors_[: len(before)].tobytes() == before.tobytes()
            )
    t0 = time.perf_counter()
    retrain = Item2Vec(**ours).fit(both)
    res["item2vec retrain seconds"] = time.perf_counter() - t0
    for sc in ("blend", "cosine"):
        score(f"item2vec retrain {sc}", _item2vec_ranked(retrain, queries, sc))

    s_old, s_upd, s_both = _sentences(old), _sentences(update), _sentences(both)
    t0 = time.perf_counter()
    g = _gensim(s_old)
    res["gensim fit old seconds"] = time.perf_counter() - t0
    score("gensim old model cosine", _gensim_ranked(g, queries))
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g.build_vocab(s_upd, update=True)
        g.train(s_upd, total_examples=len(s_upd), epochs=g.epochs)
    res["gensim update seconds"] = time.perf_counter() - t0
    score("gensim update cosine", _gensim_ranked(g, queries))
    t0 = time.perf_counter()
    g2 = _gensim(s_both)
    res["gensim retrain seconds"] = time.perf_counter() - t0
    score("gensim retrain cosine", _gensim_ranked(g2, queries))
    res["item2vec update / retrain time"] = (
        res["item2vec update seconds"] / res["item2vec retrain seconds"]
    )
    res["gensim update / retrain time"] = (
        res["gensim update seconds"] / res["gensim retrain seconds"]
    )
    res["item2vec update / gensim update time"] = (
        res["item2vec update seconds"] / res["gensim update seconds"]
    )
    return res


@pytest.mark.parametrize("log", ["online_retail", "synthetic"])
def test_update_vs_retrain_vs_gensim(benchmark, log):
    split = _retail_split() if log == "online_retail" else _synthetic_split()
    res = _run(split)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    benchmark.extra_info.update(res)
    print(log, json.dumps(res, indent=2))
    assert res["frozen rows bit-identical"]
    # the update knows every item the retrain knows (December-only items stay unknown)
    assert (
        res["item2vec update blend unknown queries"]
        == res["item2vec retrain blend unknown queries"]
    )
    assert res[f"item2vec update blend HR@{K}"] > res[f"item2vec old model blend HR@{K}"] - 0.02
