"""Hyperparameter search by successive halving under a wall-clock budget, with a guard.

Caselles-Dupré et al. ("Word2vec applied to Recommendation: Hyperparameters Matter", RecSys
2018) showed that the text defaults of word2vec (5 epochs, window 5, ``ns_exponent`` 0.75)
can be far from the best settings for recommendation. :func:`tune` searches them:

1. Split the sessions for next-event prediction (:func:`~item2vec.data.split.next_event_split`,
   the *test* split, with the history protocol when ``history=N``) and carve a validation
   split out of its training part, disjoint from the test sessions
   (:func:`~item2vec.data.split.validation_split`, same protocol): its cases are the *selection*
   cases. A second, disjoint set of sessions of the same training part gives the
   *confirmation* cases (the guard's, see below); the search never sees them.
2. Successive halving (Jamieson & Talwalkar 2016; the inner loop of Hyperband): draw ``n``
   random configurations from the space (seeded), train each for ``min_epochs`` epochs on the
   validation split's training corpus, keep the best ``1/eta`` by the metric on the selection
   cases, train those from scratch with ``eta`` times more epochs, and so on up to
   ``max_epochs``. ``n`` is the largest number whose bracket fits in the time left (trial
   times are measured as the search goes); while time remains, new brackets run with fresh
   configurations. Trials answer the validation queries with ``score`` (default
   ``"blend"``, as ``Item2Vec.recommend(..., score="blend")``).
3. The guard: train the defaults on the same corpus and score them and the search's winner
   on the confirmation cases, case by case; keep the winner only if it beats the defaults
   there with a paired one-sided 90% lower bound above zero, else return the defaults.
4. Refit the chosen settings (a trial's settings *and* its epochs, or the defaults) on the
   test split's training corpus and report its test metrics beside the popularity and
   transition baselines.

The budget covers steps 2 to 4: a trial starts only if its estimated time, that of the
defaults' run and those of the final refits fit in what is left, so the run ends near
``budget_seconds`` (a trial slower than its estimate can overrun it by the difference).
"""

from __future__ import annotations

import functools
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..checks import check_int, check_real
from ..config import auto_epochs
from ..data.sessions import Sessions
from ..data.split import (
    NextEventSplit,
    confirmation_split,
    next_event_split,
    validation_pool,
    validation_split,
)
from ..evaluation.baselines import BASELINES
from ..evaluation.halving import (
    MAX_COUPLES_PER_SECOND,
    MIN_SETUP_SECONDS,
    HalvingSearch,
    parse_metric,
    rung_epochs,
)
from ..evaluation.protocols import evaluate
from ..evaluation.recommenders import renamed_score
from ..exceptions import DataError, ParameterError
from ..queries.scoring import Recommender, check_score
from .guard import GUARD_LEVEL, default_epochs, run_guard
from .result import TuneResult
from .space import DEFAULT_SPACE, check_params
from .trainers import TrialTrainer, gensim_trainer, item2vec_trainer

__all__ = [
    "DEFAULT_SPACE",
    "GUARD_LEVEL",
    "TrialTrainer",
    "TuneResult",
    "tune",
    "item2vec_trainer",
    "gensim_trainer",
    "confirmation_split",
    "rung_epochs",
]

_clock = time.perf_counter  # the budget's clock (tests substitute a simulated one)


# ----------------------------------------------------------------------------- the search
def tune(
    sessions: Sessions,
    *,
    space: Mapping[str, Sequence[Any]] | None = None,
    budget_seconds: float = 900.0,
    n_valid: int | None = None,
    n_test: int | None = None,
    n_confirm: int | None = None,
    valid_events: int = 1,
    history: int | None = None,
    seed: int = 0,
    eta: int = 3,
    min_epochs: int = 2,
    max_epochs: int = 50,
    n_configs: int | None = None,
    metric: str = "HR@10",
    progress: bool = True,
    base_params: Mapping[str, Any] | None = None,
    trainer: TrialTrainer | None = None,
    score: str | None = None,
    test_defaults: bool = False,
    ranking: str | None = None,
) -> TuneResult:
    """Search hyperparameters by successive halving within ``budget_seconds``; return the
    winner only if it beats the defaults on cases the search never saw.

    Parameters
    ----------
    sessions : Sessions
        The whole corpus; needs at least 2 sessions with >= 3 items (one test, one
        validation case) and one more for the guard.
    space : dict of parameter -> list of values, default :data:`DEFAULT_SPACE`
        Any :class:`~item2vec.Item2Vec` argument except ``epochs`` (the halving resource),
        ``seed``, ``progress`` and checkpoint settings. Values are validated up front.
    budget_seconds : wall-clock budget of the search, the guard and the final refits.
    n_valid, n_test : validation (selection) and test sessions; default
        ``min(2000, eligible // 4)`` for the test and ``min(2000, rest // 3)`` for validation
        (``rest``: the sessions outside the test set long enough for ``valid_events``).
    n_confirm : the guard's confirmation sessions (one case each), drawn among the sessions
        outside the test and validation sets; default ``min(2000, available)``.
    valid_events : held-out events per validation session (see
        :func:`~item2vec.data.split.validation_split`): ``m`` gives ``m`` validation cases per
        session, a less noisy metric when sessions are few.
    history : ``N`` for the history protocol (see :func:`~item2vec.data.split.next_event_split`):
        every query is the last up to ``N`` items before the answer, in the search, the guard
        and the test alike; None: the previous item only.
    seed : seeds the splits, the draw of configurations and every model (with
        ``workers > 1`` the lock-free updates make trials vary slightly between runs).
    eta : halving rate: each rung keeps the best ``1/eta`` and gives them ``eta`` x epochs.
    min_epochs, max_epochs : epochs of the first and the last rung
        (see :func:`rung_epochs`).
    n_configs : configurations in the first rung of each bracket (the budget may still cut
        a bracket short); default: as many as the time left allows, re-estimated after
        every trial of the first rung.
    metric : ``"HR@K"``, ``"NDCG@K"`` or ``"MRR@K"`` on the validation split.
    progress : show a progress bar of the budget, with the best score so far.
    base_params : fixed arguments of every trial (e.g. ``{"negatives": 10}``), and of the
        defaults; the space overrides them.
    trainer : ``trainer(train, *, epochs, seed, **params) -> recommender`` (see
        :mod:`item2vec.evaluation.protocols`); default :func:`item2vec_trainer`.
        :func:`gensim_trainer` tunes gensim the same way (it ranks by cosine or log_prob only,
        :data:`~item2vec.evaluation.recommenders.GENSIM_SCORES`).
    score : how the default trainer's models answer next-event queries (see
        :func:`~item2vec.evaluation.recommenders.model_recommender`); default ``"blend"``,
        as ``Item2Vec.recommend(..., score="blend")``. Only with the default trainer.
    test_defaults : also refit the defaults on the test split's training corpus when the
        winner is kept, and report their test metrics (``defaults_test_metrics``; one more
        model, budgeted).
    ranking : the deprecated former name of ``score``.

    Returns
    -------
    TuneResult
        ``params`` is the choice (``best_params`` or the defaults), ``guard`` the comparison.

    Notes
    -----
    The guard. The best of many noisy validation scores is an optimistic estimate of the
    winner's quality (the winner's curse): with ~100 trials the winner's validation score
    overstates it, and a winner may be no better than, or worse than, the defaults. So the
    winner must prove itself on data that took no part in the selection: the
    *confirmation* cases, one per session, drawn from the sessions of the test split's
    training part that are neither test nor validation sessions. They need no extra data
    and no change to the trials' training corpus (their answers are the last items that
    :func:`~item2vec.data.split.validation_split` already holds out of it), and they leave the
    selection cases whole, so the search is no noisier than without the guard.

    After the search, the *defaults* (``Item2Vec(**base_params)``, the estimator's
    constructor defaults and its default epochs, same score; for a custom trainer its
    own defaults, with its ``epochs`` default or else ``max_epochs``) are trained on the
    same corpus as the trials. They are a candidate: if they score at least the winner's
    metric on the selection cases, they are chosen. Otherwise the winner and the defaults
    are scored on the confirmation cases, *paired* case by case (the same queries, so the
    variance they share through the cases cancels), and the winner is kept only if the
    one-sided 90% percentile-bootstrap lower bound (2,000 resamples, seeded) of the mean
    per-case difference *winner minus defaults* is above zero. A tie, or a gain too small
    to tell from noise on these cases, returns the defaults: the tuner may then miss a
    small gain, but does not return settings that are worse than the defaults (up to the
    10% chance that noise makes a no-better winner look better). The chosen settings are
    then refit on the test split's training corpus.

    Ctrl-C (``KeyboardInterrupt``) stops the search and *returns* the best result so far,
    with ``interrupted=True``, no guard and empty ``test_metrics`` (no refit is done); it
    re-raises only when no trial has finished yet.
    """
    t_start = _clock()
    if not isinstance(sessions, Sessions):
        raise ParameterError(
            f"sessions must be an item2vec.Sessions, got {type(sessions).__name__}"
        )
    base = dict(base_params or {})
    space = check_params(DEFAULT_SPACE if space is None else space, base, trainer)
    defaults_epochs = default_epochs(trainer, max_epochs)
    score = renamed_score(score, ranking, None)
    trainer, score = _resolve_trainer(trainer, score)
    _check_arguments(budget_seconds=budget_seconds, eta=eta, min_epochs=min_epochs,
                     max_epochs=max_epochs, seed=seed, valid_events=valid_events,
                     history=history, n_configs=n_configs, n_confirm=n_confirm,
                     test_defaults=test_defaults, metric=metric)  # fmt: skip
    split, val, confirm = _splits(
        sessions, n_test=n_test, n_valid=n_valid, n_confirm=n_confirm,
        valid_events=valid_events, history=history, seed=seed,
    )  # fmt: skip
    rungs = rung_epochs(min_epochs, max_epochs, eta)
    search = _plan(trainer, split, val, space, base, seed=seed, metric=metric, t_start=t_start,
                   budget_seconds=budget_seconds, min_epochs=min_epochs, max_epochs=max_epochs,
                   eta=eta, defaults_epochs=defaults_epochs)  # fmt: skip
    # cheap, and computed now so that the budget accounts for them
    baselines = {name: evaluate(make(split.train), split) for name, make in BASELINES.items()}
    search.bar = _bar(progress, budget_seconds)
    interrupted = _search(search, rungs, eta, n_configs, budget_seconds)

    best = max(search.rows, key=lambda r: r[metric])  # the first of the best on ties
    best_params = {**base, **search.params(best["_key"]), "epochs": best["epochs"]}
    defaults_params = {**base, "epochs": defaults_epochs}
    out = _Outcome(params=best_params, interrupted=interrupted)

    def fit(train: Sessions, chosen: dict[str, Any]) -> Recommender:
        kw = {k: v for k, v in chosen.items() if k != "epochs"}
        return trainer(train, epochs=chosen["epochs"], seed=seed, **kw)

    if not interrupted:
        try:
            out.guard = run_guard(
                search, fit, val, confirm, best_score=float(best[metric]),
                defaults_params=defaults_params, defaults_epochs=defaults_epochs,
                metric=metric, seed=seed, clock=_clock,
            )  # fmt: skip
            out.chose_defaults = not out.guard["kept"]
            out.params = defaults_params if out.chose_defaults else best_params
            search.best_rec = None  # free it before the refit
            _refit(out, search, fit, split, defaults_params, test_defaults)
        except KeyboardInterrupt:
            out.interrupted, out.test_metrics, out.defaults_test = True, {}, {}
            print("tune: interrupted after the search; returning without test metrics",
                  file=sys.stderr)  # fmt: skip
    _close(search.bar)
    return TuneResult(
        best_params=best_params,
        best_validation=float(best[metric]),
        metric=metric,
        test_metrics=out.test_metrics,
        baselines=baselines,
        trials=pd.DataFrame(search.rows).drop(columns="_key"),
        budget_seconds=float(budget_seconds),
        elapsed=_clock() - t_start,
        interrupted=out.interrupted,
        model=out.model,
        split=split,
        validation=val,
        score=score,
        params=out.params,
        chose_defaults=out.chose_defaults,
        defaults_params=defaults_params,
        guard=out.guard,
        defaults_test_metrics=out.defaults_test,
        confirmation=confirm,
    )


# ----------------------------------------------------------------------------- its steps
def _resolve_trainer(
    trainer: TrialTrainer | None, score: str | None
) -> tuple[TrialTrainer, str | None]:
    """The trials' trainer: :func:`item2vec_trainer` by ``score`` (default ``"blend"``)
    when ``trainer`` is None; ``score`` must be None for a custom one."""
    if trainer is None:
        score = check_score("blend" if score is None else score)
        return functools.partial(item2vec_trainer, score=score), score
    if score is not None:
        raise ParameterError(
            f"score={score!r} applies only to the default trainer; a custom trainer ranks by itself"
        )
    return trainer, score


def _check_arguments(
    *, budget_seconds: float, eta: int, min_epochs: int, max_epochs: int, seed: int,
    valid_events: int, history: int | None, n_configs: int | None, n_confirm: int | None,
    test_defaults: bool, metric: str,
) -> None:  # fmt: skip
    """The checks of :func:`tune`'s scalar arguments, in the order of its signature."""
    check_real("budget_seconds", budget_seconds, 0)
    check_int("eta", eta, 2)
    check_int("min_epochs", min_epochs, 1)
    check_int("max_epochs", max_epochs, min_epochs)
    check_int("seed", seed, 0)
    check_int("valid_events", valid_events, 1)
    if history is not None:
        check_int("history", history, 1)
    if n_configs is not None:
        check_int("n_configs", n_configs, 1)
    if n_confirm is not None:
        check_int("n_confirm", n_confirm, 1)
    if not isinstance(test_defaults, bool):
        raise ParameterError(f"test_defaults must be True or False, got {test_defaults!r}")
    parse_metric(metric)


def _splits(
    sessions: Sessions, *, n_test: int | None, n_valid: int | None, n_confirm: int | None,
    valid_events: int, history: int | None, seed: int,
) -> tuple[NextEventSplit, NextEventSplit, NextEventSplit]:  # fmt: skip
    """The test split, the validation split carved out of its training part (the selection
    cases) and the guard's confirmation cases."""
    eligible = int(np.sum(sessions.lengths >= 3))
    if eligible < 2:
        raise DataError(
            f"sessions: tune needs at least 2 sessions with >= 3 items (a test and a "
            f"validation case for next-event prediction), got {eligible}"
        )
    n_test = max(1, min(2000, eligible // 4)) if n_test is None else n_test
    split = next_event_split(sessions, n_test=n_test, seed=seed, history=history)
    if n_valid is None:
        rest = len(validation_pool(split, valid_events))
        n_valid = max(1, min(2000, rest // 3))
    val = validation_split(split, n_valid=n_valid, seed=seed, events=valid_events)
    confirm = confirmation_split(split, val, n_confirm, seed)
    return split, val, confirm


def _plan(
    trainer: TrialTrainer, split: NextEventSplit, val: NextEventSplit, space: dict[str, list],
    base: dict[str, Any], *, seed: int, metric: str, t_start: float, budget_seconds: float,
    min_epochs: int, max_epochs: int, eta: int, defaults_epochs: int | None,
) -> HalvingSearch:  # fmt: skip
    """The search under the deadline, with time kept for the defaults' run and the refit;
    an error when the budget cannot hold one trial besides them."""
    # time kept for the defaults' run and refit (epochs=None: as the estimator resolves it)
    reserve = (auto_epochs(val.train.n_events), auto_epochs(split.train.n_events))
    if defaults_epochs is not None:
        reserve = (defaults_epochs, defaults_epochs)
    search = HalvingSearch(trainer, val, split.train.n_events, space, base, seed, metric,
                           t_start + budget_seconds, clock=_clock, defaults=reserve)  # fmt: skip
    one = search.estimate(None, min_epochs, split.train.n_events)  # a lower bound
    need = _clock() - t_start + one + search.reserved(one)
    if budget_seconds < need:
        raise ParameterError(
            f"budget_seconds={budget_seconds!r} is too small for one trial, the defaults' run "
            f"and the refit: {min_epochs} epoch(s) on {val.train.n_events:,} events take at "
            f"least ~{need:.1f} s (a lower bound: {MAX_COUPLES_PER_SECOND / 1e6:.0f} M "
            f"couples/s plus {MIN_SETUP_SECONDS} s set-up per model); give more time"
        )
    return search


def _search(
    search: HalvingSearch, rungs: list[int], eta: int, n_configs: int | None,
    budget_seconds: float,
) -> bool:  # fmt: skip
    """Successive halving, bracket after bracket, until the deadline; returns whether
    Ctrl-C stopped it (re-raised when no trial had finished)."""
    try:
        first = search.draw(1)  # measures the speed before the first bracket is sized
        search.run(first[0], rungs[0], 0, 0)
        index = 0
        while search.bracket(index, n_configs, rungs, eta, first):
            first, index = [], index + 1
            if len(search.tried) >= search.grid_size:
                break
        if len(search.rows) == 1 and search.grid_size > 1:
            warnings.warn(
                f"budget_seconds={budget_seconds} left room for one trial only (it took "
                f"{search.rows[0]['seconds']:.1f} s, and the refit takes about as long); "
                "give more time for a search",
                stacklevel=3,
            )
    except KeyboardInterrupt:
        if not search.rows:
            _close(search.bar)
            raise
        print(f"tune: interrupted after {len(search.rows)} trials; returning the best so far "
              "(no refit)", file=sys.stderr)  # fmt: skip
        return True
    return False


@dataclass
class _Outcome:
    """What :func:`tune` chose and measured after the search (filled step by step, so that
    an interrupted refit keeps what was done)."""

    params: dict[str, Any]
    interrupted: bool = False
    chose_defaults: bool = False
    guard: dict[str, Any] = field(default_factory=dict)
    test_metrics: dict[str, float] = field(default_factory=dict)
    defaults_test: dict[str, float] = field(default_factory=dict)
    model: Any = None


def _refit(
    out: _Outcome, search: HalvingSearch, fit: Callable[[Any, dict[str, Any]], Recommender],
    split: NextEventSplit, defaults_params: dict[str, Any], test_defaults: bool,
) -> None:  # fmt: skip
    """Refit the chosen settings on the test split's training corpus and score them there
    (and the defaults, with ``test_defaults``)."""
    if search.bar is not None:
        search.bar.set_description("tune: refit")
    rec = fit(split.train, out.params)
    out.test_metrics, out.model = evaluate(rec, split), getattr(rec, "model", None)
    if out.chose_defaults:
        out.defaults_test = out.test_metrics
    elif test_defaults:
        out.defaults_test = evaluate(fit(split.train, defaults_params), split)


def _bar(enabled: bool, total: float) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=round(total), desc="tune", unit="s", disable=None,
                bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s {postfix}")  # fmt: skip


def _close(bar: Any) -> None:
    if bar is not None:
        bar.close()
