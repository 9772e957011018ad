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
   configurations. Trials answer the validation queries with ``ranking`` (default
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
import inspect
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..checks import check_int, check_real
from ..config import Config, auto_epochs
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
    case_scores,
    parse_metric,
    rung_epochs,
)
from ..evaluation.metrics import bootstrap_interval
from ..evaluation.protocols import evaluate
from ..evaluation.recommenders import gensim_recommender, model_recommender
from ..exceptions import DataError, ParameterError, TrainingError
from ..queries.scoring import Recommender, check_score

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

#: The default search space (values drawn uniformly). Epochs are not in it: they are the
#: resource successive halving hands out, from ``min_epochs`` to ``max_epochs``.
DEFAULT_SPACE: dict[str, list[Any]] = {
    "ns_exponent": [-1.0, -0.5, 0.0, 0.5, 0.75, 1.0],
    "window": [1, 2, 3, 5],
    "sample": [0.0, 1e-5, 1e-4, 1e-3],
    "dim": [32, 64, 128],
    "mode": ["skipgram", "cbow"],
}


#: Item2Vec arguments the search never varies (epochs is the halving resource).
_NOT_SEARCHABLE = ("epochs", "seed", "progress", "checkpoint_dir", "checkpoint_every", "device")

#: Confidence of the guard's one-sided lower bound on "winner minus defaults" (see :func:`tune`).
GUARD_LEVEL = 0.9
_GUARD_BOOT = 2000  # bootstrap resamples of the guard's bound

TrialTrainer = Callable[..., Recommender]
"""``trainer(train, *, epochs, seed, **params) -> recommender``: one trial of :func:`tune`
(not :class:`item2vec.training.train.Trainer`, the training loop)."""

_clock = time.perf_counter  # the budget's clock (tests substitute a simulated one)


# ----------------------------------------------------------------------------- trainers
def item2vec_trainer(
    train: Sessions, *, epochs: int | None, seed: int, ranking: str = "blend", **params: Any
) -> Recommender:
    """Fit :class:`~item2vec.Item2Vec` on ``train``; recommend by ``ranking`` (see
    :func:`~item2vec.evaluation.recommenders.model_recommender`: ``"blend"``, the default,
    ``"log_prob"``, ``"logit"`` or ``"cosine"``). ``epochs=None``: the estimator's automatic
    number.

    Rows of ``train``'s vocabulary that the model does not know (``min_count``) get no
    candidates and are never recommended. The returned recommender carries ``model`` (the
    fitted estimator) and ``train_seconds`` (time spent in epochs, without set-up), which
    :func:`tune` uses to plan the budget.
    """
    from ..estimator import Item2Vec

    check_score(ranking, name="ranking")  # before the training, not after
    with warnings.catch_warnings():  # a halving rung is short on purpose: no under-training note
        warnings.filterwarnings(
            "ignore", message=r"epochs=.*likely too short", category=UserWarning
        )
        model = Item2Vec(**params, epochs=epochs, seed=seed, progress=False).fit(train)
    rec = model_recommender(model, train, ranking)
    rec.model = model  # type: ignore[attr-defined]
    rec.train_seconds = float(sum(h["seconds"] for h in model.history_))  # type: ignore[attr-defined]
    return rec


def gensim_trainer(
    train: Sessions,
    *,
    epochs: int = 5,
    seed: int,
    dim: int = 64,
    window: int = 5,
    negatives: int = 5,
    ns_exponent: float = 0.75,
    sample: float = 1e-3,
    sg: int = 1,
    workers: int = 2,
    ranking: str = "cosine",
) -> Recommender:
    """gensim ``Word2Vec`` as a :func:`tune` trainer (needs ``pip install 'item2vec[bench]'``).

    Same recommender as :func:`~item2vec.evaluation.recommenders.gensim_recommender` (cosine neighbours,
    or ``ranking="log_prob"``, the scores of :data:`~item2vec.evaluation.recommenders.GENSIM_SCORES`;
    popularity backfill); ``sg=1`` is skip-gram, ``sg=0`` CBOW. Fix ``ranking`` with
    ``functools.partial``, not in the space. ``epochs`` defaults to gensim's 5: the epochs
    of the defaults :func:`tune`'s guard compares the winner with.
    """
    rec, _ = gensim_recommender(
        train, dim=dim, window=window, negatives=negatives, ns_exponent=ns_exponent,
        sample=sample, epochs=epochs, workers=workers, seed=seed, sg=sg, ranking=ranking,
    )  # fmt: skip
    return rec


# ----------------------------------------------------------------------------- result
@dataclass
class TuneResult:
    """What :func:`tune` found, and what it chose.

    Attributes
    ----------
    best_params : dict
        Settings of the search's winner (the best trial on the selection cases), epochs and
        ``base_params`` included: ``Item2Vec(**best_params)`` rebuilds it (for the default
        trainer). Not necessarily the choice: see ``params``.
    best_validation : float
        Its metric on the selection cases.
    metric : str
        The metric searched on, e.g. ``"HR@10"``.
    params : dict
        The settings :func:`tune` returns: ``best_params`` when the guard kept them, else
        ``defaults_params``. ``test_metrics`` and ``model`` are those of ``params``.
    chose_defaults : bool
        True when the guard returned the defaults (the winner did not beat them on the
        confirmation cases).
    defaults_params : dict
        The defaults: ``base_params`` and the default epochs (for the default trainer
        ``Item2Vec()``'s, None meaning automatic), every other setting the trainer's default.
    guard : dict
        The comparison on the confirmation cases (empty when the search was interrupted):
        ``metric``; ``tuned`` and ``defaults`` (its mean for each); ``diff`` (tuned minus
        defaults, paired case by case); ``lower`` (its one-sided ``level`` bootstrap lower
        bound); ``level``; ``n_cases``; ``tuned_selection`` and ``defaults_selection`` (the
        metric on the selection cases); ``defaults_epochs`` (as run, when known);
        ``seconds`` (the defaults' run); ``kept`` (bool) and ``reason`` (a sentence).
    test_metrics : dict
        HR@10/20, NDCG@10/20, MRR and n_cases of the refit chosen configuration on the test
        split; empty when the search was interrupted.
    defaults_test_metrics : dict
        The same for the defaults: ``test_metrics`` when they were chosen, their own refit
        with ``test_defaults=True``, else empty.
    baselines : dict
        Metrics of each of :data:`~item2vec.evaluation.baselines.BASELINES` (transitions,
        co-occurrence, popularity) on the same test split.
    trials : pandas.DataFrame
        One row per trial: ``trial``, ``bracket``, ``rung``, ``epochs``, one column per
        searched parameter, ``HR@K``, ``NDCG@K``, ``MRR@K`` (selection cases, K of
        ``metric``), ``seconds`` and ``diverged`` (training stopped on a non-finite loss: the
        trial scores 0 and the search goes on). The defaults' run is in ``guard``, not here.
    budget_seconds, elapsed : float
        The budget and the wall time spent (search, guard and refits).
    interrupted : bool
        True when Ctrl-C stopped the search (no guard and no refit were done).
    model : Any
        The refit model of ``params`` (an ``Item2Vec`` for the default trainer, trained on
        the test split's training corpus), or None.
    split, validation, confirmation : NextEventSplit
        The test split, the validation split carved out of its training corpus (the
        selection cases) and the confirmation cases (same training corpus as
        ``validation``); their sessions are pairwise disjoint.
    ranking : str or None
        How the default trainer's models were scored (``"blend"``: query them with
        ``model.recommend(..., score="blend")``); None with a custom trainer.
    """

    best_params: dict[str, Any]
    best_validation: float
    metric: str
    test_metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    trials: pd.DataFrame
    budget_seconds: float
    elapsed: float
    interrupted: bool = False
    model: Any = field(default=None, repr=False)
    split: NextEventSplit | None = field(default=None, repr=False)
    validation: NextEventSplit | None = field(default=None, repr=False)
    ranking: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    chose_defaults: bool = False
    defaults_params: dict[str, Any] = field(default_factory=dict)
    guard: dict[str, Any] = field(default_factory=dict)
    defaults_test_metrics: dict[str, float] = field(default_factory=dict)
    confirmation: NextEventSplit | None = field(default=None, repr=False)

    def guard_line(self) -> str:
        """One line: the guard's comparison and its decision (empty when it did not run)."""
        g = self.guard
        if not g:
            return ""
        line = (
            f"guard: tuned {g['tuned']:.3f} vs defaults {g['defaults']:.3f} {g['metric']} on "
            f"{g['n_cases']:,} held-back validation cases (diff {g['diff']:+.3f}, "
            f"{g['level']:.0%} lower bound {g['lower']:+.3f}): "
        )
        return line + ("keeping the tuned settings" if g["kept"] else
                       f"returning the defaults ({g['reason']})")  # fmt: skip

    def summary(self) -> str:
        """A few lines for humans: budget, trials, best settings, the guard, test scores vs
        baselines."""
        t = self.trials
        lines = [
            f"tune: {len(t)} trials in {t['bracket'].nunique() if len(t) else 0} bracket(s), "
            f"{self.elapsed:.0f} s of a {self.budget_seconds:.0f} s budget"
            + (" (interrupted)" if self.interrupted else "")
            + (f"; {int(t['diverged'].sum())} diverged" if len(t) and t["diverged"].any() else ""),
            f"best {self.metric} on validation: {self.best_validation:.4f} with "
            + ", ".join(f"{k}={v!r}" for k, v in self.best_params.items())
            + (f" (ranked by {self.ranking})" if self.ranking else ""),
        ]
        if self.guard:
            lines.append(self.guard_line())
            if self.chose_defaults:
                lines.append(
                    "chosen: the defaults, "
                    + (", ".join(f"{k}={v!r}" for k, v in self.defaults_params.items()) or "-")
                )
        if self.test_metrics:
            rows = {"defaults" if self.chose_defaults else "tuned": self.test_metrics}
            if self.defaults_test_metrics and not self.chose_defaults:
                rows["defaults"] = self.defaults_test_metrics
            rows.update(self.baselines)
            lines.append(f"test ({int(self.test_metrics['n_cases'])} cases):")
            for name, m in rows.items():
                lines.append(
                    f"  {name:<14} HR@10 {m['HR@10']:.4f}  NDCG@10 {m['NDCG@10']:.4f}  "
                    f"HR@20 {m['HR@20']:.4f}"
                )
        else:
            lines.append("test: not evaluated (search interrupted; refit best_params yourself)")
        return "\n".join(lines)


# ----------------------------------------------------------------------------- checks
def _config_args(params: Mapping[str, Any]) -> dict[str, Any]:
    """The :class:`Config` fields among Item2Vec arguments (``index`` is not one)."""
    return {k: v for k, v in params.items() if k in Config.__dataclass_fields__}


def _check_params(
    space: Any, base: dict[str, Any], trainer: TrialTrainer | None
) -> dict[str, list]:
    """Validate ``base_params`` and the space (names, then every value); return the space."""
    clash = sorted(set(base) & {"epochs", "seed"})
    if clash:
        raise ParameterError(f"base_params must not set {', '.join(clash)}: tune sets them")
    if trainer is None:  # Item2Vec: names and values are checked against Config
        allowed: set[str] | None = set(Config.__dataclass_fields__) - set(_NOT_SEARCHABLE)
        unknown = sorted(set(base) - set(Config.__dataclass_fields__) - {"index"})
        if unknown:
            raise ParameterError(f"unknown parameter in base_params: {unknown[0]!r}")
        Config(**_config_args(base)).validate()
    else:  # a custom trainer: names are checked against its signature
        sig = inspect.signature(trainer).parameters
        var_kw = any(p.kind is p.VAR_KEYWORD for p in sig.values())
        allowed = None if var_kw else set(list(sig)[1:]) - {"epochs", "seed"}
    if not isinstance(space, Mapping) or not space:
        raise ParameterError(
            f"space must be a non-empty dict of parameter -> list of values, got {space!r}"
        )
    out: dict[str, list] = {}
    for name, values in space.items():
        if name == "epochs":
            raise ParameterError(
                "space['epochs']: epochs is the resource successive halving hands out; "
                "set min_epochs and max_epochs instead"
            )
        if allowed is not None and name not in allowed:
            raise ParameterError(
                f"unknown parameter in space: {name!r}; searchable: {', '.join(sorted(allowed))}"
            )
        if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
            raise ParameterError(f"space[{name!r}] must be a list of values, got {values!r}")
        if len(values) == 0:
            raise ParameterError(f"space[{name!r}] is empty: give at least one value")
        for v in values if trainer is None else ():
            try:
                Config(**{**_config_args(base), name: v}).validate()
            except ParameterError as e:
                raise ParameterError(f"space[{name!r}] holds an invalid value: {e}") from None
        out[name] = list(values)
    return out


# ----------------------------------------------------------------------------- the guard
def _default_epochs(trainer: TrialTrainer | None, max_epochs: int) -> int | None:
    """Epochs of the defaults: ``Item2Vec()``'s for the default trainer (None: automatic),
    else the trainer's own default for ``epochs``, else ``max_epochs``."""
    if trainer is None:
        from ..estimator import Item2Vec

        return inspect.signature(Item2Vec).parameters["epochs"].default
    p = inspect.signature(trainer).parameters.get("epochs")
    return max_epochs if p is None or p.default is p.empty else p.default


def _n_scored(split: NextEventSplit) -> int:
    """Cases of ``split`` that are scored (on a history split: answer not in its history)."""
    if split.histories is None:
        return len(split)
    return int((~(split.histories == split.answers[:, None]).any(axis=1)).sum())


def _guard(
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
    ranking: str | None = None,
    test_defaults: bool = False,
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
        :mod:`item2vec.evaluation.protocols`); default :func:`item2vec_trainer`. :func:`gensim_trainer`
        tunes gensim the same way (it ranks by cosine or log_prob only,
        :data:`~item2vec.evaluation.recommenders.GENSIM_SCORES`).
    ranking : how the default trainer's models answer next-event queries (see
        :func:`~item2vec.evaluation.recommenders.model_recommender`); default ``"blend"``, the ranking of
        ``Item2Vec.recommend(..., score="blend")``. Only with the default trainer.
    test_defaults : also refit the defaults on the test split's training corpus when the
        winner is kept, and report their test metrics (``defaults_test_metrics``; one more
        model, budgeted).

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
    constructor defaults and its default epochs, same ranking; for a custom trainer its
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
    space = _check_params(DEFAULT_SPACE if space is None else space, base, trainer)
    defaults_epochs = _default_epochs(trainer, max_epochs)
    if trainer is None:
        ranking = check_score("blend" if ranking is None else ranking, name="ranking")
        trainer = functools.partial(item2vec_trainer, ranking=ranking)
    elif ranking is not None:
        raise ParameterError(
            f"ranking={ranking!r} applies only to the default trainer; a custom trainer "
            "ranks by itself"
        )
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

    rungs = rung_epochs(min_epochs, max_epochs, eta)
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
    # cheap, and computed now so that the budget accounts for them
    baselines = {name: evaluate(make(split.train), split) for name, make in BASELINES.items()}
    search.bar = _bar(progress, budget_seconds)
    interrupted = False
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
                stacklevel=2,
            )
    except KeyboardInterrupt:
        interrupted = True
        if not search.rows:
            _close(search.bar)
            raise
        print(f"tune: interrupted after {len(search.rows)} trials; returning the best so far "
              "(no refit)", file=sys.stderr)  # fmt: skip

    best = max(search.rows, key=lambda r: r[metric])  # the first of the best on ties
    best_params = {**base, **search.params(best["_key"]), "epochs": best["epochs"]}
    defaults_params = {**base, "epochs": defaults_epochs}
    params, chose_defaults, guard = best_params, False, {}
    test_metrics: dict[str, float] = {}
    defaults_test: dict[str, float] = {}
    model = None

    def fit(train: Sessions, chosen: dict[str, Any]) -> Recommender:
        kw = {k: v for k, v in chosen.items() if k != "epochs"}
        return trainer(train, epochs=chosen["epochs"], seed=seed, **kw)

    if not interrupted:
        try:
            if search.bar is not None:
                search.bar.set_description("tune: defaults")
            t0 = _clock()
            try:
                d_rec = fit(val.train, defaults_params)
                d_sel, d_conf = case_scores(d_rec, val, metric), case_scores(d_rec, confirm, metric)
            except TrainingError:  # the defaults diverge: they score 0, as a trial would
                d_rec, d_sel, d_conf = None, np.zeros(1), np.zeros(_n_scored(confirm))
            d_seconds = _clock() - t0
            if search.bar is not None:
                search.bar.update(min(d_seconds, search.bar.total - search.bar.n))
            w_conf = (np.zeros_like(d_conf) if search.best_rec is None
                      else case_scores(search.best_rec, confirm, metric))  # fmt: skip
            guard = {"metric": metric, **_guard(w_conf, d_conf, float(best[metric]),
                                                float(d_sel.mean()), seed)}  # fmt: skip
            d_model = getattr(d_rec, "model", None)
            guard["defaults_epochs"] = getattr(d_model, "epochs_", defaults_epochs)
            guard["seconds"] = d_seconds
            chose_defaults = not guard["kept"]
            params = defaults_params if chose_defaults else best_params
            search.best_rec = d_rec = None  # free them before the refit
            if search.bar is not None:
                search.bar.set_description("tune: refit")
            rec = fit(split.train, params)
            test_metrics, model = evaluate(rec, split), getattr(rec, "model", None)
            if chose_defaults:
                defaults_test = test_metrics
            elif test_defaults:
                defaults_test = evaluate(fit(split.train, defaults_params), split)
        except KeyboardInterrupt:
            interrupted, test_metrics, defaults_test = True, {}, {}
            print("tune: interrupted after the search; returning without test metrics",
                  file=sys.stderr)  # fmt: skip
    _close(search.bar)
    return TuneResult(
        best_params=best_params,
        best_validation=float(best[metric]),
        metric=metric,
        test_metrics=test_metrics,
        baselines=baselines,
        trials=pd.DataFrame(search.rows).drop(columns="_key"),
        budget_seconds=float(budget_seconds),
        elapsed=_clock() - t_start,
        interrupted=interrupted,
        model=model,
        split=split,
        validation=val,
        ranking=ranking,
        params=params,
        chose_defaults=chose_defaults,
        defaults_params=defaults_params,
        guard=guard,
        defaults_test_metrics=defaults_test,
        confirmation=confirm,
    )


def _bar(enabled: bool, total: float) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=round(total), desc="tune", unit="s", disable=None,
                bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s {postfix}")  # fmt: skip


def _close(bar: Any) -> None:
    if bar is not None:
        bar.close()
