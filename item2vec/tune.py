"""Hyperparameter search by successive halving under a wall-clock budget.

Caselles-Dupré et al. ("Word2vec applied to Recommendation: Hyperparameters Matter", RecSys
2018) showed that the text defaults of word2vec (5 epochs, window 5, ``ns_exponent`` 0.75)
can be far from the best settings for recommendation. :func:`tune` searches them:

1. Split the sessions for next-event prediction (:func:`~item2vec.split.next_event_split`,
   the *test* split) and carve a validation split out of its training part, disjoint from
   the test sessions (:func:`~item2vec.split.validation_split`).
2. Successive halving (Jamieson & Talwalkar 2016; the inner loop of Hyperband): draw ``n``
   random configurations from the space (seeded), train each for ``min_epochs`` epochs on the
   validation split's training corpus, keep the best ``1/eta`` by the validation metric,
   train those from scratch with ``eta`` times more epochs, and so on up to ``max_epochs``.
   ``n`` is the largest number whose bracket fits in the time left (trial times are measured
   as the search goes); while time remains, new brackets run with fresh configurations.
   Trials answer the validation queries with ``ranking`` (default ``"log_prob"``, as
   ``Item2Vec.recommend(..., score="log_prob")``).
3. Refit the best configuration (a trial's settings *and* its epochs) on the test split's
   training corpus and report its test metrics beside the popularity and transition
   baselines.

The budget covers steps 2 and 3: a trial starts only if its estimated time and that of the
final refit fit in what is left, so the run ends near ``budget_seconds`` (a trial slower than
its estimate can overrun it by the difference).
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

from .baselines import BASELINES
from .checks import check_int, check_real
from .config import Config
from .data import Sessions
from .evaluate import evaluate
from .exceptions import DataError, ParameterError
from .halving import (
    MAX_COUPLES_PER_SECOND,
    MIN_SETUP_SECONDS,
    HalvingSearch,
    parse_metric,
    rung_epochs,
)
from .recommenders import gensim_recommender, model_recommender
from .scoring import Recommender, check_score
from .split import NextEventSplit, next_event_split, validation_pool, validation_split

__all__ = [
    "DEFAULT_SPACE",
    "TrialTrainer",
    "TuneResult",
    "tune",
    "item2vec_trainer",
    "gensim_trainer",
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
_NOT_SEARCHABLE = ("epochs", "seed", "progress", "checkpoint_dir", "checkpoint_every")

TrialTrainer = Callable[..., Recommender]
"""``trainer(train, *, epochs, seed, **params) -> recommender``: one trial of :func:`tune`
(not :class:`item2vec.train.Trainer`, the training loop)."""

_clock = time.perf_counter  # the budget's clock (tests substitute a simulated one)


# ----------------------------------------------------------------------------- trainers
def item2vec_trainer(
    train: Sessions, *, epochs: int, seed: int, ranking: str = "log_prob", **params: Any
) -> Recommender:
    """Fit :class:`~item2vec.Item2Vec` on ``train``; recommend by ``ranking`` (see
    :func:`~item2vec.recommenders.model_recommender`: ``"log_prob"``, ``"logit"`` or
    ``"cosine"``).

    Rows of ``train``'s vocabulary that the model does not know (``min_count``) get no
    candidates and are never recommended. The returned recommender carries ``model`` (the
    fitted estimator) and ``train_seconds`` (time spent in epochs, without set-up), which
    :func:`tune` uses to plan the budget.
    """
    from .estimator import Item2Vec

    check_score(ranking, name="ranking")  # before the training, not after
    model = Item2Vec(**params, epochs=epochs, seed=seed, progress=False).fit(train)
    rec = model_recommender(model, train, ranking)
    rec.model = model  # type: ignore[attr-defined]
    rec.train_seconds = float(sum(h["seconds"] for h in model.history_))  # type: ignore[attr-defined]
    return rec


def gensim_trainer(
    train: Sessions,
    *,
    epochs: int,
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

    Same recommender as :func:`~item2vec.recommenders.gensim_recommender` (cosine neighbours,
    or ``ranking="log_prob"``; popularity backfill); ``sg=1`` is skip-gram, ``sg=0`` CBOW.
    Fix ``ranking`` with ``functools.partial``, not in the space.
    """
    rec, _ = gensim_recommender(
        train, dim=dim, window=window, negatives=negatives, ns_exponent=ns_exponent,
        sample=sample, epochs=epochs, workers=workers, seed=seed, sg=sg, ranking=ranking,
    )  # fmt: skip
    return rec


# ----------------------------------------------------------------------------- result
@dataclass
class TuneResult:
    """What :func:`tune` found.

    Attributes
    ----------
    best_params : dict
        Settings of the best trial, epochs and ``base_params`` included:
        ``Item2Vec(**best_params)`` rebuilds it (for the default trainer).
    best_validation : float
        Its validation metric.
    metric : str
        The metric searched on, e.g. ``"HR@10"``.
    test_metrics : dict
        HR@10/20, NDCG@10/20, MRR and n_cases of the refit best configuration on the test
        split; empty when the search was interrupted.
    baselines : dict
        Metrics of each of :data:`~item2vec.baselines.BASELINES` (transitions,
        co-occurrence, popularity) on the same test split.
    trials : pandas.DataFrame
        One row per trial: ``trial``, ``bracket``, ``rung``, ``epochs``, one column per
        searched parameter, ``HR@K``, ``NDCG@K``, ``MRR@K`` (validation, K of ``metric``),
        ``seconds`` and ``diverged`` (training stopped on a non-finite loss: the trial scores
        0 and the search goes on).
    budget_seconds, elapsed : float
        The budget and the wall time spent (search and refit).
    interrupted : bool
        True when Ctrl-C stopped the search (no refit was done).
    model : Any
        The refit model (an ``Item2Vec`` for the default trainer, trained on the test
        split's training corpus), or None.
    split, validation : NextEventSplit
        The test split and the validation split carved out of its training corpus (their
        ``test_sessions`` are disjoint).
    ranking : str or None
        How the default trainer's models were scored (``"log_prob"``: query them with
        ``model.recommend(..., score="log_prob")``); None with a custom trainer.
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

    def summary(self) -> str:
        """A few lines for humans: budget, trials, best settings, test scores vs baselines."""
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
        if self.test_metrics:
            rows = {"tuned": self.test_metrics, **self.baselines}
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


# ----------------------------------------------------------------------------- the search
def tune(
    sessions: Sessions,
    *,
    space: Mapping[str, Sequence[Any]] | None = None,
    budget_seconds: float = 900.0,
    n_valid: int | None = None,
    n_test: int | None = None,
    valid_events: int = 1,
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
) -> TuneResult:
    """Search hyperparameters by successive halving within ``budget_seconds``.

    Parameters
    ----------
    sessions : Sessions
        The whole corpus; needs at least 2 sessions with >= 3 items (one test, one
        validation case).
    space : dict of parameter -> list of values, default :data:`DEFAULT_SPACE`
        Any :class:`~item2vec.Item2Vec` argument except ``epochs`` (the halving resource),
        ``seed``, ``progress`` and checkpoint settings. Values are validated up front.
    budget_seconds : wall-clock budget of the search and the final refit.
    n_valid, n_test : validation and test sessions; default ``min(2000, eligible // 4)``
        for the test and ``min(2000, rest // 3)`` for validation (``rest``: the sessions
        outside the test set long enough for ``valid_events``).
    valid_events : held-out events per validation session (see
        :func:`~item2vec.split.validation_split`): ``m`` gives ``m`` validation cases per
        session, a less noisy metric when sessions are few.
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
    base_params : fixed arguments of every trial (e.g. ``{"negatives": 10}``); the space
        overrides them.
    trainer : ``trainer(train, *, epochs, seed, **params) -> recommender`` (see
        :mod:`item2vec.evaluate`); default :func:`item2vec_trainer`. :func:`gensim_trainer`
        tunes gensim the same way.
    ranking : how the default trainer's models answer next-event queries (see
        :func:`~item2vec.recommenders.model_recommender`); default ``"log_prob"``, the ranking of
        ``Item2Vec.recommend(..., score="log_prob")``. Only with the default trainer.

    Returns
    -------
    TuneResult

    Ctrl-C (``KeyboardInterrupt``) stops the search and *returns* the best result so far,
    with ``interrupted=True`` and empty ``test_metrics`` (no refit is done); it re-raises
    only when no trial has finished yet.
    """
    t_start = _clock()
    if not isinstance(sessions, Sessions):
        raise ParameterError(
            f"sessions must be an item2vec.Sessions, got {type(sessions).__name__}"
        )
    base = dict(base_params or {})
    space = _check_params(DEFAULT_SPACE if space is None else space, base, trainer)
    if trainer is None:
        ranking = check_score("log_prob" if ranking is None else ranking, name="ranking")
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
    if n_configs is not None:
        check_int("n_configs", n_configs, 1)
    parse_metric(metric)
    eligible = int(np.sum(sessions.lengths >= 3))
    if eligible < 2:
        raise DataError(
            f"sessions: tune needs at least 2 sessions with >= 3 items (a test and a "
            f"validation case for next-event prediction), got {eligible}"
        )
    n_test = max(1, min(2000, eligible // 4)) if n_test is None else n_test
    split = next_event_split(sessions, n_test=n_test, seed=seed)
    if n_valid is None:
        rest = len(validation_pool(split, valid_events))
        n_valid = max(1, min(2000, rest // 3))
    val = validation_split(split, n_valid=n_valid, seed=seed, events=valid_events)

    rungs = rung_epochs(min_epochs, max_epochs, eta)
    search = HalvingSearch(trainer, val, split.train.n_events, space, base, seed, metric,
                           t_start + budget_seconds, clock=_clock)  # fmt: skip
    one = search.estimate(None, min_epochs, split.train.n_events)  # a lower bound
    need = _clock() - t_start + 2 * one
    if budget_seconds < need:
        raise ParameterError(
            f"budget_seconds={budget_seconds!r} is too small for one trial and the refit: "
            f"{min_epochs} epoch(s) on {val.train.n_events:,} events take at least ~{need:.1f} s "
            f"(a lower bound: {MAX_COUPLES_PER_SECOND / 1e6:.0f} M couples/s plus "
            f"{MIN_SETUP_SECONDS} s set-up per model); give more time"
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
    test_metrics: dict[str, float] = {}
    model = None
    if not interrupted:
        if search.bar is not None:
            search.bar.set_description("tune: refit")
        try:
            kw = {k: v for k, v in best_params.items() if k != "epochs"}
            rec = trainer(split.train, epochs=best["epochs"], seed=seed, **kw)
            test_metrics, model = evaluate(rec, split), getattr(rec, "model", None)
        except KeyboardInterrupt:
            interrupted, test_metrics = True, {}
            print("tune: interrupted during the refit; returning without test metrics",
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
