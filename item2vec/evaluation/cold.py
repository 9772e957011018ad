"""The cold-item protocol: next items that were never seen in training.

:func:`cold_split` draws a share of the items (10% by default, seeded) and removes every
event of theirs from the log; the sessions whose first cold event follows at least one warm
event become the test cases: the history is up to ``history`` warm items before that event
(oldest first), the answer is the cold item, and the session is cut before its answer in
the training log (so that nothing after the answer is trained on). Each method then ranks
the answer (a) among the cold items only ("which new product next?") and (b) among all
items, the history's items left out (:func:`evaluate_cold`).

The baselines see what a cold-start method may see: the training sessions and every item's
attributes (:class:`~item2vec.data.features.ItemFeatures`):

- ``random``: a seeded random order of the candidates;
- ``attribute popularity``: a candidate's mean, over its attributes, of the events of the
  training items that carry the attribute;
- ``content kNN``: TF-IDF cosine between the candidate's attributes and the history's,
  recency-weighted (:func:`~item2vec.queries.scoring.recency_weights`);
- ``attribute transitions``: how often, in the training sessions, an item carrying each of
  the candidate's attributes followed an item carrying each of the history items'
  attributes (row-normalised, averaged over both attribute lists, recency-weighted).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..checks import check_int, check_real
from ..data.features import ItemFeatures
from ..data.sessions import Sessions
from ..exceptions import DataError
from ..queries.scoring import recency_weights
from ..training.attributes import tfidf
from .metrics import bootstrap_interval, rank_metrics

__all__ = [
    "COLD_BASELINES",
    "ColdSplit",
    "cold_baselines",
    "cold_split",
    "compare_cold",
    "evaluate_cold",
]

#: The baselines of :func:`cold_baselines`, in report order.
COLD_BASELINES = ("random", "attribute popularity", "content kNN", "attribute transitions")

#: ``ranker(histories, k, allowed) -> (n, k)`` ids: ``histories`` is a list of id lists,
#: ``allowed`` the candidate ids (the history's items are left out by the ranker).
Ranker = Callable[[list[list[Hashable]], int, np.ndarray], np.ndarray]


@dataclass
class ColdSplit:
    """What :func:`cold_split` returns.

    Attributes
    ----------
    train : Sessions
        The log without any event of a cold item, the test sessions cut before their answer.
    cold_ids : ndarray, shape (n_cold,)
        The items held out of training entirely.
    all_ids : ndarray, shape (n_items,)
        Every item of the original log (warm ones and cold ones).
    histories : list of list
        Per test case, up to ``history`` warm item ids before the answer, oldest first.
    answers : ndarray, shape (n_cases,)
        The cold item each case must find.
    """

    train: Sessions
    cold_ids: np.ndarray
    all_ids: np.ndarray
    histories: list[list[Hashable]]
    answers: np.ndarray

    def __len__(self) -> int:
        return len(self.answers)


def cold_split(
    sessions: Sessions,
    share: float = 0.1,
    *,
    n_test: int | None = 2000,
    history: int = 5,
    seed: int = 0,
) -> ColdSplit:
    """Hold ``share`` of the items out of training entirely (see the module docstring).

    ``n_test`` caps the test cases (drawn with ``seed`` among the eligible sessions);
    ``None`` keeps all of them.
    """
    if not isinstance(sessions, Sessions):
        raise DataError(f"sessions must be an item2vec.Sessions, got {type(sessions).__name__}")
    share = check_real("cold share", share, 0.0, strict=True, maximum=0.5)
    history = check_int("history", history, 1)
    if n_test is not None:
        n_test = check_int("n_test", n_test, 1)
    ids = np.asarray(sessions.vocabulary.ids)
    n = len(ids)
    rng = np.random.default_rng(seed)
    n_cold = max(1, int(round(share * n)))
    if n_cold >= n:
        raise DataError(f"a cold share of {share} leaves no warm item among {n} items")
    cold = np.zeros(n, bool)
    cold[rng.choice(n, n_cold, replace=False)] = True
    starts = np.asarray(sessions.offsets[:-1])
    items = np.asarray(sessions.items)
    eligible, answer_at = [], []
    for s, it in enumerate(sessions):
        at = np.flatnonzero(cold[it])
        if len(at) and not cold[it[: at[0]]].all() and at[0] > 0:
            eligible.append(s)
            answer_at.append(at[0])
    if not eligible:
        raise DataError(
            f"no session has a cold item after a warm one ({n_cold} cold items of {n}): "
            "the log is too small for the cold-item protocol"
        )
    order = rng.permutation(len(eligible))
    if n_test is not None:
        order = order[:n_test]
    cut = np.full(len(sessions), -1, np.int64)
    histories, answers = [], []
    for j in order:
        s, p = eligible[j], answer_at[j]
        cut[s] = p
        it = items[starts[s] : starts[s] + p]
        histories.append(ids[it[~cold[it]][-history:]].tolist())
        answers.append(items[starts[s] + p])
    kept = []
    for s, it in enumerate(sessions):
        if cut[s] >= 0:
            it = it[: cut[s]]
        it = it[~cold[it]]
        if len(it) >= 2:
            kept.append(ids[it].tolist())
    train = Sessions.from_lists(kept)
    known = set(np.asarray(train.vocabulary.ids).tolist())  # a session cut to one event is gone
    histories = [[i for i in h if i in known] for h in histories]
    keep = [j for j, h in enumerate(histories) if h]
    if not keep:
        raise DataError("no cold-item test case keeps a history item that is trained on")
    answers = ids[np.asarray(answers)[keep]]
    return ColdSplit(train, ids[cold], ids, [histories[j] for j in keep], answers)


def _weights(histories: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    width = max(len(h) for h in histories)
    rows = np.full((len(histories), width), -1, np.int64)
    for i, h in enumerate(histories):
        rows[i, width - len(h) :] = h  # right-aligned: the newest item last
    return rows, recency_weights(rows)


def cold_baselines(split: ColdSplit, features: ItemFeatures, seed: int = 0) -> dict[str, Ranker]:
    """The four baselines of the module docstring, as rankers over ``split.all_ids``."""
    lookup = features.lookup()
    pos = np.array([lookup.get(i, -1) for i in split.all_ids.tolist()])
    binary, _ = features.matrix()
    a = sp.csr_matrix(binary[np.maximum(pos, 0)].multiply((pos >= 0)[:, None]))  # (n_items, T)
    row_of = {k: i for i, k in enumerate(split.all_ids.tolist())}
    counts = np.zeros(len(split.all_ids))
    train_ids = np.asarray(split.train.vocabulary.ids).tolist()
    counts[[row_of[i] for i in train_ids]] = split.train.vocabulary.counts
    warm = counts > 0
    df = np.asarray((a[np.flatnonzero(warm)] > 0).sum(axis=0)).ravel()
    x = tfidf(a, np.log((warm.sum() + 1.0) / (df + 1.0)) + 1.0)
    size = np.maximum(np.asarray(a.sum(axis=1)).ravel(), 1.0)
    popularity = np.asarray(a.T @ counts).ravel()
    to_row = np.array([row_of[i] for i in train_ids])
    src, dst = [], []
    for it in split.train:
        r = to_row[it]
        src.append(r[:-1])
        dst.append(r[1:])
    pairs = sp.csr_matrix(
        (np.ones(sum(map(len, src))), (np.concatenate(src), np.concatenate(dst))),
        shape=(len(counts), len(counts)),
    )
    trans = sp.csr_matrix(a.T @ pairs @ a)  # (T, T): attribute -> attribute
    out = np.asarray(trans.sum(axis=1)).ravel()
    trans = sp.csr_matrix(sp.diags(1.0 / np.where(out > 0, out, 1.0)) @ trans)
    a_mean = sp.csr_matrix(sp.diags(1.0 / size) @ a)

    def ranker(score: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]) -> Ranker:
        def rank(histories, k, allowed):
            rows = [[row_of[i] for i in h] for h in histories]
            cand = np.array([row_of[i] for i in np.asarray(allowed).tolist()])
            h, w = _weights(rows)
            s = np.array(score(h, w, cand), dtype=np.float64)  # (n, n_cand), a copy
            for i, r in enumerate(rows):  # the history's items are never candidates
                s[i, np.isin(cand, r)] = -np.inf
            top = np.argsort(-s, axis=1, kind="stable")[:, :k]
            return split.all_ids[cand[top]]

        return rank

    rng = np.random.default_rng(seed)

    def random(h, w, cand):
        return rng.random((len(h), len(cand)))

    def popular(h, w, cand):
        return np.broadcast_to(np.asarray(a_mean[cand] @ popularity).ravel(), (len(h), len(cand)))

    def profile(m: sp.csr_matrix, h: np.ndarray, w: np.ndarray) -> sp.csr_matrix:
        weights = sp.csr_matrix(
            (w[h >= 0], (np.nonzero(h >= 0)[0], h[h >= 0])), (len(h), m.shape[0])
        )
        return sp.csr_matrix(weights @ m)  # (n, T)

    def content(h, w, cand):
        return (profile(x, h, w) @ x[cand].T).toarray()

    def transitions(h, w, cand):
        return (profile(a_mean, h, w) @ trans @ a_mean[cand].T).toarray()

    return {
        "random": ranker(random),
        "attribute popularity": ranker(popular),
        "content kNN": ranker(content),
        "attribute transitions": ranker(transitions),
    }


def evaluate_cold(
    split: ColdSplit,
    rankers: Mapping[str, Ranker],
    ks: Sequence[int] = (10, 20),
    batch: int = 500,
) -> dict[str, dict[str, Any]]:
    """Rank every case's answer with each ranker among the cold items and among all items.

    Returns ``{"cold": {name: metrics}, "all": {name: metrics}}``; metrics are
    :func:`~item2vec.evaluation.metrics.rank_metrics` (HR@K, NDCG@K, MRR, ``n``) plus
    ``"hits@K"``, the per-case hits at each K (for paired intervals).
    """
    if not len(split):
        raise DataError("the cold split has no test case")
    top = max(ks)
    row_of = {k: i for i, k in enumerate(split.all_ids.tolist())}
    answers = np.array([row_of[i] for i in split.answers.tolist()])
    out: dict[str, dict[str, Any]] = {}
    for among, allowed in (("cold", split.cold_ids), ("all", split.all_ids)):
        out[among] = {}
        for name, rank in rankers.items():
            found = []
            for lo in range(0, len(split), batch):
                found.append(np.asarray(rank(split.histories[lo : lo + batch], top, allowed)))
            ids = np.concatenate(found)
            rows = np.array([[row_of.get(i, -1) for i in r] for r in ids.tolist()], np.int64)
            res: dict[str, Any] = dict(rank_metrics(rows, answers, tuple(ks), None, len(row_of)))
            for k in ks:
                res[f"hits@{k}"] = (rows[:, :k] == answers[:, None]).any(axis=1)
            out[among][name] = res
    return out


def compare_cold(
    model: Callable[[Sessions, ItemFeatures, int], Ranker],
    sessions: Sessions,
    features: ItemFeatures,
    seeds: Sequence[int] = (0,),
    *,
    share: float = 0.1,
    n_test: int | None = 2000,
    history: int = 5,
    ks: Sequence[int] = (10, 20),
    name: str = "item2vec",
) -> dict[str, pd.DataFrame]:
    """The cold-item protocol over ``seeds`` (one split each) for ``model(train, features,
    seed) -> ranker`` beside the baselines.

    Returns ``{"cold": table, "all": table}``: rows are methods, columns each metric's mean
    over every case of every seed, ``"HR@K low"`` / ``"HR@K high"`` (95% bootstrap over the
    cases), ``n_cases``; the model's row also has ``"HR@K diff"`` (and ``low`` / ``high``):
    the paired difference to the best baseline of that table (by ``HR@{ks[0]}``), case by
    case."""
    pooled: dict[str, dict[str, dict[str, list]]] = {"cold": {}, "all": {}}
    for seed in seeds:
        split = cold_split(sessions, share, n_test=n_test, history=history, seed=seed)
        rankers = {
            name: model(split.train, features, seed),
            **cold_baselines(split, features, seed),
        }
        for among, res in evaluate_cold(split, rankers, ks).items():
            for method, r in res.items():
                slot = pooled[among].setdefault(method, {})
                for key, value in r.items():
                    slot.setdefault(key, []).append(value)
    tables = {}
    first = f"HR@{ks[0]}"
    for among, methods in pooled.items():
        rows: dict[str, dict[str, float]] = {}
        for method, r in methods.items():
            n = np.asarray(r["n_cases"], dtype=np.float64)
            row = {m: float(np.average(r[m], weights=n)) for m in r if not m.startswith("hits")}
            for k in ks:
                hits = np.concatenate(r[f"hits@{k}"]).astype(np.float64)
                row[f"HR@{k} low"], row[f"HR@{k} high"] = bootstrap_interval(hits)
            row["n_cases"] = float(n.sum())
            rows[method] = row
        best = max(COLD_BASELINES, key=lambda m: rows[m][first])
        for k in ks:
            ours = np.concatenate(methods[name][f"hits@{k}"]).astype(np.float64)
            theirs = np.concatenate(methods[best][f"hits@{k}"]).astype(np.float64)
            rows[name][f"HR@{k} diff"] = float((ours - theirs).mean())
            lo, hi = bootstrap_interval(ours - theirs)
            rows[name][f"HR@{k} diff low"], rows[name][f"HR@{k} diff high"] = lo, hi
        rows[name]["best baseline"] = best  # type: ignore[assignment]
        tables[among] = pd.DataFrame.from_dict(rows, orient="index")
    return tables
