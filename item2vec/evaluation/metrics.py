"""Ranking metrics and their intervals: HR@K, NDCG@K, MRR, coverage; t and bootstrap.

Inputs are vocabulary *rows*: a ranked list per case (``(n, k)`` ints, best first, ``-1`` for
an empty slot), the answer of each case and, optionally, its query. :func:`check_ks` and
:func:`item2vec.arrays.check_rows` are the argument checks every ranking function of the package
shares.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..arrays import check_rows
from ..checks import check_int, check_k, is_real
from ..exceptions import DataError, ParameterError

__all__ = [
    "check_ks",
    "answer_ranks",
    "case_metrics",
    "rank_metrics",
    "metrics_and_cases",
    "t_quantile",
    "t_interval",
    "bootstrap_interval",
]


def check_ks(ks: int | Sequence[int]) -> tuple[int, ...]:
    """Cutoffs as a sorted tuple of distinct ints >= 1 (one int is one cutoff)."""
    ks = (ks,) if isinstance(ks, int | np.integer) else tuple(ks)
    if not ks:
        raise ParameterError("ks must name at least one cutoff, got ()")
    return tuple(sorted({check_k(k) for k in ks}))


def answer_ranks(
    ranked: np.ndarray, answers: np.ndarray, queries: np.ndarray | None = None
) -> np.ndarray:
    """1-based rank of each answer in its list, 0 when absent; shape (n,).

    ``ranked`` is (n, k); where ``queries`` is given and equals the answer, the rank is 1.
    """
    ranked = np.asarray(ranked)
    if ranked.ndim != 2:
        raise ParameterError(f"ranked must be 2-D (n_cases, k), got shape {ranked.shape}")
    answers = check_rows("answers", answers, len(ranked))
    if len(answers) == 0:
        raise DataError("no test cases: answers is empty")
    hit = ranked == answers[:, None]
    ranks = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, 0)
    if queries is not None:
        ranks[check_rows("queries", queries, len(ranked)) == answers] = 1
    return ranks


def case_metrics(ranks: np.ndarray, ks: Sequence[int] = (10, 20)) -> dict[str, np.ndarray]:
    """Per-case ``HR@K``, ``NDCG@K`` and ``MRR`` (cut at max K) from ranks; each (n,)."""
    ks = check_ks(ks)
    ranks = np.asarray(ranks)
    found = ranks >= 1
    gain = np.where(found, 1.0 / np.log2(np.maximum(ranks, 1) + 1.0), 0.0)
    out: dict[str, np.ndarray] = {}
    for k in ks:
        in_k = found & (ranks <= k)
        out[f"HR@{k}"] = in_k.astype(np.float64)
        out[f"NDCG@{k}"] = np.where(in_k, gain, 0.0)
    in_max = found & (ranks <= ks[-1])
    out["MRR"] = np.where(in_max, 1.0 / np.maximum(ranks, 1), 0.0)
    return out


def rank_metrics(
    ranked: np.ndarray,
    answers: np.ndarray,
    ks: Sequence[int] = (10, 20),
    queries: np.ndarray | None = None,
    n_items: int | None = None,
) -> dict[str, float]:
    """Mean HR@K, NDCG@K (binary relevance, 1/log2(rank+1)), MRR within the largest K.

    Parameters
    ----------
    ranked : int array, shape (n, >= max(ks)); recommended rows, best first; -1 = empty.
    answers : int array, shape (n,).
    ks : cutoffs.
    queries : int array, shape (n,), optional; a query equal to its answer is a hit at rank 1.
    n_items : catalogue size; adds ``coverage@K``, the share of it in any top-K list.

    Returns
    -------
    dict with ``HR@K``, ``NDCG@K`` per K, ``MRR``, ``coverage@K`` and ``n_cases``.
    """
    return metrics_and_cases(ranked, answers, ks, queries, n_items)[0]


def metrics_and_cases(
    ranked: np.ndarray,
    answers: np.ndarray,
    ks: Sequence[int],
    queries: np.ndarray | None,
    n_items: int | None,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """:func:`rank_metrics`, and the per-case values (:func:`case_metrics`) it averages."""
    ks = check_ks(ks)
    ranked = np.asarray(ranked)
    if ranked.ndim != 2 or ranked.shape[1] < ks[-1] or ranked.dtype.kind not in "iu":
        raise ParameterError(
            f"ranked must be an integer array of shape (n_cases, >= {ks[-1]}), "
            f"got {ranked.dtype} {ranked.shape}"
        )
    ranked = ranked[:, : ks[-1]]
    cases = case_metrics(answer_ranks(ranked, answers, queries), ks)
    out = {name: float(v.mean()) for name, v in cases.items()}
    if n_items is not None:
        check_int("n_items", n_items, 1)
        for k in ks:
            top = ranked[:, :k]
            out[f"coverage@{k}"] = len(np.unique(top[top >= 0])) / n_items
    out["n_cases"] = len(ranked)
    return out, cases


# ----------------------------------------------------------------------------- intervals
def t_quantile(p: float, dof: int) -> float:
    """Quantile ``p`` of Student's t with ``dof`` degrees of freedom (no scipy).

    With t = sqrt(dof) tan(u), the CDF is 1/2 + c * integral_0^u cos(x)^(dof-1) dx,
    tabulated on a fine grid and inverted.
    """
    u = np.linspace(0.0, np.pi / 2, 200_001)
    f = np.cos(u) ** (dof - 1)
    cdf = np.concatenate([[0.0], np.cumsum((f[1:] + f[:-1]) / 2) * (u[1] - u[0])])
    c = math.exp(math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2)) / math.sqrt(math.pi)
    return float(math.sqrt(dof) * math.tan(np.interp(p - 0.5, c * cdf, u)))


def t_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean of ``values`` (n >= 2), e.g. one per seed."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or len(v) < 2:
        raise ParameterError(f"values must be 1-D with >= 2 entries, got shape {v.shape}")
    _check_level(level)
    half = t_quantile((1 + level) / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return float(v.mean() - half), float(v.mean() + half)


def bootstrap_interval(
    values: np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-case ``values`` (n,)."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or len(v) == 0:
        raise ParameterError(f"values must be 1-D and non-empty, got shape {v.shape}")
    check_int("n_boot", n_boot, 1)
    _check_level(level)
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    step = max(1, 2**22 // len(v))
    for s in range(0, n_boot, step):
        b = min(step, n_boot - s)
        means[s : s + b] = v[rng.integers(0, len(v), size=(b, len(v)))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def _check_level(level: Any) -> float:
    """A confidence level, strictly between 0 and 1."""
    if not is_real(level) or not 0 < level < 1:
        raise ParameterError(f"level must be in (0, 1), got {level!r}")
    return float(level)
