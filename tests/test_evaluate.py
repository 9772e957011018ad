"""Tests of the next-event evaluation harness, with hand-computed answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from item2vec import datasets
from item2vec.evaluation import protocols as ev
from item2vec.exceptions import DataError, ParameterError


@pytest.fixture(scope="module")
def synth():
    return datasets.synthetic(n_items=200, n_clusters=10, n_sessions=2000, seed=0)


@pytest.fixture(scope="module")
def synth_split(synth):
    return ev.next_event_split(synth.sessions, n_test=600, seed=0)


# ----------------------------------------------------------------------------- evaluation
def test_evaluate_calls_recommend_once(synth_split):
    calls = []
    pop = ev.popularity(synth_split.train)

    def recommend(q, k):
        calls.append((len(q), k))
        return pop(q, k)

    m = ev.evaluate(recommend, synth_split, ks=(5, 10))
    assert calls == [(len(synth_split), 10)]
    assert m["n_cases"] == len(synth_split) and set(m) >= {"HR@5", "NDCG@10", "MRR"}


def test_evaluate_errors(synth_split):
    with pytest.raises(ParameterError, match=r"recommend returned shape \(600, 3\)"):
        ev.evaluate(lambda q, k: np.zeros((len(q), 3), np.int32), synth_split)
    with pytest.raises(ParameterError, match="k must be an integer >= 1, got 0"):
        ev.evaluate(ev.popularity(synth_split.train), synth_split, ks=(0,))
    empty = ev.NextEventSplit(
        synth_split.train, np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, int), 0
    )
    with pytest.raises(DataError, match="the split has no test cases"):
        ev.evaluate(ev.popularity(synth_split.train), empty)


def test_compare_adds_paired_differences_against_a_reference(synth):
    s = synth.sessions
    methods = {"transitions": ev.transitions, "popularity": ev.popularity, "again": ev.transitions}
    table = ev.compare(methods, s, (0, 1, 2), reference="transitions", n_test=300)
    diffs = []
    for seed in range(3):
        split = ev.next_event_split(s, n_test=300, seed=seed)
        pop, trans = (ev.evaluate(f(split.train), split) for f in (ev.popularity, ev.transitions))
        diffs.append(pop["NDCG@10"] - trans["NDCG@10"])
    row = table.loc["popularity"]
    assert row["NDCG@10 diff"] == pytest.approx(np.mean(diffs))
    assert row["NDCG@10 diff high"] < 0  # popularity is clearly worse than transitions
    lo, hi = ev.t_interval(np.array(diffs))
    assert (row["NDCG@10 diff low"], row["NDCG@10 diff high"]) == pytest.approx((lo, hi))
    # the same method against itself: exactly level, an interval of width zero
    again = table.loc["again"]
    assert again["HR@10 diff"] == again["HR@10 diff low"] == again["HR@10 diff high"] == 0
    assert np.isnan(table.loc["transitions", "HR@10 diff"])
    assert "coverage@10 diff" not in table.columns  # not a per-case metric
    text = ev.format_table(table, ["HR@10 diff"])
    assert text.splitlines()[1].split() == ["transitions", "-", "300"]


def test_compare_with_one_seed_bootstraps_the_per_case_differences(synth):
    s = synth.sessions
    methods = {"transitions": ev.transitions, "popularity": ev.popularity}
    table = ev.compare(methods, s, (5,), reference="transitions", n_test=300, n_boot=200)
    split = ev.next_event_split(s, n_test=300, seed=5)
    per_case = {
        name: ev.case_metrics(
            ev.answer_ranks(f(split.train)(split.queries, 20), split.answers, split.queries)
        )["HR@10"]
        for name, f in methods.items()
    }
    d = per_case["popularity"] - per_case["transitions"]
    row = table.loc["popularity"]
    assert row["HR@10 diff"] == pytest.approx(d.mean())
    expected = ev.bootstrap_interval(d, n_boot=200, seed=5)
    assert (row["HR@10 diff low"], row["HR@10 diff high"]) == pytest.approx(expected)


def test_compare_rejects_an_unknown_reference(synth):
    with pytest.raises(
        ParameterError, match=r"reference must be one of the methods \('popularity'\), got 'ours'"
    ):
        ev.compare({"popularity": ev.popularity}, synth.sessions, (0,), reference="ours", n_test=50)


def test_evaluate_seeds_and_tables(synth):
    s = synth.sessions
    three = ev.evaluate_seeds(ev.popularity, s, seeds=(0, 1, 2), n_test=300)
    per = [
        ev.evaluate(ev.popularity(sp.train), sp)["HR@10"]
        for sp in (ev.next_event_split(s, n_test=300, seed=i) for i in range(3))
    ]
    assert three["HR@10"] == pytest.approx(np.mean(per))
    assert three["HR@10 low"] < three["HR@10"] < three["HR@10 high"]
    assert three["interval"] == "t over seeds" and three["n_cases"] == 300
    seen = []

    def make(train, seed):
        seen.append(seed)
        return ev.transitions(train)

    one = ev.evaluate_seeds(make, s, seeds=(5,), n_test=300, n_boot=200)
    assert seen == [5] and one["interval"] == "bootstrap over cases"
    assert one["HR@10 low"] < one["HR@10"] < one["HR@10 high"]
    table = ev.compare(
        {"popularity": ev.popularity, "transitions": ev.transitions}, s, seeds=(0, 1), n_test=200
    )
    assert isinstance(table, pd.DataFrame) and list(table.index) == ["popularity", "transitions"]
    text = ev.format_table(table, metrics=["HR@10", "NDCG@10"])
    assert "±" in text and "transitions" in text and "HR@10" in text
    row = table.loc["popularity"]
    half = (row["HR@10 high"] - row["HR@10 low"]) / 2
    assert f"{row['HR@10']:.3f} ± {half:.3f}" in text
    md = ev.format_table(table, metrics=["HR@10"], markdown=True)
    assert md.splitlines()[0] == "| method | HR@10 | cases |"
    with pytest.raises(ParameterError, match="metrics not in the table"):
        ev.format_table(table, metrics=["HR@99"])
    with pytest.raises(ParameterError, match="seeds must name at least one seed"):
        ev.evaluate_seeds(ev.popularity, s, seeds=())


def test_facade_re_exports_the_moved_names():
    from item2vec import checks
    from item2vec.data import split
    from item2vec.evaluation import baselines, metrics, recommenders
    from item2vec.queries import scoring

    homes = {split: ["NextEventSplit", "next_event_split", "validation_pool", "validation_split"],
             metrics: ["answer_ranks", "case_metrics", "rank_metrics", "t_interval",
                       "bootstrap_interval"],
             baselines: ["popularity", "transitions", "cooccurrence", "BASELINES"],
             scoring: ["Recommender", "vector_recommender", "check_score"],
             recommenders: ["model_recommender", "gensim_recommender",
                            "gensim_model_recommender"]}  # fmt: skip
    for module, names in homes.items():
        for name in names:
            assert getattr(ev, name) is getattr(module, name) and name in ev.__all__
    assert ev.SCORES is checks.SCORES and "SCORES" in ev.__all__
    assert ev.check_score("logit") == "logit"
    with pytest.raises(ParameterError, match=r"score must be one of 'cosine', 'log_prob', "
                       r"got 'logit'"):  # fmt: skip
        ev.check_score("logit", ("cosine", "log_prob"))


def test_the_former_names_of_scores_are_deprecated_aliases():
    from item2vec import checks

    with pytest.warns(DeprecationWarning, match="RANKINGS is deprecated: use SCORES"):
        assert ev.RANKINGS is checks.SCORES
    with pytest.warns(DeprecationWarning, match="check_ranking is deprecated: use check_score"):
        assert ev.check_ranking("logit") == "logit"
    with (
        pytest.warns(DeprecationWarning),
        pytest.raises(
            ParameterError, match=r"ranking must be one of 'cosine', 'log_prob', got 'logit'"
        ),
    ):
        ev.check_ranking("logit", ("cosine", "log_prob"))
    assert "RANKINGS" not in ev.__all__ and "check_ranking" not in ev.__all__


def test_full_ranking_protocol_is_one_split_for_every_seed(synth):
    from item2vec.data.split import full_ranking_split

    s = synth.sessions
    split = full_ranking_split(s)
    seen = []

    def make(train, seed):
        seen.append((seed, train.n_events))
        return ev.transitions(train)

    got = ev.evaluate_seeds(make, s, seeds=(0, 1), protocol="full-ranking")
    want = ev.evaluate(ev.transitions(split.train), split)
    assert seen == [(0, split.train.n_events), (1, split.train.n_events)]
    assert got["HR@10"] == pytest.approx(want["HR@10"]) and got["n_cases"] == want["n_cases"]
    assert got["n_cases"] + got["answer in history"] == int((s.lengths >= 3).sum())
    table = ev.compare({"popularity": ev.popularity, "transitions": ev.transitions}, s,
                       seeds=(0,), reference="popularity", protocol="full-ranking")  # fmt: skip
    assert table.loc["transitions", "HR@10"] == pytest.approx(want["HR@10"])
    with pytest.raises(ParameterError, match=r"protocol must be one of 'next-event', "
                                             r"'full-ranking', got 'loo'"):  # fmt: skip
        ev.evaluate_seeds(ev.popularity, s, seeds=(0,), protocol="loo")
    with pytest.raises(ParameterError, match=r"protocol='full-ranking' tests every session "
                                             r".*leave out n_test=50, history=5"):  # fmt: skip
        ev.evaluate_seeds(ev.popularity, s, seeds=(0,), protocol="full-ranking", n_test=50,
                          history=5)  # fmt: skip
