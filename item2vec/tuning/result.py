"""What :func:`~item2vec.tuning.search.tune` returns: :class:`TuneResult`, and its summary."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..data.split import NextEventSplit

__all__ = ["TuneResult"]


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
    score : str or None
        How the default trainer's models were scored (``"blend"``: query them with
        ``model.recommend(..., score="blend")``); None with a custom trainer. ``ranking``,
        its former name, is a deprecated alias.
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
    score: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    chose_defaults: bool = False
    defaults_params: dict[str, Any] = field(default_factory=dict)
    guard: dict[str, Any] = field(default_factory=dict)
    defaults_test_metrics: dict[str, float] = field(default_factory=dict)
    confirmation: NextEventSplit | None = field(default=None, repr=False)

    @property
    def ranking(self) -> str | None:
        """Deprecated: :attr:`score`, its new name."""
        warnings.warn(
            "TuneResult.ranking is deprecated: use TuneResult.score", DeprecationWarning, 2
        )
        return self.score

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
            + (f" (ranked by {self.score})" if self.score else ""),
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
