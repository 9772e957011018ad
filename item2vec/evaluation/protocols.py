"""Next-event evaluation: score recommenders on a split, over seeds, against each other.

Protocol (see ``docs/design.md`` and :mod:`item2vec.data.split`): every session with at least
``min_length`` items loses its last item in the training corpus; a seeded sample of those
sessions is the test set, where item n-1 is the query and item n the answer. A
*recommender* (:data:`~item2vec.queries.scoring.Recommender`) is any callable ``fn(queries, k) ->
ranked`` over vocabulary rows, padded with ``-1``.

This module runs the evaluation (:func:`evaluate`, :func:`evaluate_seeds`, :func:`compare`)
and formats its tables (:func:`results_table`, :func:`format_table`). The flow's other
stages have their own modules, and their public names are re-exported here, so that
``item2vec.evaluation.protocols.popularity`` and the like keep working:

- :mod:`item2vec.data.split`: ``NextEventSplit``, ``next_event_split``, ``validation_pool``,
  ``validation_split``;
- :mod:`item2vec.evaluation.metrics`: ``answer_ranks``, ``case_metrics``, ``rank_metrics``,
  ``t_interval``, ``bootstrap_interval``;
- :mod:`item2vec.evaluation.baselines`: ``popularity``, ``transitions``, ``cooccurrence``,
  ``BASELINES``;
- :mod:`item2vec.queries.scoring`: ``Recommender``, ``vector_recommender``, ``check_score``;
- :mod:`item2vec.evaluation.recommenders`: ``model_recommender``, ``gensim_recommender``,
  ``gensim_model_recommender``.

A recommender ranks by a *score* (:data:`item2vec.checks.SCORES`, here as ``SCORES``), as
``Item2Vec.recommend(..., score=...)`` does; :func:`check_score` checks one. ``RANKINGS``
and :func:`check_ranking`, the former names, are deprecated aliases.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..checks import PROTOCOLS, SCORES, check_choice
from ..data.sessions import Sessions
from ..data.split import (
    NextEventSplit,
    full_ranking_split,
    next_event_split,
    validation_pool,
    validation_split,
)
from ..exceptions import DataError, ParameterError
from ..queries.scoring import Recommender, check_score, vector_recommender
from .baselines import BASELINES, cooccurrence, popularity, transitions
from .metrics import (
    answer_ranks,
    bootstrap_interval,
    case_metrics,
    check_ks,
    metrics_and_cases,
    rank_metrics,
    t_interval,
)
from .recommenders import gensim_model_recommender, gensim_recommender, model_recommender

__all__ = [
    "evaluate_cases",
    "NextEventSplit",
    "Recommender",
    "next_event_split",
    "validation_split",
    "validation_pool",
    "answer_ranks",
    "case_metrics",
    "rank_metrics",
    "popularity",
    "transitions",
    "cooccurrence",
    "BASELINES",
    "vector_recommender",
    "model_recommender",
    "SCORES",
    "check_score",
    "gensim_recommender",
    "gensim_model_recommender",
    "evaluate",
    "evaluate_seeds",
    "compare",
    "results_table",
    "format_table",
    "bootstrap_interval",
    "t_interval",
]


# ----------------------------------------------------------------------------- facade
def check_ranking(ranking: Any, allowed: Sequence[str] = SCORES) -> str:
    """Deprecated: :func:`check_score` (``ranking`` is a score). ``ranking`` if it is one of
    ``allowed``, else an error naming ``ranking``."""
    warnings.warn(
        "check_ranking is deprecated: use check_score (item2vec.queries.scoring.check_score)",
        DeprecationWarning,
        stacklevel=2,
    )
    return check_score(ranking, tuple(allowed), "ranking")


def __getattr__(name: str) -> Any:
    if name == "RANKINGS":  # the former name of SCORES
        warnings.warn(
            "RANKINGS is deprecated: use SCORES (item2vec.checks.SCORES)",
            DeprecationWarning,
            stacklevel=2,
        )
        return SCORES
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ----------------------------------------------------------------------------- evaluation
def evaluate_cases(
    recommend: Recommender, split: NextEventSplit, ks: Sequence[int] = (10, 20)
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """:func:`evaluate`'s metrics and, beside them, their value for each test case (for
    paired differences between methods on the same cases)."""
    ks = check_ks(ks)
    n = len(split)
    if n == 0:
        raise DataError("the split has no test cases")
    queries, answers, n_items = split.queries, split.answers, len(split.train.vocabulary)
    if split.histories is not None:  # history protocol: answers inside the history apart
        inside = (split.histories == answers[:, None]).any(axis=1)
        queries, answers = split.histories[~inside], answers[~inside]
        n = len(answers)
        if n == 0:
            raise DataError("every test case has its answer in its history")
    ranked = np.asarray(recommend(queries, ks[-1]))
    if ranked.ndim != 2 or ranked.shape[0] != n or ranked.shape[1] < ks[-1]:
        raise ParameterError(
            f"recommend returned shape {ranked.shape} for {n} queries and k={ks[-1]}; "
            f"expected ({n}, {ks[-1]})"
        )
    if split.histories is None:
        return metrics_and_cases(ranked, answers, ks, queries, n_items)
    out, cases = metrics_and_cases(ranked, answers, ks, None, n_items)
    out["answer in history"] = int(inside.sum())
    return out, cases


def evaluate(
    recommend: Recommender, split: NextEventSplit, ks: Sequence[int] = (10, 20)
) -> dict[str, float]:
    """Metrics of ``recommend`` on ``split`` (one batched call with all queries).

    Returns :func:`rank_metrics` output, with coverage over the split's vocabulary. On a
    history split (``next_event_split(..., history=N)``) ``recommend`` gets the ``(n, N)``
    histories; the cases whose answer is in the history are left out of the metrics and
    counted in ``"answer in history"`` (``n_cases`` counts the others).
    """
    return evaluate_cases(recommend, split, ks)[0]


def _accepts_seed(fn: Callable) -> bool:
    try:
        return "seed" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def evaluate_seeds(
    make_recommender: Callable[..., Recommender],
    sessions: Sessions,
    seeds: Sequence[int] = (0, 1, 2),
    *,
    ks: Sequence[int] = (10, 20),
    n_test: int | None = None,
    test_fraction: float = 0.1,
    min_length: int = 3,
    history: int | None = None,
    level: float = 0.95,
    n_boot: int = 1000,
    protocol: str = "next-event",
) -> dict[str, Any]:
    """Split, fit and evaluate once per seed; mean and interval of every metric.

    Parameters
    ----------
    make_recommender : ``f(train) -> recommender``; if it has a ``seed`` parameter it also
        receives the seed (so model randomness varies with it).
    sessions, seeds, ks, n_test, test_fraction, min_length, history : see
        :func:`next_event_split` (``history=N``: the history protocol).
    level : confidence level of the intervals.
    n_boot : bootstrap resamples, used when there is a single seed.
    protocol : ``"next-event"`` (the split above) or ``"full-ranking"``
        (:func:`~item2vec.data.split.full_ranking_split`: every session with ``min_length``
        items or more is a test case, so the split is the same for every seed and only the
        recommender's seed varies; ``n_test``, ``test_fraction`` and ``history`` must be left
        at their defaults).

    Returns
    -------
    dict: for each metric ``m``, ``m`` (mean over seeds), ``"m low"``, ``"m high"``; plus
    ``n_cases`` (per seed), ``n_seeds`` and ``interval`` (``"t over seeds"`` with >= 2 seeds,
    else ``"bootstrap over cases"``; coverage gets no bootstrap, its interval is the value).
    """
    seeds = _check_seeds(seeds)
    split_kw = dict(
        n_test=n_test, test_fraction=test_fraction, min_length=min_length, history=history,
        protocol=protocol,
    )  # fmt: skip
    return _summary(
        *_seed_runs(make_recommender, sessions, seeds, ks, split_kw), seeds, level, n_boot
    )


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    seeds = list(seeds)
    if not seeds:
        raise ParameterError("seeds must name at least one seed, got ()")
    return seeds


def _seed_runs(
    make_recommender: Callable[..., Recommender],
    sessions: Sessions,
    seeds: list[int],
    ks: Sequence[int],
    split_kw: dict[str, Any],
) -> tuple[list[dict[str, float]], dict[str, np.ndarray]]:
    """Metrics of every seed's split, and the per-case values of the last one."""
    per_seed, cases = [], {}
    split_of = _splitter(sessions, split_kw)
    for seed in seeds:
        split = split_of(seed)
        kw = {"seed": seed} if _accepts_seed(make_recommender) else {}
        metrics, cases = evaluate_cases(make_recommender(split.train, **kw), split, ks)
        per_seed.append(metrics)
    return per_seed, cases


def _splitter(sessions: Sessions, split_kw: dict[str, Any]) -> Callable[[int], NextEventSplit]:
    """The split of each seed: :func:`next_event_split`, or the one full-ranking split."""
    kw = dict(split_kw)
    if check_choice("protocol", kw.pop("protocol", "next-event"), PROTOCOLS) == "next-event":
        return lambda seed: next_event_split(sessions, seed=seed, **kw)
    given = {k: kw[k] for k in ("n_test", "history") if kw.get(k) is not None}
    if kw.get("test_fraction", 0.1) != 0.1:
        given["test_fraction"] = kw["test_fraction"]
    if given:
        named = ", ".join(f"{k}={v!r}" for k, v in given.items())
        raise ParameterError(
            "protocol='full-ranking' tests every session with >= min_length items, queried "
            f"with all its earlier items: leave out {named}"
        )
    split = full_ranking_split(sessions, min_length=kw.get("min_length", 3))
    return lambda seed: split


def _summary(
    per_seed: list[dict[str, float]],
    cases: dict[str, np.ndarray],
    seeds: list[int],
    level: float,
    n_boot: int,
) -> dict[str, Any]:
    """Mean and interval of each metric: t over seeds, or a bootstrap over the cases."""
    out: dict[str, Any] = {}
    counts = ("n_cases", "answer in history")
    for name in (m for m in per_seed[0] if m not in counts):
        vals = np.array([m[name] for m in per_seed])
        if len(seeds) >= 2:
            lo, hi = t_interval(vals, level)
        elif name in cases:
            lo, hi = bootstrap_interval(cases[name], n_boot, seeds[0], level)
        else:
            lo = hi = float(vals[0])
        out.update({name: float(vals.mean()), f"{name} low": lo, f"{name} high": hi})
    out["n_cases"] = per_seed[0]["n_cases"]
    if "answer in history" in per_seed[0]:
        out["answer in history"] = per_seed[0]["answer in history"]
    out["n_seeds"] = len(seeds)
    out["interval"] = "t over seeds" if len(seeds) >= 2 else "bootstrap over cases"
    return out


def results_table(results: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Rows = method, columns = metric means, ``"<metric> low"``/``"high"`` and counts."""
    return pd.DataFrame.from_dict({k: dict(v) for k, v in results.items()}, orient="index")


def compare(
    methods: Mapping[str, Callable[..., Recommender]],
    sessions: Sessions,
    seeds: Sequence[int] = (0, 1, 2),
    *,
    reference: str | None = None,
    **kwargs: Any,
) -> pd.DataFrame:
    """:func:`evaluate_seeds` for each named method on the same splits (``kwargs``: its
    keyword arguments, ``ks``, ``n_test``, ``level``, ...); a :func:`results_table`.

    With ``reference`` (one of the names), every other row also gets ``"<m> diff"``,
    ``"<m> diff low"`` and ``"<m> diff high"`` for each per-case metric ``m`` (HR, NDCG,
    MRR): the paired difference *row minus reference*, split by split. Its interval is a t
    interval over the per-seed differences (>= 2 seeds) or a bootstrap over the per-case
    differences (one seed), so the variance the methods share through the test customers
    cancels: this, not two overlapping per-method intervals, says whether one method beats
    another. The reference row holds NaN there.
    """
    if reference is not None and reference not in methods:
        raise ParameterError(
            f"reference must be one of the methods ({', '.join(map(repr, methods))}), "
            f"got {reference!r}"
        )
    bound = inspect.signature(evaluate_seeds).bind_partial(seeds=seeds, **kwargs)
    bound.apply_defaults()  # evaluate_seeds' defaults, kept in one place
    opts = bound.arguments
    seeds, level, n_boot = _check_seeds(opts["seeds"]), opts["level"], opts["n_boot"]
    split_kw = {k: opts[k] for k in ("n_test", "test_fraction", "min_length", "history",
                                     "protocol")}  # fmt: skip
    runs = {
        name: _seed_runs(f, sessions, seeds, opts["ks"], split_kw) for name, f in methods.items()
    }
    rows = {name: _summary(*run, seeds, level, n_boot) for name, run in runs.items()}
    if reference is not None:
        ref_seeds, ref_cases = runs[reference]
        for name, (per_seed, cases) in runs.items():
            diff_seeds = [{m: a[m] - b[m] for m in cases} | {"n_cases": a["n_cases"]}
                          for a, b in zip(per_seed, ref_seeds, strict=True)]  # fmt: skip
            diff_cases = {m: cases[m] - ref_cases[m] for m in cases}
            diff = _summary(diff_seeds, diff_cases, seeds, level, n_boot)
            for m in cases:
                for suffix in ("", " low", " high"):
                    rows[name][f"{m} diff{suffix}"] = (
                        np.nan if name == reference else diff[m + suffix]
                    )
    return results_table(rows)


def format_table(
    table: pd.DataFrame,
    metrics: Sequence[str] | None = None,
    digits: int = 3,
    markdown: bool = False,
) -> str:
    """Text (or Markdown) table with cells such as ``0.123 ± 0.004`` (mean ± half interval)."""
    if metrics is None:
        metrics = [c for c in table.columns if f"{c} low" in table.columns]
    missing = [m for m in metrics if m not in table.columns]
    if missing:
        raise ParameterError(f"metrics not in the table: {missing}")
    cells = pd.DataFrame(index=table.index)
    for m in metrics:
        half = (table[f"{m} high"] - table[f"{m} low"]) / 2 if f"{m} low" in table else None
        cells[m] = [
            "-"
            if np.isnan(v)
            else f"{v:.{digits}f}" + ("" if half is None else f" ± {h:.{digits}f}")
            for v, h in zip(table[m], half if half is not None else table[m], strict=True)
        ]
    if "n_cases" in table:
        cells["cases"] = table["n_cases"].astype(int).astype(str)
    if not markdown:
        return cells.to_string()
    head = ["method", *cells.columns]
    rows = [[str(i), *map(str, r)] for i, r in zip(cells.index, cells.to_numpy(), strict=True)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
