"""Tests of the successive-halving search (``item2vec.tuning.search``).

The halving logic runs with a fake trainer whose validation score is known in advance (it
answers a planted share of the validation cases), so these tests take milliseconds; a few
tests train real models on a tiny planted-cluster corpus for one or two epochs.
"""

from __future__ import annotations

import numpy as np
import pytest

from item2vec import Sessions, datasets
from item2vec.evaluation import protocols as ev
from item2vec.exceptions import DataError, ParameterError
from item2vec.tuning import search as tune_mod
from item2vec.tuning.search import TuneResult, rung_epochs, tune

N_TEST = N_VALID = 50
HUGE = 1e9  # a budget that never binds: the tests below never depend on the clock


@pytest.fixture(scope="module")
def synth():
    return datasets.synthetic(n_items=60, n_clusters=6, n_sessions=300, mean_length=8, seed=0)


@pytest.fixture(scope="module")
def val(synth):
    split = ev.next_event_split(synth.sessions, n_test=N_TEST, seed=0)
    return ev.validation_split(split, n_valid=N_VALID, seed=0)


def planted(val: ev.NextEventSplit, calls: list | None = None, quality=lambda a, e: 4 * a + e):
    """A trainer whose validation HR@10 grows with ``a`` and with the epochs.

    On the validation queries it puts the right answer first for ``min(n, quality(a,
    epochs))`` cases and nothing for the others; elsewhere (the test split) it recommends
    by popularity.
    """

    def trainer(train: Sessions, *, epochs: int, seed: int, a: int = 0):
        if calls is not None:
            calls.append({"a": a, "epochs": epochs, "events": train.n_events})

        def recommend(queries: np.ndarray, k: int) -> np.ndarray:
            if len(queries) != len(val) or not np.array_equal(queries, val.queries):
                return ev.popularity(train)(queries, k)
            out = np.full((len(queries), k), -1, np.int32)
            m = min(len(val), quality(a, epochs))
            out[:m, 0] = val.answers[:m]
            return out

        return recommend

    return trainer


def expected_hr(val: ev.NextEventSplit, a: int, epochs: int) -> float:
    m = min(len(val), 4 * a + epochs)
    hit = np.arange(len(val)) < m
    hit |= val.queries == val.answers  # a query equal to its answer is a hit
    return float(hit.mean())


def run(synth, val, calls=None, **kw) -> TuneResult:
    kw.setdefault("budget_seconds", HUGE)
    kw.setdefault("progress", False)
    return tune(
        synth.sessions,
        trainer=planted(val, calls),
        n_test=N_TEST,
        n_valid=N_VALID,
        **kw,
    )


# ----------------------------------------------------------------------------- halving
def test_rung_epochs():
    assert rung_epochs(2, 50, 3) == [2, 6, 18, 50]
    assert rung_epochs(1, 9, 3) == [1, 3, 9]
    assert rung_epochs(1, 4, 2) == [1, 2, 4]
    assert rung_epochs(5, 5, 3) == [5]
    assert rung_epochs(2, 7, 3) == [2, 6, 7]


@pytest.mark.parametrize(
    ("eta", "n", "max_epochs", "per_rung"),
    [(3, 9, 9, [9, 3, 1]), (2, 8, 4, [8, 4, 2]), (3, 10, 9, [10, 3, 1]), (2, 5, 8, [5, 2, 1, 1])],
)
def test_successive_halving_keeps_top_fraction(synth, val, eta, n, max_epochs, per_rung):
    res = run(synth, val, space={"a": list(range(n))}, n_configs=n, eta=eta, max_epochs=max_epochs,
              min_epochs=1)  # fmt: skip
    t = res.trials
    assert t.groupby("rung").size().tolist() == per_rung
    assert t.groupby("rung")["epochs"].first().tolist() == rung_epochs(1, max_epochs, eta)
    assert (t["bracket"] == 0).all()  # one bracket: the grid is exhausted
    for rung in range(1, len(per_rung)):
        prev = t[t["rung"] == rung - 1].sort_values("HR@10", ascending=False, kind="stable")
        assert set(t[t["rung"] == rung]["a"]) == set(prev["a"][: per_rung[rung]])
    assert res.best_params == {"a": n - 1, "epochs": max_epochs}


def test_trials_record_every_trial(synth, val):
    calls: list = []
    res = run(synth, val, calls, space={"a": list(range(9))}, n_configs=9, min_epochs=1,
              max_epochs=9)  # fmt: skip
    t = res.trials
    assert list(t.columns) == [
        "trial", "bracket", "rung", "epochs", "a", "HR@10", "NDCG@10", "MRR@10", "seconds",
        "diverged",
    ]  # fmt: skip
    assert t["trial"].tolist() == list(range(13))
    assert len(calls) == 13 + 2  # the trials, the defaults' run (the guard's) and the refit
    assert [(c["a"], c["epochs"]) for c in calls[:-2]] == list(zip(t["a"], t["epochs"]))
    assert (calls[-2]["a"], calls[-2]["epochs"]) == (0, 9)  # the defaults: a=0, max_epochs
    for a, e, hr in zip(t["a"], t["epochs"], t["HR@10"], strict=True):
        assert hr == pytest.approx(expected_hr(val, a, e))
    assert (t["seconds"] >= 0).all()
    assert (t["NDCG@10"] == t["HR@10"]).all()  # every hit at rank 1
    assert (t["MRR@10"] == t["HR@10"]).all()


def test_new_brackets_draw_new_configurations_until_the_grid_is_exhausted(synth, val):
    res = run(synth, val, space={"a": list(range(9))}, n_configs=3, min_epochs=1, max_epochs=3)
    t = res.trials
    first = t[t["rung"] == 0]
    assert first.groupby("bracket").size().tolist() == [3, 3, 3]
    assert sorted(first["a"]) == list(range(9))  # each configuration drawn once
    assert t[t["rung"] == 1].groupby("bracket")["a"].agg(list).tolist() == [
        [first[first["bracket"] == b]["a"].max()] for b in range(3)
    ]
    assert res.best_params == {"a": 8, "epochs": 3}


def test_n_configs_beyond_the_grid(synth, val):
    res = run(synth, val, space={"a": [0, 1, 2]}, n_configs=7, min_epochs=1, max_epochs=1)
    assert sorted(res.trials["a"]) == [0, 1, 2]


def test_best_is_the_top_validation_score(synth, val):
    res = run(synth, val, space={"a": [3, 0, 5, 1, 4, 2]}, n_configs=6, eta=2, min_epochs=1,
              max_epochs=2)  # fmt: skip
    t = res.trials
    top = t.loc[t["HR@10"].idxmax()]
    assert res.best_validation == top["HR@10"] == t["HR@10"].max()
    assert res.best_params == {"a": top["a"], "epochs": top["epochs"]} == {"a": 5, "epochs": 2}
    assert res.metric == "HR@10"


def test_other_metric_and_k(synth, val):
    res = run(synth, val, space={"a": [0, 2, 1]}, n_configs=3, min_epochs=1, max_epochs=1,
              metric="NDCG@5")  # fmt: skip
    assert {"HR@5", "NDCG@5", "MRR@5"} <= set(res.trials.columns)
    assert res.best_params["a"] == 2
    assert res.best_validation == res.trials["NDCG@5"].max()


def test_default_n_configs_uses_the_grid_when_time_allows(synth, val):
    res = run(synth, val, space={"a": list(range(9))}, min_epochs=1, max_epochs=9)
    assert sorted(res.trials[res.trials["rung"] == 0]["a"]) == list(range(9))
    assert res.best_params == {"a": 8, "epochs": 9}


def test_base_params_pass_to_every_trial_and_the_result(synth, val):
    seen = []

    def trainer(train, *, epochs, seed, a=0, b=0):
        seen.append((a, b, seed))
        return planted(val)(train, epochs=epochs, seed=seed, a=a)

    res = tune(synth.sessions, trainer=trainer, space={"a": [0, 1]}, base_params={"b": 7},
               n_configs=2, min_epochs=1, max_epochs=1, budget_seconds=HUGE, progress=False,
               n_test=N_TEST, n_valid=N_VALID, seed=3)  # fmt: skip
    assert {b for _, b, _ in seen} == {7} and {s for *_, s in seen} == {3}
    assert res.best_params == {"b": 7, "a": 1, "epochs": 1}


def test_splits_are_disjoint_and_used_as_documented(synth, val):
    calls: list = []
    res = run(synth, val, calls, space={"a": [0, 1]}, n_configs=2, min_epochs=1, max_epochs=1)
    split, valid = res.split, res.validation
    assert len(split) == N_TEST and len(valid) == N_VALID
    assert np.intersect1d(split.test_sessions, valid.test_sessions).size == 0
    assert np.array_equal(valid.queries, val.queries)  # same seed, same draw
    # trials train on the validation corpus, the refit on the test split's training corpus
    assert {c["events"] for c in calls[:-1]} == {valid.train.n_events}
    assert calls[-1]["events"] == split.train.n_events > valid.train.n_events
    assert valid.train.n_events == split.train.n_events - int((split.train.lengths >= 3).sum())


def test_test_metrics_and_baselines(synth, val):
    res = run(synth, val, space={"a": [0, 1]}, n_configs=2, min_epochs=1, max_epochs=1)
    pop = ev.evaluate(ev.popularity(res.split.train), res.split)
    assert res.test_metrics == pop  # the planted trainer recommends by popularity on the test
    assert set(res.baselines) == {"popularity", "transitions", "co-occurrence", "sknn"}
    assert res.baselines["co-occurrence"] == ev.evaluate(ev.cooccurrence(res.split.train),
                                                         res.split)  # fmt: skip
    assert res.baselines["popularity"] == pop
    assert res.test_metrics["n_cases"] == N_TEST
    text = res.summary()
    assert "best HR@10 on validation" in text and "transitions" in text and "a=1" in text
    assert not res.interrupted and res.elapsed > 0 and res.budget_seconds == HUGE


def test_progress_bar_runs(synth, val, capsys):
    res = run(synth, val, space={"a": [0, 1]}, n_configs=2, min_epochs=1, max_epochs=1,
              progress=True)  # fmt: skip
    assert res.best_params["a"] == 1


# ----------------------------------------------------------------------------- the budget
class SimulatedClock:
    """Stands in for ``tune``'s clock: only the simulated trainer moves it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def timed(val: ev.NextEventSplit, clock: SimulatedClock, per_epoch, setup: float = 1.0):
    """The planted trainer, taking ``setup + epochs * per_epoch(a)`` simulated seconds; the
    score grows with ``a`` and the epochs without saturating (``b`` only widens the grid)."""
    inner = planted(val, quality=lambda a, e: a // 2 + 2 * e)

    def trainer(train, *, epochs, seed, a=0, b=0):
        rec = inner(train, epochs=epochs, seed=seed, a=a)
        rec.train_seconds = epochs * per_epoch(a) * train.n_events / val.train.n_events
        clock.now += setup + rec.train_seconds
        return rec

    return trainer


@pytest.mark.parametrize(
    ("budget", "per_epoch"),
    [
        (200.0, lambda a: 1.0),
        # the best (odd, larger a) are 4x slower; 240 s, not 200: the guard's defaults run
        # (max_epochs, the trainer has no default epochs) and their refit are budgeted too
        (240.0, lambda a: 1.0 + 3.0 * (a % 2)),
        (60.0, lambda a: 0.5 + (a % 3)),
        (1000.0, lambda a: 1.0 + 3.0 * (a % 2)),
    ],
)
def test_budget_is_kept_and_the_top_rung_reached(synth, val, monkeypatch, budget, per_epoch):
    clock = SimulatedClock()
    monkeypatch.setattr(tune_mod, "_clock", clock)
    space = {"a": list(range(60)), "b": list(range(10))}
    res = tune(synth.sessions, trainer=timed(val, clock, per_epoch), space=space, min_epochs=1,
               max_epochs=9, budget_seconds=budget, progress=False, n_test=N_TEST,
               n_valid=N_VALID)  # fmt: skip
    t = res.trials
    assert res.elapsed <= budget  # trials and refit, in simulated seconds
    assert res.elapsed >= 0.6 * budget  # and most of it used
    assert (t["epochs"] == 9).any()  # a configuration reached the last rung
    assert res.best_params["epochs"] == 9
    for _, b in t.groupby("bracket"):  # every rung keeps at most the top 1/eta of the previous
        sizes = b.groupby("rung").size().tolist()
        assert all(later <= max(1, earlier // 3) for earlier, later in zip(sizes, sizes[1:]))


# ----------------------------------------------------------------------------- interruption
def test_interrupt_returns_best_so_far(synth, val):
    inner = planted(val)
    count = {"n": 0}

    def trainer(train, *, epochs, seed, a=0):
        count["n"] += 1
        if count["n"] == 6:
            raise KeyboardInterrupt
        return inner(train, epochs=epochs, seed=seed, a=a)

    res = tune(synth.sessions, trainer=trainer, space={"a": list(range(9))}, n_configs=9,
               min_epochs=1, max_epochs=9, budget_seconds=HUGE, progress=False, n_test=N_TEST,
               n_valid=N_VALID)  # fmt: skip
    assert res.interrupted
    assert len(res.trials) == 5
    assert res.best_validation == res.trials["HR@10"].max()
    assert res.best_params["a"] == res.trials.loc[res.trials["HR@10"].idxmax(), "a"]
    assert res.test_metrics == {} and res.model is None
    assert "interrupted" in res.summary()


def test_interrupt_before_any_trial_reraises(synth, val):
    def trainer(train, *, epochs, seed, a=0):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tune(synth.sessions, trainer=trainer, space={"a": [0, 1]}, budget_seconds=HUGE,
             progress=False, n_test=N_TEST, n_valid=N_VALID)  # fmt: skip


def test_interrupt_in_real_training_keeps_best(synth, monkeypatch):
    """Ctrl-C inside the default (Item2Vec) trainer: the finished trials are kept."""
    real = tune_mod.item2vec_trainer
    count = {"n": 0}

    def flaky(train, **kw):
        count["n"] += 1
        if count["n"] == 3:
            raise KeyboardInterrupt
        return real(train, **kw)

    monkeypatch.setattr(tune_mod, "item2vec_trainer", flaky)
    res = tune(synth.sessions, space={"window": [1, 2, 3]}, base_params={"dim": 8, "workers": 1},
               n_configs=3, min_epochs=1, max_epochs=1, budget_seconds=HUGE, progress=False,
               n_test=N_TEST, n_valid=N_VALID)  # fmt: skip
    assert res.interrupted and len(res.trials) == 2
    assert res.best_validation == res.trials["HR@10"].max()
    assert res.best_params["window"] in (1, 2, 3) and res.best_params["dim"] == 8


# ----------------------------------------------------------------------------- real models
def test_search_beats_a_broken_option_on_planted_clusters():
    """One option (learning_rate 1e-6) learns nothing; the search must drop it.

    Ranked by cosine: after 1-2 epochs on this small corpus the vectors are still short, so
    log_prob ranks almost by its prior (popularity) for the broken and the good option alike.
    """
    data = datasets.synthetic(n_items=80, n_clusters=8, n_sessions=500, mean_length=8, seed=1)
    res = tune(data.sessions, space={"learning_rate": [1e-6, 0.05]},
               base_params={"dim": 16, "window": 2, "min_learning_rate": 0.0, "workers": 1},
               n_configs=2, eta=2, min_epochs=1, max_epochs=2, budget_seconds=HUGE,
               progress=False, n_test=100, n_valid=100, score="cosine")  # fmt: skip
    t = res.trials
    broken = t[t["learning_rate"] == 1e-6]["HR@10"].max()
    assert res.best_params["learning_rate"] == 0.05 and res.best_params["epochs"] == 2
    assert res.best_validation > broken + 0.2
    # with 8 planted clusters of 10 items, the right neighbours make most next items findable
    assert res.test_metrics["HR@10"] > res.baselines["popularity"]["HR@10"] + 0.2
    assert res.model is not None and res.model.item_vectors_.shape == (80, 16)


def test_several_validation_events_per_session(synth):
    """valid_events=3: three cases per validation session, and trials are scored on them."""
    split = ev.next_event_split(synth.sessions, n_test=N_TEST, seed=0)
    val3 = ev.validation_split(split, n_valid=N_VALID, seed=0, events=3)
    assert len(val3) == 3 * N_VALID
    res = run(synth, val3, space={"a": [0, 1]}, n_configs=2, min_epochs=1, max_epochs=1,
              valid_events=3)  # fmt: skip
    assert np.array_equal(res.validation.queries, val3.queries)
    assert np.array_equal(res.validation.answers, val3.answers)
    assert res.validation.train.n_events == val3.train.n_events
    for _, row in res.trials.iterrows():
        assert row["HR@10"] == pytest.approx(expected_hr(val3, row["a"], 1))


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"space": {"window": []}}, ParameterError, r"space\['window'\] is empty"),
        ({"space": {"windw": [1]}}, ParameterError, r"unknown parameter in space: 'windw'"),
        ({"space": {"window": [0, 1]}}, ParameterError,
         r"space\['window'\] holds an invalid value: window must be an integer >= 1"),
        ({"space": {"ns_exponent": [float("nan")]}}, ParameterError, r"space\['ns_exponent'\]"),
        ({"space": {"window": 3}}, ParameterError, r"space\['window'\] must be a list"),
        ({"space": {"epochs": [5, 10]}}, ParameterError, r"min_epochs and max_epochs"),
        ({"space": {}}, ParameterError, r"space must be a non-empty dict"),
        ({"metric": "precision@10"}, ParameterError, r"metric must be 'HR@K'.*'precision@10'"),
        ({"metric": "HR@0"}, ParameterError, r"K must be >= 1, got 0"),
        ({"metric": 10}, ParameterError, r"metric must be"),
        ({"budget_seconds": -1}, ParameterError,
         r"budget_seconds must be a finite number >= 0, got -1"),
        ({"budget_seconds": 1e-3}, ParameterError,
         r"budget_seconds=0.001 is too small for one trial.*at least ~"),
        ({"eta": 1}, ParameterError, r"eta must be an integer >= 2, got 1"),
        ({"min_epochs": 0}, ParameterError, r"min_epochs must be an integer >= 1, got 0"),
        ({"min_epochs": 5, "max_epochs": 3}, ParameterError, r"max_epochs must be .*>= 5, got 3"),
        ({"n_configs": 0}, ParameterError, r"n_configs must be an integer >= 1"),
        ({"valid_events": 0}, ParameterError, r"valid_events must be an integer >= 1, got 0"),
        ({"base_params": {"epochs": 3}}, ParameterError, r"base_params must not set epochs"),
        ({"base_params": {"dimm": 3}}, ParameterError, r"unknown parameter in base_params: 'dimm'"),
        ({"base_params": {"dim": 0}}, ParameterError, r"dim must be an integer >= 1, got 0"),
        ({"n_test": 10_000}, ParameterError, r"n_test=10000 exceeds"),
    ],
)  # fmt: skip
def test_bad_input(synth, kwargs, error, match):
    kwargs = {"budget_seconds": HUGE, "progress": False, **kwargs}
    with pytest.raises(error, match=match):
        tune(synth.sessions, **kwargs)


def test_unknown_parameter_of_a_custom_trainer(synth, val):
    with pytest.raises(ParameterError, match=r"unknown parameter in space: 'b'; searchable: a"):
        run(synth, val, space={"b": [1]})


def test_sessions_too_short_to_split():
    short = Sessions.from_lists([["a", "b"], ["c", "d"], ["a", "b", "c"]])
    with pytest.raises(DataError, match=r"at least 2 sessions with >= 3 items.*got 1"):
        tune(short, budget_seconds=HUGE, progress=False)


def test_sessions_must_be_sessions():
    with pytest.raises(ParameterError, match=r"sessions must be an item2vec.Sessions, got list"):
        tune([["a", "b", "c"]], budget_seconds=HUGE)


def test_item2vec_trainer_keeps_rows_with_min_count(synth, val):
    """min_count > 1 renumbers the model's rows; the recommender must answer in split rows."""
    rec = tune_mod.item2vec_trainer(val.train, epochs=1, seed=0, min_count=10, dim=8, workers=1)
    model = rec.model
    assert len(model.vocabulary_) < len(val.train.vocabulary)
    ranked = rec(val.queries, 5)
    ids = val.train.vocabulary.ids
    kept = set(model.vocabulary_.ids.tolist())
    assert set(ids[ranked[ranked >= 0]].tolist()) <= kept
    q = next(i for i, x in enumerate(val.queries) if ids[x] in kept and (ranked[i] >= 0).all())
    expected, _ = model.recommend(ids[val.queries[q]], k=5, score="blend")  # the default
    assert ids[ranked[q]].tolist() == expected.tolist()
    cosine = tune_mod.item2vec_trainer(val.train, epochs=1, seed=0, min_count=10, dim=8,
                                       workers=1, score="cosine")  # fmt: skip
    expected, _ = cosine.model.similar(ids[val.queries[q]], k=5)
    assert ids[cosine(val.queries, 5)[q]].tolist() == expected.tolist()


def test_score_is_checked_and_reported(synth, val):
    with pytest.raises(ParameterError, match=r"score must be one of 'cosine', 'logit', "
                       r"'log_prob', 'blend', got 'dot'"):  # fmt: skip
        tune(synth.sessions, budget_seconds=HUGE, progress=False, score="dot")
    with pytest.raises(ParameterError, match=r"score='cosine' applies only to the default"):
        run(synth, val, space={"a": [0]}, score="cosine")
    with pytest.raises(ParameterError, match=r"score must be one of .*got 'dot'"):
        tune_mod.item2vec_trainer(val.train, epochs=1, seed=0, score="dot")
    res = tune(synth.sessions, space={"window": [2]}, base_params={"dim": 8, "workers": 1},
               n_configs=1, min_epochs=1, max_epochs=1, budget_seconds=HUGE, progress=False,
               n_test=N_TEST, n_valid=N_VALID)  # fmt: skip
    assert res.score == "blend" and "(ranked by blend)" in res.summary()
    # the guard's defaults: Item2Vec()'s settings and epochs (None: automatic), base_params
    from item2vec import Item2Vec
    from item2vec.config import auto_epochs

    assert res.defaults_params == {"dim": 8, "workers": 1, "epochs": Item2Vec().epochs}
    if Item2Vec().epochs is None:
        assert res.guard["defaults_epochs"] == auto_epochs(res.validation.train.n_events)
    assert run(synth, val, space={"a": [0]}, n_configs=1, min_epochs=1, max_epochs=1).score is None


def test_ranking_is_a_deprecated_alias_of_score(synth, val):
    """ranking=, the former name of score=: it warns and tunes the same; both is an error."""
    kw = dict(space={"window": [1, 2]}, base_params={"dim": 8, "workers": 1}, n_configs=2,
              min_epochs=1, max_epochs=1, budget_seconds=HUGE, progress=False, n_test=N_TEST,
              n_valid=N_VALID)  # fmt: skip
    new = tune(synth.sessions, score="cosine", **kw)
    with pytest.warns(DeprecationWarning, match=r"ranking= is deprecated: use score="):
        old = tune(synth.sessions, ranking="cosine", **kw)
    columns = ["window", "epochs", "HR@10", "NDCG@10", "MRR@10"]
    assert old.trials[columns].equals(new.trials[columns]) and old.score == new.score == "cosine"
    assert old.best_params == new.best_params and old.test_metrics == new.test_metrics
    with pytest.warns(DeprecationWarning, match=r"TuneResult.ranking is deprecated"):
        assert new.ranking == "cosine"
    with pytest.raises(ParameterError, match=r"got both score='cosine' and ranking='logit'"):
        tune(synth.sessions, score="cosine", ranking="logit", **kw)
    with pytest.warns(DeprecationWarning, match=r"ranking= is deprecated"):
        rec = tune_mod.item2vec_trainer(val.train, epochs=1, seed=0, dim=8, workers=1,
                                        ranking="cosine")  # fmt: skip
    same = tune_mod.item2vec_trainer(val.train, epochs=1, seed=0, dim=8, workers=1,
                                     score="cosine")  # fmt: skip
    np.testing.assert_array_equal(rec(val.queries, 5), same(val.queries, 5))
    with pytest.raises(ParameterError, match=r"got both score='blend' and ranking='cosine'"):
        tune_mod.item2vec_trainer(val.train, epochs=1, seed=0, score="blend", ranking="cosine")


def test_a_diverging_configuration_scores_zero_and_the_search_goes_on():
    """learning_rate 1e30 makes the weights overflow; tune must not stop on it."""
    data = datasets.synthetic(n_items=80, n_clusters=8, n_sessions=500, mean_length=8, seed=1)
    res = tune(data.sessions, space={"learning_rate": [1e30, 0.05]},
               base_params={"dim": 16, "window": 2, "workers": 1},
               n_configs=2, eta=2, min_epochs=1, max_epochs=2, budget_seconds=HUGE,
               progress=False, n_test=100, n_valid=100)  # fmt: skip
    t = res.trials
    bad = t[t["learning_rate"] == 1e30]
    assert len(bad) >= 1 and bad["diverged"].all() and (bad["HR@10"] == 0).all()
    assert not t[t["learning_rate"] == 0.05]["diverged"].any()
    assert res.best_params["learning_rate"] == 0.05 and res.test_metrics["HR@10"] > 0
    assert "diverged" in res.summary()


# ----------------------------------------------------------------------------- the guard
@pytest.fixture(scope="module")
def succ():
    return datasets.synthetic(n_items=200, n_clusters=10, n_sessions=2000, successors=3, seed=0)


def lucky(val: ev.NextEventSplit):
    """``a=1`` wins the selection by luck (it knows the selection answers) and is popularity
    elsewhere, as the defaults (``a=0``) are: no better on the confirmation cases."""
    inner = planted(val, quality=lambda a, e: len(val) * a)

    def trainer(train, *, epochs, seed, a=0):
        return inner(train, epochs=epochs, seed=seed, a=a)

    return trainer


def honest(train, *, epochs, seed, a=0):
    """``a=1``: transitions (first-order successors); ``a=0``, the defaults: popularity."""
    return ev.transitions(train) if a == 1 else ev.popularity(train)


def test_guard_returns_the_defaults_when_the_winner_is_no_better(succ):
    split = ev.next_event_split(succ.sessions, n_test=200, seed=0)
    val = ev.validation_split(split, n_valid=200, seed=0)
    res = tune(succ.sessions, trainer=lucky(val), space={"a": [0, 1]}, n_configs=2,
               min_epochs=1, max_epochs=1, budget_seconds=HUGE, progress=False, n_test=200,
               n_valid=200)  # fmt: skip
    assert res.best_params == {"a": 1, "epochs": 1} and res.best_validation == 1.0
    g = res.guard
    assert res.chose_defaults and not g["kept"]
    assert res.params == res.defaults_params == {"epochs": 1}  # no epochs default: max_epochs
    assert g["tuned"] == g["defaults"] and g["diff"] == 0 and g["lower"] == 0
    assert g["tuned_selection"] == 1.0 and g["defaults_selection"] < 0.2
    pool = ev.validation_pool(split)  # every long session outside the test set
    assert g["n_cases"] == len(res.confirmation) == min(2000, len(pool) - 200)
    pop = ev.evaluate(ev.popularity(res.split.train), res.split)
    assert res.test_metrics == res.defaults_test_metrics == pop
    line = res.guard_line()
    assert line.startswith(f"guard: tuned {g['tuned']:.3f} vs defaults {g['defaults']:.3f} HR@10")
    assert f"on {g['n_cases']:,} held-back validation cases (diff +0.000" in line
    assert "90% lower bound +0.000): returning the defaults" in line
    text = res.summary()
    assert line in text and "chosen: the defaults, epochs=1" in text
    assert "  defaults " in text and "  tuned " not in text


def test_guard_keeps_a_winner_that_is_clearly_better(succ):
    res = tune(succ.sessions, trainer=honest, space={"a": [0, 1]}, n_configs=2, min_epochs=1,
               max_epochs=1, budget_seconds=HUGE, progress=False, n_test=200, n_valid=200,
               test_defaults=True)  # fmt: skip
    g = res.guard
    assert res.best_params == res.params == {"a": 1, "epochs": 1} and not res.chose_defaults
    assert g["kept"] and g["lower"] > 0.1 and g["tuned"] > g["defaults"] + 0.2
    conf = res.confirmation
    trans = ev.evaluate(ev.transitions(conf.train), conf)["HR@10"]
    pop = ev.evaluate(ev.popularity(conf.train), conf)["HR@10"]
    assert g["tuned"] == pytest.approx(trans) and g["defaults"] == pytest.approx(pop)
    assert g["diff"] == pytest.approx(trans - pop)
    assert res.test_metrics == ev.evaluate(ev.transitions(res.split.train), res.split)
    assert res.defaults_test_metrics == ev.evaluate(ev.popularity(res.split.train), res.split)
    assert res.guard_line().endswith("keeping the tuned settings")
    assert "  tuned " in res.summary() and "  defaults " in res.summary()


def test_defaults_winning_the_selection_are_chosen(succ):
    """The defaults are a candidate: a search whose every trial is worse returns them."""
    res = tune(succ.sessions, trainer=honest, space={"a": [0]}, base_params={"a": 1},
               n_configs=1, min_epochs=1, max_epochs=1, budget_seconds=HUGE, progress=False,
               n_test=200, n_valid=200)  # fmt: skip
    # base a=1 is the defaults' too, and the space's a=0 overrides it in every trial
    assert res.best_params == {"a": 0, "epochs": 1}
    assert res.chose_defaults and res.params == {"a": 1, "epochs": 1}
    assert "at least as well on the selection cases" in res.guard["reason"]


def test_confirmation_cases_are_disjoint_from_selection_and_test(succ):
    res = tune(succ.sessions, trainer=honest, space={"a": [0, 1]}, n_configs=2, min_epochs=1,
               max_epochs=1, budget_seconds=HUGE, progress=False, n_test=200, n_valid=200,
               valid_events=2, n_confirm=300)  # fmt: skip
    split, val, conf = res.split, res.validation, res.confirmation
    assert len(conf) == 300 == res.guard["n_cases"]
    assert np.intersect1d(conf.test_sessions, val.test_sessions).size == 0
    assert np.intersect1d(conf.test_sessions, split.test_sessions).size == 0
    assert conf.train is val.train  # the trials' corpus, unchanged
    s = conf.test_sessions
    # each case predicts its session's last item of split.train, which val.train lacks
    assert np.array_equal(conf.answers, split.train.items[split.train.offsets[s + 1] - 1])
    assert np.array_equal(conf.queries, split.train.items[split.train.offsets[s + 1] - 2])
    assert (val.train.lengths[s] == split.train.lengths[s] - 1).all()
    again = tune_mod.confirmation_split(split, val, 300, 0)
    assert np.array_equal(again.test_sessions, s)  # seeded


def test_history_protocol_runs_the_search_and_the_test_on_histories(succ):
    seen: list = []

    def trainer(train, *, epochs, seed, a=0):
        rec = honest(train, epochs=epochs, seed=seed, a=a)

        def recommend(queries, k):
            seen.append(np.shape(queries))
            return rec(queries, k)

        return recommend

    res = tune(succ.sessions, trainer=trainer, space={"a": [0, 1]}, n_configs=2, min_epochs=1,
               max_epochs=1, budget_seconds=HUGE, progress=False, n_test=200, n_valid=200,
               history=3)  # fmt: skip
    assert res.split.history == res.validation.history == res.confirmation.history == 3
    assert res.validation.histories.shape == (200, 3)
    assert np.array_equal(res.validation.histories[:, -1], res.validation.queries)
    assert all(len(shape) == 2 and shape[1] == 3 for shape in seen)  # every query a history
    conf = res.confirmation
    s = conf.test_sessions
    last = res.split.train.offsets[s + 1] - 1
    assert np.array_equal(conf.histories[:, -1], res.split.train.items[last - 1])
    assert "answer in history" in res.test_metrics
    assert res.test_metrics == ev.evaluate(ev.transitions(res.split.train), res.split)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"history": 0}, r"history must be an integer >= 1, got 0"),
        ({"history": 2.5}, r"history must be an integer >= 1, got 2.5"),
        ({"n_confirm": 0}, r"n_confirm must be an integer >= 1, got 0"),
        ({"n_confirm": 10_000}, r"n_confirm=10000 exceeds the \d+ sessions available"),
        ({"test_defaults": "yes"}, r"test_defaults must be True or False, got 'yes'"),
    ],
)
def test_bad_guard_and_protocol_input(synth, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        tune(synth.sessions, budget_seconds=HUGE, progress=False, **kwargs)


def test_no_session_left_for_the_guard(synth):
    split = ev.next_event_split(synth.sessions, n_test=N_TEST, seed=0)
    every = len(ev.validation_pool(split))
    with pytest.raises(DataError, match=rf"no session is left for the guard.*the {every} valid"):
        tune(synth.sessions, budget_seconds=HUGE, progress=False, n_test=N_TEST, n_valid=every)


def test_cli_tune_prints_and_writes_the_guard(synth, tmp_path, capsys):
    import json

    import pandas as pd

    from item2vec.cli.main import main

    rows = [(f"s{i}", f"item{it}") for i, items in enumerate(synth.sessions.to_lists())
            for it in items]  # fmt: skip
    log = tmp_path / "log.csv"
    pd.DataFrame(rows, columns=["basket", "product"]).to_csv(log, index=False)
    out = tmp_path / "tune.json"
    rc = main(["tune", str(log), "--session-col", "basket", "--item-col", "product",
               "--space", "window=1,2", "--space", "dim=8", "--space", "ns_exponent=0.75",
               "--space", "sample=0", "--space", "mode=skipgram", "--min-epochs", "1",
               "--max-epochs", "1", "--budget", "300", "--n-test", "50", "--n-valid", "50",
               "--n-confirm", "80", "--history", "2", "--quiet", "--json", str(out)])  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    result = json.loads(out.read_text())
    g = result["guard"]
    # 80 sessions; those whose answer is in their 2-item history are left out
    assert 0 < g["n_cases"] <= 80 and g["metric"] == "HR@10" and isinstance(g["kept"], bool)
    assert f"guard: tuned {g['tuned']:.3f} vs defaults {g['defaults']:.3f} HR@10 on " in text
    assert f" on {g['n_cases']} held-back validation cases (diff {g['diff']:+.3f}, " in text
    assert f"90% lower bound {g['lower']:+.3f}): " in text
    assert ("keeping the tuned settings" in text) != ("returning the defaults" in text)
    assert result["chose_defaults"] is (not g["kept"])
    assert result["params"] == (result["defaults_params"] if result["chose_defaults"]
                                else result["best_params"])  # fmt: skip
    assert "answer in history" in result["test_metrics"]
    assert main(["tune", str(log), "--session-col", "basket", "--item-col", "product",
                 "--history", "0", "--quiet"]) == 2  # fmt: skip
    assert "history must be an integer >= 1, got 0" in capsys.readouterr().err
