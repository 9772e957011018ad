"""Tests of the Item2Vec estimator contract: parameters, clone, atomic fit, cosine scores."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from item2vec import Item2Vec, Sessions, datasets
from item2vec.checks import SCORES
from item2vec.exceptions import ParameterError, TrainingError
from item2vec.training import train as train_mod

SMALL = {"dim": 8, "window": 2, "epochs": 1, "batch_size": 128, "workers": 1, "progress": False}


def sessions(n_items: int, prefix: str = "j", seed: int = 0) -> Sessions:
    data = datasets.synthetic(
        n_items=n_items, n_clusters=5, n_sessions=300, mean_length=6, seed=seed
    )
    return Sessions.from_lists([[f"{prefix}{i}" for i in s] for s in data.sessions.to_lists()])


@pytest.fixture(scope="module")
def fitted() -> Item2Vec:
    return Item2Vec(**SMALL, seed=0).fit(sessions(50))


# ----------------------------------------------------------------------------- parameters
def test_get_params_has_every_constructor_argument():
    names = [n for n in inspect.signature(Item2Vec.__init__).parameters if n != "self"]
    model = Item2Vec(checkpoint_every=7, monitor=["a"], descriptions={"a": "x"})
    params = model.get_params()
    assert list(params) == names
    for name in ("checkpoint_dir", "checkpoint_every", "descriptions", "monitor", "monitor_every"):
        assert name in params
    assert params["checkpoint_every"] == 7 and params["monitor"] == ["a"]
    assert model.get_params(deep=False) == params
    assert Item2Vec(**params).get_params() == params


def test_set_params_sets_known_names_and_refuses_unknown_ones():
    model = Item2Vec()
    assert model.set_params(dim=16, window="session") is model
    assert model.dim == 16 and model.window == "session"
    with pytest.raises(ParameterError, match=r"unknown parameter 'dimm' for Item2Vec; valid "
                       r"parameters: dim, window, .*seed"):  # fmt: skip
        model.set_params(epochs=3, dimm=8)
    assert model.epochs is None  # nothing set when a name is unknown (None: automatic)


def test_sklearn_clone_round_trip(fitted):
    base = pytest.importorskip("sklearn.base")
    copy = base.clone(fitted)
    assert type(copy) is Item2Vec and copy is not fitted
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "item_vectors_")  # an unfitted copy
    changed = base.clone(fitted.set_params(dim=8))
    assert changed.dim == 8


# ----------------------------------------------------------------------------- atomic fit
def answers(model: Item2Vec) -> tuple[list, np.ndarray, int]:
    ids, scores = model.similar("j3", 3)
    return ids.tolist(), scores, len(model.vocabulary_)


@pytest.mark.parametrize("error", [RuntimeError("injected"), KeyboardInterrupt()])
def test_failed_refit_leaves_the_previous_model_intact(monkeypatch, error):
    model = Item2Vec(**SMALL, seed=0).fit(sessions(50))
    before = answers(model)
    vectors, vocabulary = model.item_vectors_, model.vocabulary_
    trained, history = model.model_, model.history_

    def boom(self, state=None):
        raise error

    monkeypatch.setattr(train_mod.Trainer, "fit", boom)
    with pytest.raises(type(error)):
        model.fit(sessions(80))
    assert model.vocabulary_ is vocabulary and len(model.vocabulary_) == 50
    assert model.item_vectors_ is vectors and model.model_ is trained
    assert model.history_ is history
    after = answers(model)
    assert after[0] == before[0] and after[2] == before[2]
    np.testing.assert_array_equal(after[1], before[1])


def test_failed_first_fit_leaves_the_model_unfitted(monkeypatch):
    def boom(self, state=None):
        raise RuntimeError("injected")

    monkeypatch.setattr(train_mod.Trainer, "fit", boom)
    model = Item2Vec(**SMALL)
    with pytest.raises(RuntimeError, match="injected"):
        model.fit(sessions(50))
    for name in ("item_vectors_", "vocabulary_", "model_", "history_"):
        assert not hasattr(model, name)


def test_diverging_refit_raises_and_leaves_the_previous_model_intact():
    model = Item2Vec(**SMALL, seed=0).fit(sessions(50))
    before = answers(model)
    model.set_params(learning_rate=1e9, epochs=3)  # the case of issue 37: 300 sessions
    with pytest.raises(TrainingError, match=r"training diverged: .*lower learning_rate "
                       r"\(it is 1e\+09\)"):  # fmt: skip
        model.fit(sessions(80))
    assert len(model.vocabulary_) == len(model.item_vectors_) == 50
    after = answers(model)
    assert after[0] == before[0]
    np.testing.assert_array_equal(after[1], before[1])


def test_set_params_after_fit_changes_the_next_fit_not_the_model(tmp_path):
    model = Item2Vec(**SMALL, seed=0).fit(sessions(50))
    prior = model.item_log_prior_.copy()
    assert model.config_.dim == 8 and model.config_.epochs == model.epochs_ == 1
    model.set_params(dim=16, ns_exponent=0.0, sample=0.0, window=5)
    np.testing.assert_array_equal(model.item_log_prior_, prior)  # the trained prior
    model.save(tmp_path / "m")
    loaded = Item2Vec.load(tmp_path / "m")  # refused before: config dim=16, vectors 8 wide
    assert loaded.config_ == model.config_ and loaded.item_vectors_.shape == (50, 8)
    np.testing.assert_array_equal(loaded.item_log_prior_, prior)
    model.update(sessions(60, seed=1), epochs=1)  # trains the model's settings, dim 8
    assert model.item_vectors_.shape == (60, 8) and model.config_.window == 2
    assert model.fit(sessions(50)).config_.dim == 16  # the next fit takes the new ones


@pytest.mark.parametrize("before", ["", "tf.constant(1.0) + 1.0"])
def test_fit_gives_each_tensorflow_op_one_thread_or_says_why_not(before):
    """No hidden set-up step: a fresh process that never calls configure_threads gets one
    thread per op from fit, or, when TensorFlow already ran ops, a warning saying why not."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import os, warnings
        os.environ.pop("TF_NUM_INTRAOP_THREADS", None)
        import tensorflow as tf
        import item2vec as i2v
        {before}
        s = i2v.Sessions.from_lists([[1, 2, 3, 4], [2, 3, 4, 5], [5, 4, 3]] * 20)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            i2v.Item2Vec(dim=4, epochs=1, workers=1, progress=False).fit(s)
        print("threads", tf.config.threading.get_intra_op_parallelism_threads())
        for w in caught:
            print("warning", w.message)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    if before:
        assert "threads 0" in done.stdout
        assert "TensorFlow had already run ops" in done.stdout
        assert "TF_NUM_INTRAOP_THREADS=1" in done.stdout
    else:
        assert "threads 1" in done.stdout and "already run ops" not in done.stdout


# ----------------------------------------------------------------------------- scores
def test_recommend_accepts_every_score(fitted):
    for score in SCORES:
        ids, scores = fitted.recommend(["j1", "j2"], 5, score=score)
        assert ids.shape == (5,) and "j1" not in ids and "j2" not in ids
        assert np.all(np.diff(scores) <= 1e-6)
    with pytest.raises(ParameterError, match=r"score must be one of 'cosine', 'logit', "
                       r"'log_prob', 'blend', got 'dot'"):  # fmt: skip
        fitted.recommend("j1", 5, score="dot")


def test_recommend_cosine_is_similar_for_one_item(fitted):
    ids, scores = fitted.recommend("j3", 5, score="cosine")
    sim_ids, sim_scores = fitted.similar("j3", 5)
    assert ids.tolist() == sim_ids.tolist()
    np.testing.assert_allclose(scores, sim_scores, rtol=1e-6)


def test_recommend_cosine_ranks_by_cosine_of_the_recency_weighted_unit_rows(fitted):
    """As evaluate ranks a history: the recency-weighted sum of the history items' cosines,
    the newest weighing twice the one before (RECENCY = 0.5); that is the score of one query
    q = sum_j w_j E[h_j] / |E[h_j]| against the unit rows."""
    rows = fitted.vocabulary_.encode(["j1", "j2"])  # oldest first: j2 is the newest
    v = fitted.item_vectors_
    units = v / np.linalg.norm(v, axis=1, keepdims=True)
    cos = (1 / 3) * units @ units[rows[0]] + (2 / 3) * units @ units[rows[1]]
    cos[rows] = -np.inf
    ids, scores = fitted.recommend(["j1", "j2"], 4, score="cosine")
    np.testing.assert_allclose(scores, np.sort(cos)[::-1][:4], atol=1e-5)
    assert set(fitted.vocabulary_.encode(ids.tolist())) <= set(np.argsort(-cos)[:6])


def test_k_is_checked_by_the_shared_check(fitted):
    for bad in (0, True, 2.0):
        with pytest.raises(ParameterError, match=r"k must be an integer >= 1, got"):
            fitted.similar("j1", bad)
        with pytest.raises(ParameterError, match=r"k must be an integer >= 1, got"):
            fitted.recommend("j1", bad)


def test_checkpoint_every_is_checked(tmp_path):
    model = Item2Vec(**SMALL, checkpoint_dir=tmp_path / "ck", checkpoint_every=0)
    with pytest.raises(ParameterError, match="checkpoint_every must be an integer >= 1, got 0"):
        model.fit(sessions(50))


def test_validation_metrics_rank_as_the_log_prob_model_recommender():
    """One log_prob scorer: the per-epoch validation and model_recommender agree exactly."""
    from item2vec.evaluation.protocols import evaluate, model_recommender, next_event_split

    split = next_event_split(sessions(50), n_test=80, seed=0)
    model = Item2Vec(**{**SMALL, "epochs": 2}, seed=0).fit(split.train, validation=split)
    res = evaluate(model_recommender(model, split.train, "log_prob"), split, ks=(10,))
    assert model.history_[-1]["HR@10"] == res["HR@10"]
    assert model.history_[-1]["NDCG@10"] == res["NDCG@10"]


# ----------------------------------------------------------------------------- histories
@pytest.fixture(scope="module")
def walks():
    return datasets.synthetic(
        n_items=120, n_clusters=6, n_sessions=3000, mean_length=6, successors=2, seed=0
    )


@pytest.fixture(scope="module")
def walk_model(walks) -> Item2Vec:
    return Item2Vec(dim=16, window=2, epochs=20, workers=1, progress=False, seed=0).fit(
        walks.sessions
    )


def test_default_score_is_blend_and_follows_the_planted_successors(walks, walk_model):
    m = walk_model
    assert m.default_score_ == "blend" and m.neighbour_counts_.shape == (120, 120)
    v = m.vocabulary_
    rows = np.arange(40)
    ids, _ = m.recommend_batch([[i] for i in v.ids[rows]], 2)
    got = v.encode(ids.ravel().tolist()).reshape(ids.shape)
    # the two planted successors of each item are its two best next items
    hit = np.mean([set(g) == set(walks.successors[r]) for r, g in zip(rows, got, strict=True)])
    assert hit >= 0.9


def test_blend_by_hand(walk_model):
    from item2vec.queries.scoring import PRIOR_EVENTS

    m = walk_model
    r = 7
    s = m.item_vectors_ @ m.item_vectors_[r] + m.item_biases_ + m.item_log_prior_
    pm = np.exp(s - s.max())
    pm /= pm.sum()
    c = m.neighbour_counts_.toarray()[r]
    want = np.log((c + PRIOR_EVENTS * pm) / (c.sum() + PRIOR_EVENTS))
    want[r] = -np.inf
    ids, scores = m.recommend(m.vocabulary_.ids[r], 5)
    np.testing.assert_array_equal(m.vocabulary_.encode(ids.tolist()), np.argsort(-want)[:5])
    np.testing.assert_allclose(scores, np.sort(want)[::-1][:5], rtol=1e-5)


def test_a_longer_history_helps_where_the_items_of_a_session_belong_together():
    from item2vec.data.split import next_event_split
    from item2vec.evaluation.protocols import evaluate, model_recommender

    # planted clusters: every item of a session says which cluster the next one comes from
    data = datasets.synthetic(n_items=400, n_clusters=20, n_sessions=3000, mean_length=8,
                              noise=0.3, seed=0)  # fmt: skip
    split = next_event_split(data.sessions, n_test=1000, seed=0, history=5)
    model = Item2Vec(dim=16, window=2, workers=1, progress=False, seed=0).fit(split.train)
    rec = model_recommender(model, split.train)
    full = evaluate(rec, split)["HR@10"]
    last = evaluate(lambda h, k: rec(h[:, -1:], k), split)["HR@10"]  # the same cases
    assert full > last + 0.02


def test_counts_survive_save_and_load(walk_model, tmp_path):
    walk_model.save(tmp_path / "m")
    loaded = Item2Vec.load(tmp_path / "m")
    assert (loaded.neighbour_counts_ != walk_model.neighbour_counts_).nnz == 0
    assert loaded.default_score_ == "blend" and loaded.epochs_ == 20
    history = list(walk_model.vocabulary_.ids[[3, 4, 5]])
    for a, b in zip(walk_model.recommend(history, 5), loaded.recommend(history, 5), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_fit_defers_the_counts_to_their_first_use(walks, monkeypatch):
    import threading

    from item2vec.queries import counts as counts_module

    calls = []
    real = counts_module.next_counts

    def counted(sessions, window=None):
        calls.append(threading.get_ident())
        return real(sessions, window)

    monkeypatch.setattr(counts_module, "next_counts", counted)
    m = Item2Vec(dim=8, window=2, epochs=1, workers=1, progress=False, seed=0)
    assert not hasattr(m, "neighbour_counts_") and not hasattr(m, "update_state_")
    m.fit(walks.sessions)
    assert calls == []  # the fit counted nothing
    m.similar(m.vocabulary_.ids[0], 3)  # vectors only: still nothing
    assert m.default_score_ == "blend" and calls == []
    # the first blend queries, from several threads at once, count once between them
    got = []
    threads = [
        threading.Thread(target=lambda: got.append(m.recommend(m.vocabulary_.ids[1], 3)[0]))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(got) == 4
    assert all((g == got[0]).all() for g in got)
    want = real(walks.sessions)
    assert abs(m.neighbour_counts_ - want.counts).sum() == 0
    assert abs(m.update_state_.forward - want.forward).sum() == 0
    assert m.update_state_.window == want.window
    assert "_deferred_counts" not in m.__dict__  # the log is no longer referenced


def test_a_model_saved_before_any_query_keeps_its_counts(walks, tmp_path):
    from item2vec.queries.counts import next_counts

    m = Item2Vec(dim=8, window=2, epochs=1, workers=1, progress=False, seed=0)
    m.fit(walks.sessions).save(tmp_path / "m")
    loaded = Item2Vec.load(tmp_path / "m")
    want = next_counts(walks.sessions)
    assert abs(loaded.neighbour_counts_ - want.counts).sum() == 0
    assert loaded.update_state_.window == want.window
    # a refit replaces the deferred counts with those of the new log
    half = walks.sessions.subset(np.arange(len(walks.sessions) // 2))
    m.fit(half)
    assert abs(m.neighbour_counts_ - next_counts(half).counts).sum() == 0


def test_blend_without_counts_is_refused_with_the_fix(walk_model):
    import copy

    m = copy.copy(walk_model)
    m.neighbour_counts_ = None  # as a model streamed from a ParquetCorpus
    assert m.default_score_ == "log_prob"
    m.recommend(m.vocabulary_.ids[0], 3)  # the default works
    with pytest.raises(ParameterError, match="score='blend' needs the neighbour counts.*"
                       "use score='log_prob'"):  # fmt: skip
        m.recommend(m.vocabulary_.ids[0], 3, score="blend")


def test_history_filters_and_clamping(walk_model):
    v = walk_model.vocabulary_.ids
    allowed = list(v[10:20])
    ids, _ = walk_model.recommend([v[0], v[1]], 5, allowed=allowed, exclude=[v[10]])
    assert set(ids) <= set(allowed) - {v[10]}
    with pytest.warns(UserWarning, match="k=200 is more than the 118 eligible rows"):
        ids, _ = walk_model.recommend([v[0], v[1]], 200)
    assert len(ids) == 118 and v[0] not in ids and v[1] not in ids
