"""The guard of :func:`~item2vec.tuning.search.tune`: the search's winner against the defaults.

:func:`run_guard` trains the defaults on the trials' corpus and scores them and the winner
on the confirmation cases, paired case by case; :func:`guard_decision` keeps the winner
only when the one-sided :data:`GUARD_LEVEL` bootstrap lower bound of the difference is
above zero (the method is in :func:`~item2vec.tuning.search.tune`'s notes).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from ..data.split import NextEventSplit
from ..evaluation.halving import HalvingSearch, case_scores
from ..evaluation.metrics import bootstrap_interval
from ..exceptions import TrainingError
from ..queries.scoring import Recommender
from .trainers import TrialTrainer

__all__ = ["GUARD_LEVEL", "default_epochs", "guard_decision", "n_scored", "run_guard"]

#: Confidence of the guard's one-sided lower bound on "winner minus defaults" (see :func:`tune`).
GUARD_LEVEL = 0.9
_GUARD_BOOT = 2000  # bootstrap resamples of the guard's bound


def default_epochs(trainer: TrialTrainer | None, max_epochs: int) -> int | None:
    """Epochs of the defaults: ``Item2Vec()``'s for the default trainer (None: automatic),
    else the trainer's own default for ``epochs``, else ``max_epochs``."""
    if trainer is None:
        from ..estimator import Item2Vec

        return inspect.signature(Item2Vec).parameters["epochs"].default
    p = inspect.signature(trainer).parameters.get("epochs")
    return max_epochs if p is None or p.default is p.empty else p.default


def n_scored(split: NextEventSplit) -> int:
    """Cases of ``split`` that are scored (on a history split: answer not in its history)."""
    if split.histories is None:
        return len(split)
    return int((~(split.histories == split.answers[:, None]).any(axis=1)).sum())


def guard_decision(
    tuned: np.ndarray, defaults: np.ndarray, tuned_sel: float, defaults_sel: float, seed: int
) -> dict[str, Any]:
    """The guard's decision from per-case confirmation values (paired) and selection scores."""
    diff = tuned - defaults
    level = 2 * GUARD_LEVEL - 1  # the lower end of a two-sided 80% interval: one-sided 90%
    lower = bootstrap_interval(diff, _GUARD_BOOT, seed, level)[0]
    if defaults_sel >= tuned_sel:
        kept, reason = False, (f"they score at least as well on the selection cases too, "
                               f"{defaults_sel:.3f} vs {tuned_sel:.3f}")  # fmt: skip
    elif lower > 0:
        kept, reason = True, "the tuned settings beat the defaults on the confirmation cases"
    else:
        kept, reason = False, "the tuned settings do not beat them on the held-back cases"
    return {
        "tuned": float(tuned.mean()), "defaults": float(defaults.mean()),
        "diff": float(diff.mean()), "lower": float(lower), "level": GUARD_LEVEL,
        "n_cases": len(diff), "tuned_selection": float(tuned_sel),
        "defaults_selection": float(defaults_sel), "kept": kept, "reason": reason,
    }  # fmt: skip


def run_guard(
    search: HalvingSearch,
    fit: Callable[[Any, dict[str, Any]], Recommender],
    val: NextEventSplit,
    confirm: NextEventSplit,
    *,
    best_score: float,
    defaults_params: dict[str, Any],
    defaults_epochs: int | None,
    metric: str,
    seed: int,
    clock: Callable[[], float],
) -> dict[str, Any]:
    """Train the defaults on ``val``'s corpus (``fit(train, params)``), score them and the
    search's best recommender on the confirmation cases, and decide (``guard`` of
    :class:`~item2vec.tuning.result.TuneResult`). ``best_score``: the winner's metric on the
    selection cases."""
    if search.bar is not None:
        search.bar.set_description("tune: defaults")
    t0 = clock()
    try:
        d_rec = fit(val.train, defaults_params)
        d_sel, d_conf = case_scores(d_rec, val, metric), case_scores(d_rec, confirm, metric)
    except TrainingError:  # the defaults diverge: they score 0, as a trial would
        d_rec, d_sel, d_conf = None, np.zeros(1), np.zeros(n_scored(confirm))
    d_seconds = clock() - t0
    if search.bar is not None:
        search.bar.update(min(d_seconds, search.bar.total - search.bar.n))
    w_conf = (np.zeros_like(d_conf) if search.best_rec is None
              else case_scores(search.best_rec, confirm, metric))  # fmt: skip
    guard = {"metric": metric, **guard_decision(w_conf, d_conf, best_score,
                                                float(d_sel.mean()), seed)}  # fmt: skip
    d_model = getattr(d_rec, "model", None)
    guard["defaults_epochs"] = getattr(d_model, "epochs_", defaults_epochs)
    guard["seconds"] = d_seconds
    return guard
