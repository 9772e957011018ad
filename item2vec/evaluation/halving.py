"""Successive halving under a deadline: the search loop of :func:`item2vec.tuning.search.tune`.

:class:`HalvingSearch` draws configurations from a grid, trains and validates them as
trials, keeps the best ``1/eta`` of each rung and plans every bracket from the trial times
measured so far (see the :mod:`item2vec.tuning.search` docstring for the method).
"""

from __future__ import annotations

import itertools
import math
import re
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..data.split import NextEventSplit
from ..exceptions import DataError, ParameterError, TrainingError
from ..queries.scoring import Recommender
from .metrics import answer_ranks, case_metrics
from .protocols import evaluate

__all__ = ["HalvingSearch", "Key", "case_scores", "parse_metric", "rung_epochs"]

#: Lower bounds used to refuse a budget before any training: set-up time of one model and
#: training speed in positive couples per second (optimistic for a 2-core machine).
MIN_SETUP_SECONDS = 0.5
MAX_COUPLES_PER_SECOND = 4e6


def parse_metric(metric: Any) -> int:
    """K of ``"HR@K"``, ``"NDCG@K"`` or ``"MRR@K"``."""
    m = re.fullmatch(r"(HR|NDCG|MRR)@(\d+)", metric) if isinstance(metric, str) else None
    if m is None:
        raise ParameterError(
            f"metric must be 'HR@K', 'NDCG@K' or 'MRR@K' (e.g. 'HR@10'), got {metric!r}"
        )
    if int(m.group(2)) < 1:
        raise ParameterError(f"metric {metric!r}: K must be >= 1, got {m.group(2)}")
    return int(m.group(2))


def case_scores(recommend: Recommender, split: NextEventSplit, metric: str) -> np.ndarray:
    """Per-case values of ``metric`` (``"HR@K"``, ``"NDCG@K"`` or ``"MRR@K"``) on ``split``.

    Their mean is ``evaluate(recommend, split, ks=(K,))`` of the metric (``"MRR"`` for
    ``"MRR@K"``): same queries (histories on a history split, where the cases whose answer is
    in the history are left out), same ranks. Two recommenders scored on one split get the
    same cases in the same order, so their values can be paired case by case.
    """
    k = parse_metric(metric)
    queries, answers = split.queries, split.answers
    if split.histories is not None:
        inside = (split.histories == answers[:, None]).any(axis=1)
        queries, answers = split.histories[~inside], answers[~inside]
    if len(answers) == 0:
        raise DataError("the split has no cases to score (every answer is in its history)")
    ranked = np.asarray(recommend(queries, k))
    if ranked.ndim != 2 or ranked.shape[0] != len(answers) or ranked.shape[1] < k:
        raise ParameterError(
            f"recommend returned shape {ranked.shape} for {len(answers)} queries and k={k}; "
            f"expected ({len(answers)}, {k})"
        )
    ranks = answer_ranks(ranked[:, :k], answers, queries if split.histories is None else None)
    cases = case_metrics(ranks, (k,))
    return cases["MRR" if metric.startswith("MRR") else metric]


def rung_epochs(min_epochs: int, max_epochs: int, eta: int) -> list[int]:
    """Epochs of each rung: ``min_epochs * eta**i`` below ``max_epochs``, then ``max_epochs``.

    >>> rung_epochs(2, 50, 3)
    [2, 6, 18, 50]
    """
    out = [min_epochs]
    while out[-1] * eta < max_epochs:
        out.append(out[-1] * eta)
    return out if out[-1] == max_epochs else [*out, max_epochs]


Key = tuple[int, ...]  # a configuration: one value index per parameter of the space


class HalvingSearch:
    """One :func:`tune` run: the configuration pool, the trials and the timing model.

    Timing model: a trial takes ``setup + epochs * per_epoch(config)`` seconds, with
    ``setup`` the median measured outside the epochs and ``per_epoch`` the configuration's own
    measurement (for one not yet seen: the mean over those seen, or their 90th percentile
    when planning the later rungs of a bracket). ``clock`` is the budget's clock: seconds,
    compared with ``deadline``. ``defaults`` is ``(epochs, refit_epochs)`` of the run that
    follows the search (the guard's defaults, an unseen configuration, on the validation
    corpus) and of their refit, which may replace the winner's: every decision keeps time
    for the run and for the longer of the two refits. The recommender of the best trial so
    far is kept (``best_rec``), to be scored again after the search.
    """

    def __init__(self, trainer: Callable[..., Recommender], val: NextEventSplit, refit_events: int,
                 space: dict[str, list], base: dict[str, Any], seed: int, metric: str,
                 deadline: float, clock: Callable[[], float] = time.perf_counter,
                 defaults: tuple[int, int] | None = None,
                 ) -> None:  # fmt: skip
        self.trainer, self.val, self.refit_events = trainer, val, refit_events
        self.clock = clock
        self.space, self.base, self.seed, self.deadline = space, base, seed, deadline
        self.metric, self.k = metric, parse_metric(metric)
        self.rng = np.random.default_rng(seed)
        self.grid_size = math.prod(len(v) for v in space.values())
        self.tried: set[Key] = set()
        self.rows: list[dict[str, Any]] = []
        self.done: dict[tuple[int, Key, int], float] = {}  # (bracket, key, epochs) -> score
        self.setup: list[float] = []
        self.per_epoch: dict[Key, float] = {}
        self.bar: Any = None
        self.defaults = defaults
        self.best_rec: Recommender | None = None  # of the first of the best rows

    def draw(self, n: int) -> list[Key]:
        """Up to ``n`` untried configurations, uniformly at random."""
        sizes = [len(v) for v in self.space.values()]
        if self.grid_size - len(self.tried) <= 4 * n:  # small or nearly exhausted: enumerate
            rest = [c for c in itertools.product(*map(range, sizes)) if c not in self.tried]
            out = [rest[i] for i in self.rng.permutation(len(rest))[:n]]
        else:  # rejection sampling: at least 3/4 of the grid is untried
            out = []
            while len(out) < n:
                c = tuple(int(self.rng.integers(s)) for s in sizes)
                if c not in self.tried and c not in out:
                    out.append(c)
        self.tried.update(out)
        return out

    def params(self, key: Key) -> dict[str, Any]:
        return {n: v[i] for (n, v), i in zip(self.space.items(), key, strict=True)}

    def estimate(
        self,
        key: Key | None,
        epochs: int,
        events: int | None = None,
        slow: bool = False,
        typical: bool = False,
    ) -> float:
        """Seconds of a trial; ``slow``: an unseen configuration is taken at the 90th
        percentile speed (survivors of a rung tend to be the larger, slower ones);
        ``typical``: at the median speed (the defaults, a middle-of-the-space configuration)."""
        # the first trial's set-up also pays for imports and warm-up: left out once others ran
        setup = float(np.median(self.setup[1:] or self.setup or [MIN_SETUP_SECONDS]))
        if key in self.per_epoch:
            per = self.per_epoch[key]
        elif self.per_epoch:
            seen = list(self.per_epoch.values())
            q = 0.9 if slow else 0.5 if typical else None
            per = float(np.mean(seen) if q is None else np.quantile(seen, q))
        else:  # nothing measured yet: a lower bound (two couples per event)
            per = 2 * self.val.train.n_events / MAX_COUPLES_PER_SECOND
        scale = 1.0 if events is None else max(1.0, events / max(self.val.train.n_events, 1))
        return setup + epochs * per * scale

    def reserved(self, refit: float = 0.0) -> float:
        """Estimated seconds after the search: the defaults' run and the longer of ``refit``
        (the winner's) and the defaults' refit."""
        if self.defaults is None:
            return refit
        run, again = self.defaults
        again_s = self.estimate(None, again, self.refit_events, typical=True)
        return self.estimate(None, run, typical=True) + max(refit, again_s)

    def fits(self, key: Key, epochs: int) -> bool:
        """Whether this trial, the refit of the best trial (maybe this one) and the defaults'
        runs fit; an unseen configuration is assumed slow."""
        refit = self.estimate(key, epochs, self.refit_events, slow=True)
        if self.rows:
            best = max(self.rows, key=lambda r: r[self.metric])
            refit = max(refit, self.estimate(best["_key"], best["epochs"], self.refit_events))
        end = self.clock() + self.estimate(key, epochs, slow=True) + self.reserved(refit)
        return end <= self.deadline

    def run(self, key: Key, epochs: int, bracket: int, rung: int) -> float:
        """Train and validate one configuration; record the trial; return its score."""
        t0, k = self.clock(), self.k
        try:
            rec = self.trainer(
                self.val.train, epochs=epochs, seed=self.seed, **{**self.base, **self.params(key)}
            )
            res, diverged = evaluate(rec, self.val, ks=(k,)), False
        except TrainingError:  # a configuration that diverges is a bad one: score it 0, go on
            rec, res, diverged = None, {f"HR@{k}": 0.0, f"NDCG@{k}": 0.0, "MRR": 0.0}, True
        seconds = self.clock() - t0
        train_s = getattr(rec, "train_seconds", None)
        if train_s is not None:
            self.setup.append(max(0.0, seconds - train_s))
        self.per_epoch[key] = (seconds if train_s is None else train_s) / epochs
        row = {"trial": len(self.rows), "bracket": bracket, "rung": rung, "epochs": epochs,
               **self.params(key), f"HR@{k}": res[f"HR@{k}"], f"NDCG@{k}": res[f"NDCG@{k}"],
               f"MRR@{k}": res["MRR"], "seconds": seconds, "diverged": diverged,
               "_key": key}  # fmt: skip
        if not self.rows or row[self.metric] > max(r[self.metric] for r in self.rows):
            self.best_rec = rec  # None for a diverged trial
        self.rows.append(row)
        self.done[bracket, key, epochs] = row[self.metric]
        if self.bar is not None:
            self.bar.update(min(seconds, self.bar.total - self.bar.n))
            self.bar.set_postfix_str(
                f"trial {row['trial']} ({epochs} ep) {self.metric} {row[self.metric]:.3f}, "
                f"best {max(r[self.metric] for r in self.rows):.3f}"
            )
        return row[self.metric]

    def bracket_cost(self, n: int, rungs: list[int], eta: int, start: int = 0) -> float:
        """Estimated seconds of rungs ``start..`` of a bracket of ``n`` configurations."""
        total = 0.0
        for rung, epochs in enumerate(rungs):
            if rung >= start:
                total += n * self.estimate(None, epochs, slow=rung > 0)
            n = max(1, n // eta)
        return total

    def room_for(self, n: int, rungs: list[int], eta: int) -> bool:
        """Whether one more first-rung trial fits with the later rungs of ``n`` configurations
        and the refit."""
        rest = self.estimate(None, rungs[0]) + self.bracket_cost(n, rungs, eta, start=1)
        rest += self.reserved(self.estimate(None, rungs[-1], self.refit_events, slow=True))
        return self.clock() + rest <= self.deadline

    def plan(self, rungs: list[int], eta: int, spent: float, n_min: int) -> tuple[int, list[int]]:
        """Size of the next bracket: every rung if at least ``eta ** (rungs - 1)``
        configurations fit (so one reaches the top), else fewer rungs; then as many
        configurations as fit. ``(0, [])`` when nothing fits."""
        avail = n_min + self.grid_size - len(self.tried)  # n_min are drawn already
        for top in range(len(rungs), 0, -1):
            rs = rungs[:top]
            left = self.deadline - self.clock() + spent
            left -= self.reserved(self.estimate(None, rs[-1], self.refit_events, slow=True))
            lo, hi = min(max(n_min, eta ** (top - 1)), avail), avail
            if self.bracket_cost(lo, rs, eta) > left:
                continue
            while lo < hi:  # bisection: the largest n that fits
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if self.bracket_cost(mid, rs, eta) <= left else (lo, mid - 1)
            return lo, rs
        return 0, []

    def bracket(self, index: int, n: int | None, rungs: list[int], eta: int,
                first: list[Key]) -> bool:  # fmt: skip
        """One successive-halving bracket; False when the budget ran out.

        With ``n`` None the bracket is sized by :meth:`plan`, and the first rung stops early
        (with the configurations run so far) once the estimates, sharper with every trial,
        leave no room for one more and the later rungs.
        """
        adaptive = n is None
        if n is None:
            spent = sum(r["seconds"] for r in self.rows if r["bracket"] == index)
            n, rungs = self.plan(rungs, eta, spent, len(first))
            if n == 0:
                return False
        keys = first + self.draw(n - len(first))
        for rung, epochs in enumerate(rungs):
            scores = []
            for j, key in enumerate(keys):
                score = self.done.get((index, key, epochs))
                if score is None:
                    if adaptive and rung == 0 and j > 0 and not self.room_for(j + 1, rungs, eta):
                        self.tried.difference_update(keys[j:])  # back into the pool
                        keys = keys[:j]
                        break
                    if not self.fits(key, epochs):
                        return False
                    score = self.run(key, epochs, index, rung)
                scores.append(score)
            order = np.argsort(-np.asarray(scores), kind="stable")  # ties: drawn first
            keys = [keys[i] for i in order[: max(1, len(keys) // eta)]]
        return True
